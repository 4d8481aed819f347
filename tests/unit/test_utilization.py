"""Pure parts of the CloudWatch source: device counts, hosts, queries, ratios, the budget."""

from __future__ import annotations

import datetime as dt

import pytest

from exporter.metrics.family import RenderContext
from exporter.metrics.utilization import (
    RESOURCES,
    Devices,
    Host,
    HostSample,
    ec2_type,
    job_hosts,
    newest_points,
    parse_instance_type,
    ratio,
    render_hosts,
    resources_for,
    wants_hosts,
)
from exporter.model import InstanceGroup, TrainingJob
from exporter.sources.cloudwatch import MetricBudget

R = {r.name: r for r in RESOURCES}


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        ({"VCpuInfo": {"DefaultVCpus": 96}, "GpuInfo": {"Gpus": [{"Count": 8}]}}, Devices(96, 8)),
        ({"VCpuInfo": {"DefaultVCpus": 4}}, Devices(4, 0)),
        (
            {"VCpuInfo": {"DefaultVCpus": 8}, "GpuInfo": {"Gpus": [{"Count": 1}, {"Count": 2}]}},
            Devices(8, 3),
        ),
        ({"VCpuInfo": {}}, None),
        ({}, None),
    ],
)
def test_parse_instance_type(info: dict[str, object], expected: Devices | None) -> None:
    assert parse_instance_type(info) == expected


def test_ec2_type_drops_the_ml_prefix() -> None:
    assert ec2_type("ml.p4d.24xlarge") == "p4d.24xlarge"


def job(
    *groups: tuple[str, int], status: str = "InProgress", phase: str = "Training"
) -> TrainingJob:
    return TrainingJob(
        "j",
        status=status,
        secondary_status=phase,
        instance_groups=tuple(InstanceGroup(f"g{i}", t, n) for i, (t, n) in enumerate(groups)),
    )


def test_hosts_from_instance_groups() -> None:
    assert job_hosts(job(("ml.g5.2xlarge", 2))) == (
        Host("j", "algo-1", "ml.g5.2xlarge"),
        Host("j", "algo-2", "ml.g5.2xlarge"),
    )
    # Same type in every group: known; mixed types: which host is which is not knowable.
    assert {h.instance_type for h in job_hosts(job(("ml.c5.xlarge", 1), ("ml.c5.xlarge", 2)))} == {
        "ml.c5.xlarge"
    }
    mixed = job_hosts(job(("ml.c5.xlarge", 1), ("ml.p4d.24xlarge", 4)))
    assert [h.host for h in mixed] == [f"algo-{i}" for i in range(1, 6)]
    assert {h.instance_type for h in mixed} == {""}
    assert Host("j", "algo-3", "").dimension == "j/algo-3"


@pytest.mark.parametrize(
    ("status", "phase", "expected"),
    [
        ("InProgress", "Training", True),
        ("InProgress", "Downloading", True),
        ("Stopping", "Stopping", True),
        ("InProgress", "Starting", False),
        ("InProgress", "Interrupted", False),
        ("Completed", "Completed", False),
    ],
)
def test_which_jobs_have_hosts_publishing(status: str, phase: str, expected: bool) -> None:
    assert wants_hosts(job(("ml.m5.xlarge", 1), status=status, phase=phase)) is expected


def test_resources_never_guess_a_device_count() -> None:
    names = lambda d: [r.name for r in resources_for(d)]  # noqa: E731
    assert names(Devices(96, 8)) == ["cpu", "memory", "disk", "gpu", "gpu_memory"]
    assert names(Devices(4, 0)) == ["cpu", "memory", "disk"]
    assert names(None) == ["memory", "disk"]


@pytest.mark.parametrize(
    ("resource", "percent", "devices", "expected"),
    [
        ("cpu", 200.0, Devices(4, 0), 0.5),
        ("gpu", 400.0, Devices(96, 8), 0.5),
        ("gpu_memory", 80.0, Devices(8, 1), 0.8),
        ("memory", 95.0, None, 0.95),
        ("disk", 10.0, Devices(4, 0), 0.1),
        ("cpu", 50.0, None, None),
        ("gpu", 5.0, Devices(4, 0), None),
    ],
)
def test_ratio(
    resource: str, percent: float, devices: Devices | None, expected: float | None
) -> None:
    assert ratio(R[resource], percent, devices) == expected


def test_newest_point_per_query_across_pages() -> None:
    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    minute = dt.timedelta(minutes=1)
    results = [
        {"Id": "q0", "Timestamps": [t, t + minute], "Values": [1.0, 2.0]},
        {"Id": "q1", "Timestamps": [], "Values": []},
        {"Id": "q0", "Timestamps": [t - minute], "Values": [9.0]},  # a later page, older point
        {"Id": "q2", "Timestamps": [t + 2 * minute, t], "Values": [3.0, 4.0]},
        {"Id": "other", "Timestamps": [t], "Values": [5.0]},
    ]
    assert newest_points(results) == {0: (t.timestamp() + 60, 2.0), 2: (t.timestamp() + 120, 3.0)}


def test_render_joins_identity_labels() -> None:
    h = Host('we"ird', "algo-1", "ml.m5.xlarge")
    util, stamps = render_hosts(
        [HostSample(h, "cpu", 0.5, 100.0), HostSample(h, "memory", 0.25, 160.0)],
        RenderContext("us-east-1", "123", 0.0),
    )
    assert util.decode().splitlines() == [
        'sagemaker_training_job_host_utilization_ratio{training_job="we\\"ird",region="us-east-1",'
        'account_id="123",host="algo-1",resource="cpu",instance_type="ml.m5.xlarge"} 0.5',
        'sagemaker_training_job_host_utilization_ratio{training_job="we\\"ird",region="us-east-1",'
        'account_id="123",host="algo-1",resource="memory",instance_type="ml.m5.xlarge"} 0.25',
    ]
    assert stamps.decode() == (
        'sagemaker_training_job_host_metrics_timestamp_seconds{training_job="we\\"ird",'
        'region="us-east-1",account_id="123",host="algo-1"} 160\n'
    )


def test_budget_is_a_sliding_hour() -> None:
    now = [0.0]
    b = MetricBudget(100, clock=lambda: now[0])
    assert b.available() == 100
    b.spend(60)
    now[0] = 1800
    b.spend(40)
    assert b.available() == 0
    now[0] = 3600  # the first 60 leave the window
    assert b.available() == 60
    now[0] = 5400
    assert b.available() == 100
    assert MetricBudget(0).available() is None  # no cap


@pytest.mark.parametrize(
    ("flags", "problem"),
    [
        (["--cloudwatch-budget", "-1"], "--cloudwatch-budget: must not be negative"),
        (["--cloudwatch-interval", "500ms"], "--cloudwatch-interval: must be at least 1s"),
        (["--cloudwatch-interval", "soon"], "--cloudwatch-interval: bad duration"),
    ],
)
def test_bad_cloudwatch_flags_are_one_clear_error(flags: list[str], problem: str) -> None:
    from exporter.cli import load_settings
    from exporter.config import ConfigError

    with pytest.raises(ConfigError) as err:
        load_settings(["--region", "us-east-1", *flags], environ={})
    assert problem in str(err.value)


def test_cloudwatch_defaults_and_demo() -> None:
    from exporter.cli import load_settings

    s = load_settings(["--region", "us-east-1"], environ={})
    assert (s.cloudwatch, s.cloudwatch_interval, s.cloudwatch_budget) == (False, 300.0, 36000)
    demo = load_settings(["--demo"], environ={})
    assert demo.cloudwatch and demo.cloudwatch_interval == 15.0
    assert not load_settings(["--demo", "--no-cloudwatch"], environ={}).cloudwatch
