"""Cost, progress, retries, MLflow and billable tokens: golden text for the pure parts, then
the exporter end to end against moto (progress, retries, MLflow, tokens, a price file) and
the fake SageMaker (the Price List API's GetProducts)."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from exporter.cli import load_settings
from exporter.config import ConfigError
from exporter.metrics.family import RenderContext
from exporter.metrics.progress import progress_ratio
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.metrics.training_jobs import FAMILIES, render_job
from exporter.parse.api import parse_training_job
from exporter.parse.prices import PriceTable, parse_price_file, parse_price_list
from exporter.sources.prices import PriceBook
from fake_aws.server import FakeSageMaker
from tests.support.exposition import find, parse_exposition, value
from tests.support.families import PROGRESS_AND_COST_FAMILIES
from tests.support.harness import Harness
from tests.support.motofleet import MotoSageMaker

J = "sagemaker_training_job_"
US = "us-east-1"
NOW = 1_750_000_000.0
PRICES = PriceTable(
    "file",
    NOW,
    {
        (US, "ml.p4d.24xlarge"): 37.688,
        (US, "ml.c5.2xlarge"): 0.408,
        (US, "ml.g5.2xlarge"): 1.515,
        (US, "ml.m5.xlarge"): 0.23,
    },
)


def job(name: str, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
    }
    doc.update(fields)
    return doc


def cost_lines(doc: dict[str, Any], prices: Any = PRICES) -> str:
    j = parse_training_job(doc)
    assert j is not None
    ctx = RenderContext(US, "111122223333", NOW, (), prices)
    names = [f.name for f in FAMILIES]
    chunks = render_job(j, ctx)
    return chunks[names.index(J + "estimated_cost_dollars")].decode()


def line(name: str, v: str) -> str:
    return (
        f'{J}estimated_cost_dollars{{training_job="{name}",region="us-east-1",'
        f'account_id="111122223333"}} {v}\n'
    )


# Expected values worked out by hand from the price table above (USD/hour / 3600 x seconds).
COST_CASES = [
    pytest.param(
        job(
            "hetero",
            ResourceConfig={
                "InstanceGroups": [
                    {
                        "InstanceGroupName": "gpu",
                        "InstanceType": "ml.p4d.24xlarge",
                        "InstanceCount": 2,
                    },
                    {
                        "InstanceGroupName": "data",
                        "InstanceType": "ml.c5.2xlarge",
                        "InstanceCount": 4,
                    },
                ]
            },
            TrainingTimeInSeconds=3600,
            BillableTimeInSeconds=3600,
        ),
        # 2 x 37.688 + 4 x 0.408 for one hour
        line("hetero", "77.008"),
        id="heterogeneous groups, each at its own type's price",
    ),
    pytest.param(
        job(
            "spot",
            ResourceConfig={"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1},
            EnableManagedSpotTraining=True,
            TrainingTimeInSeconds=7200,
            BillableTimeInSeconds=2160,
        ),
        # the spot savings are already in the billable seconds: 2160 s x 1.515 / 3600
        line("spot", "0.909"),
        id="managed spot: billable seconds at the on-demand price",
    ),
    pytest.param(
        job(
            "warm",
            ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 2},
            TrainingTimeInSeconds=1800,
            BillableTimeInSeconds=1800,
            WarmPoolStatus={"Status": "Terminated", "ResourceRetainedBillableTimeInSeconds": 900},
        ),
        # (1800 + 900) s x 2 instances x 0.23 / 3600
        line("warm", "0.345"),
        id="warm pool retained seconds are billed on the same instances",
    ),
    pytest.param(
        job(
            "running",
            TrainingJobStatus="InProgress",
            SecondaryStatus="Training",
            TrainingStartTime=NOW - 1800,
        ),
        # an on-demand job counts up: 1800 s x 0.23 / 3600
        line("running", "0.115"),
        id="running on-demand job counts up",
    ),
    pytest.param(
        job(
            "running-spot",
            TrainingJobStatus="InProgress",
            SecondaryStatus="Training",
            TrainingStartTime=NOW - 1800,
            EnableManagedSpotTraining=True,
        ),
        "",
        id="running spot job: no cost until it ends",
    ),
    pytest.param(
        job(
            "unpriced",
            ResourceConfig={
                "InstanceGroups": [
                    {"InstanceGroupName": "a", "InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
                    {"InstanceGroupName": "b", "InstanceType": "ml.x9.huge", "InstanceCount": 1},
                ]
            },
            BillableTimeInSeconds=3600,
        ),
        "",
        id="one type without a price: no series, not a partial sum",
    ),
    pytest.param(
        job(
            "selected",
            ResourceConfig={
                "InstancePreferences": [
                    {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 1},
                    {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 2},
                ],
                "SelectedInstanceType": "ml.g5.2xlarge",
                "SelectedInstanceCount": 2,
            },
            BillableTimeInSeconds=3600,
        ),
        # what was launched and billed: 2 x 1.515 for an hour
        line("selected", "3.03"),
        id="InstancePreferences: the selected type and count are billed",
    ),
]


@pytest.mark.parametrize(("doc", "expected"), COST_CASES)
def test_cost_golden(doc: dict[str, Any], expected: str) -> None:
    assert cost_lines(doc) == expected


def test_no_price_table_no_cost() -> None:
    assert cost_lines(job("x", BillableTimeInSeconds=60), prices=None) == ""


def test_missing_price_is_a_counted_warning_once_per_type_and_table() -> None:
    metrics = SelfMetrics()
    book = PriceBook(metrics, PRICES)
    doc = job(
        "u",
        ResourceConfig={"InstanceType": "ml.x9.huge", "InstanceCount": 1},
        BillableTimeInSeconds=60,
    )

    def missing() -> float | None:
        samples = parse_exposition(metrics.exposition().decode())
        return value(
            samples, "sagemaker_exporter_price_missing_total", region=US, instance_type="ml.x9.huge"
        )

    assert cost_lines(doc, book) == ""
    assert cost_lines(doc, book) == ""
    assert missing() == 1
    book.set_api_table(PriceTable("api", NOW, {(US, "ml.m5.xlarge"): 0.2}))
    assert cost_lines(doc, book) == ""
    assert missing() == 2


def test_api_prices_win_over_the_file_and_the_file_fills_gaps() -> None:
    book = PriceBook(SelfMetrics(), PRICES)
    book.set_api_table(PriceTable("api", NOW, {(US, "ml.m5.xlarge"): 0.2}))
    assert book.hourly(US, "ml.m5.xlarge") == 0.2
    assert book.hourly(US, "ml.g5.2xlarge") == 1.515


@pytest.mark.parametrize(
    ("info", "ratio"),
    [
        ({"CurrentEpoch": 1, "MaxEpoch": 4}, 0.25),
        (
            {"CurrentEpoch": 1, "MaxEpoch": 4, "CurrentStep": 50, "TotalStepCountPerEpoch": 100},
            0.375,
        ),
        (
            {"CurrentEpoch": 1, "MaxEpoch": 4, "CurrentStep": 300, "TotalStepCountPerEpoch": 100},
            0.75,
        ),
        ({"CurrentEpoch": 9, "MaxEpoch": 4}, 1.0),
        ({"CurrentEpoch": 1}, None),
        ({"CurrentStep": 5, "TotalStepCountPerEpoch": 10}, None),
        ({"MaxEpoch": 0, "CurrentEpoch": 0}, None),
    ],
)
def test_progress_ratio(info: dict[str, int], ratio: float | None) -> None:
    j = parse_training_job(job("p", ProgressInfo=info))
    assert j is not None
    assert progress_ratio(j.progress) == ratio


def test_price_file_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("as_of: someday\nus-east-1:\n  ml.m5.xlarge: cheap\n  m5.large: 0.1\nMars: {}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(["--region", US, "--price-file", str(bad)], environ={})
    msg = str(err.value)
    assert msg.startswith("--price-file: ")
    for part in (
        "as_of",
        "'cheap' is not a price",
        "m5.large: not an instance type",
        "'Mars': not a region",
    ):
        assert part in msg
    assert "\n" not in msg


def test_price_file_without_as_of_is_taken_with_a_warning_and_no_age(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A hand-written table without a date still prices jobs; only its age is unknown, so
    # the table-age series is left out rather than set to a made-up date.
    from exporter.metrics.selfmetrics import SelfMetrics
    from exporter.sources.prices import PriceBook

    undated = tmp_path / "p.yaml"
    undated.write_text("us-east-1:\n  ml.m5.xlarge: 0.23\n")
    settings = load_settings(["--region", US, "--price-file", str(undated)], environ={})
    assert settings.price_table is not None and settings.price_table.as_of is None
    metrics = SelfMetrics()
    book = PriceBook(metrics, settings.price_table)
    assert book.hourly(US, "ml.m5.xlarge") == 0.23
    text = metrics.exposition().decode()
    assert "sagemaker_exporter_price_table_timestamp_seconds{" not in text
    assert 'sagemaker_exporter_price_table_entries{source="file"} 1.0' in text
    logged = capsys.readouterr()  # structlog: stdout until configured, stderr in the daemon
    assert "no as_of date" in logged.out + logged.err


def test_shipped_example_price_file_parses_and_is_dated() -> None:
    import yaml

    path = Path(__file__).resolve().parents[2] / "exporter/demo/prices.yaml"
    table = parse_price_file(yaml.safe_load(path.read_text()))
    assert table.as_of == dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp()
    assert table.hourly(US, "ml.m5.xlarge") == 0.23
    assert table.hourly("eu-west-1", "ml.p3.2xlarge") is None


def test_price_list_records_pick_on_demand_training_only() -> None:
    from fake_aws.pricing import product_record

    records = [
        product_record(US, "ml.m5.xlarge", 0.23),
        product_record(US, "ml.m5.xlarge", 0.29, "Host", "Hosting"),
        product_record(US, "ml.m5.xlarge", 0.07, "Train-Spot", "SpotTraining"),
        product_record("eu-west-1", "ml.m5.xlarge", 0.257),
        "not json",
        '{"product": 3}',
    ]
    assert parse_price_list(records, US) == {(US, "ml.m5.xlarge"): 0.23}
    assert parse_price_list(records, "eu-west-1") == {("eu-west-1", "ml.m5.xlarge"): 0.257}


# -- end to end: moto ----------------------------------------------------------------------


async def test_new_fields_and_cost_against_moto(
    sm: MotoSageMaker, exporter_for: Any, tmp_path: Path, promtool: str
) -> None:
    now = time.time()
    prices = tmp_path / "prices.yaml"
    prices.write_text("as_of: 2025-06-01\nus-east-1:\n  ml.m5.xlarge: 0.36\n  ml.g5.2xlarge: 1.8\n")
    sm.create("serverless", count=2)
    sm.set(
        "serverless",
        training_job_status="InProgress",
        secondary_status="Training",
        training_start_time=now - 3600,
        training_end_time=None,
        progress_info={
            "CurrentEpoch": 2,
            "MaxEpoch": 4,
            "CurrentStep": 50,
            "TotalStepCountPerEpoch": 100,
        },
        billable_token_count=123456789,
        mlflow_details={"MlflowExperimentId": "17", "MlflowRunId": "run-abc"},
        retry_strategy={"MaximumRetryAttempts": 3},
        secondary_status_transitions=sm.transitions(
            ("Starting", now - 4000, now - 3900, "m"),
            ("Downloading", now - 3900, now - 3800, "m"),
            ("Starting", now - 3800, now - 3700, "retry after InternalServerError"),
            ("Training", now - 3700, None, "m"),
        ),
    )
    sm.create("reserved", instance_type="ml.g5.2xlarge")
    sm.set(
        "reserved",
        training_job_status="Completed",
        secondary_status="Completed",
        training_time_in_seconds=1000,
        billable_time_in_seconds=1000,
        resource_config={
            "InstancePreferences": [
                {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 1},
                {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 3},
            ],
            "SelectedInstanceType": "ml.g5.2xlarge",
            "SelectedInstanceCount": 3,
            "KeepAlivePeriodInSeconds": 1800,
            "TrainingPlanArn": "arn:aws:sagemaker:us-east-1:123456789012:training-plan/q4-gpus",
        },
    )
    sm.create("unpriced", instance_type="ml.c5.4xlarge")
    sm.set(
        "unpriced",
        training_job_status="Completed",
        secondary_status="Completed",
        training_time_in_seconds=100,
        billable_time_in_seconds=100,
    )
    # --finished-series full: the finished jobs' families too (keep-alive is a running
    # job's, by default).
    async with exporter_for("--price-file", str(prices), "--finished-series", "full") as h:
        h: Harness
        assert all(r.ok for r in await h.poll())
        text = await h.scrape_text()
        s = parse_exposition(text)
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert {name for name, _ in s} >= PROGRESS_AND_COST_FAMILIES
    assert {f.name for f in FAMILIES} >= PROGRESS_AND_COST_FAMILIES
    v = lambda name, job, **kw: value(s, J + name, training_job=job, **kw)  # noqa: E731
    assert v("progress_epoch", "serverless") == 2
    assert v("progress_max_epochs", "serverless") == 4
    assert v("progress_step", "serverless") == 50
    assert v("progress_steps_per_epoch", "serverless") == 100
    assert v("progress_ratio", "serverless") == 0.625
    assert v("billable_tokens", "serverless") == 123456789
    assert v("max_retry_attempts", "serverless") == 3
    assert v("retries", "serverless") == 1
    assert v("mlflow_info", "serverless", experiment_id="17", run_id="run-abc") == 1
    # running on-demand on 2 x ml.m5.xlarge for about an hour at 0.36: about 0.72 so far
    cost = v("estimated_cost_dollars", "serverless")
    assert cost is not None and 0.71 < cost < 0.74
    assert v("hourly_cost_dollars", "serverless") == 0.72
    # Selected type and count are what is billed: 3 x 1.8 x 1000 s / 3600 = 1.5
    assert v("estimated_cost_dollars", "reserved") == pytest.approx(1.5)
    assert v("instances", "reserved", instance_type="ml.g5.2xlarge") == 3
    assert v("keep_alive_period_seconds", "reserved") == 1800
    assert v("info", "reserved", training_plan="q4-gpus", instance_type="ml.g5.2xlarge") == 1
    assert v("progress_ratio", "reserved") is None
    assert v("retries", "reserved") is None  # no RetryStrategy, no retries: no series
    assert v("estimated_cost_dollars", "unpriced") is None
    assert (
        value(s, "sagemaker_exporter_price_missing_total", region=US, instance_type="ml.c5.4xlarge")
        == 1
    )
    assert value(s, "sagemaker_exporter_price_table_timestamp_seconds", source="file") == (
        dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp()
    )


async def test_no_prices_configured_no_cost_series(sm: MotoSageMaker, exporter_for: Any) -> None:
    sm.create("plain")
    sm.set("plain", training_job_status="Completed", billable_time_in_seconds=100)
    async with exporter_for() as h:
        await h.poll()
        s = await h.scrape()
    assert find(s, J + "estimated_cost_dollars") == {}
    assert find(s, "sagemaker_exporter_price_table_timestamp_seconds") == {}
    assert find(s, "sagemaker_exporter_price_missing_total") == {}


# -- end to end: the fake's Price List API ------------------------------------------------


async def test_price_list_api_prices_jobs_and_keeps_the_last_table_on_failure() -> None:
    from exporter.app import Exporter

    async with FakeSageMaker(jobs=12, in_progress=4, seed=5, tick_interval=0) as fake:
        argv = [
            "--endpoint-url",
            fake.endpoint_url,
            "--listen-address",
            "127.0.0.1:0",
            "--region",
            US,
            "--price-list-api",
        ]
        async with Exporter(load_settings(argv, environ={})) as exp:
            await exp.start_http()
            h = Harness(exp)
            results = await h.poll()
            assert all(r.ok for r in results)
            s = await h.scrape()
            assert fake.pricing.calls >= 1
            finished = [
                n
                for n in fake.job_names()
                if fake.job(n)["TrainingJobStatus"] in ("Completed", "Failed", "Stopped")
                and fake.job(n).get("BillableTimeInSeconds")
                and find(s, J + "info", training_job=n)
            ]  # exported (in retention)
            assert finished
            for name in finished:
                doc = fake.job(name)
                rc = doc["ResourceConfig"]
                groups = rc.get("InstanceGroups") or [rc]
                seconds = doc["BillableTimeInSeconds"] + doc.get("WarmPoolStatus", {}).get(
                    "ResourceRetainedBillableTimeInSeconds", 0
                )
                want = sum(
                    seconds
                    * g["InstanceCount"]
                    * fake.pricing.prices[(US, g["InstanceType"])]
                    / 3600
                    for g in groups
                )
                got = value(s, J + "estimated_cost_dollars", training_job=name)
                assert got == pytest.approx(want), name
            stamp = value(s, "sagemaker_exporter_price_table_timestamp_seconds", source="api")
            assert stamp is not None and abs(stamp - time.time()) < 60
            assert value(s, "sagemaker_exporter_price_refreshes_total", result="success") == 1
            # A failed refresh keeps the last prices and counts.
            fake.pricing.fail_next = 100
            assert exp.price_refresher is not None
            assert not await exp.price_refresher.refresh()
            await h.poll()
            s2 = await h.scrape()
            assert value(s2, "sagemaker_exporter_price_refreshes_total", result="failure") == 1
            name = finished[0]
            assert value(s2, J + "estimated_cost_dollars", training_job=name) == value(
                s, J + "estimated_cost_dollars", training_job=name
            )
            # A new price reaches finished jobs at the next refresh, without a new describe.
            fake.pricing.fail_next = 0
            for key in list(fake.pricing.prices):
                fake.pricing.prices[key] *= 2
            assert await exp.price_refresher.refresh()
            s3 = await h.scrape()
            assert value(s3, J + "estimated_cost_dollars", training_job=name) == pytest.approx(
                2 * value(s, J + "estimated_cost_dollars", training_job=name)
            )


async def test_progress_from_the_fake_matches_its_progress_info() -> None:
    from exporter.app import Exporter

    # Running jobs only: they are described (first shown from the Search backfill, then
    # described), while finished jobs may stay as Search records, which carry no
    # ProgressInfo.
    async with FakeSageMaker(jobs=80, in_progress=60, seed=8, tick_interval=0) as fake:
        argv = [
            "--endpoint-url",
            fake.endpoint_url,
            "--listen-address",
            "127.0.0.1:0",
            "--region",
            US,
            "--retention",
            "30d",
        ]
        async with Exporter(load_settings(argv, environ={})) as exp:
            await exp.start_http()
            h = Harness(exp)
            for _ in range(3):  # the backfill, then the describes of running jobs
                await h.poll()
            s = await h.scrape()
    running = set(fake.job_names("InProgress"))
    with_progress = [n for n in running if "ProgressInfo" in fake.job(n)]
    assert len(with_progress) >= 5
    for name in with_progress:
        p = fake.job(name)["ProgressInfo"]
        v = lambda fam, name=name: value(s, J + fam, training_job=name)  # noqa: E731
        assert v("progress_epoch") == p["CurrentEpoch"]
        assert v("progress_max_epochs") == p["MaxEpoch"]
        assert v("progress_step") == p["CurrentStep"]
        assert v("progress_steps_per_epoch") == p["TotalStepCountPerEpoch"]
        # the fake's step is within the epoch: done = (epoch + step/per) / max
        want = (p["CurrentEpoch"] + p["CurrentStep"] / p["TotalStepCountPerEpoch"]) / p["MaxEpoch"]
        assert v("progress_ratio") == pytest.approx(min(1.0, want))
    for name in running:
        if "ProgressInfo" not in fake.job(name):
            assert value(s, J + "progress_ratio", training_job=name) is None
