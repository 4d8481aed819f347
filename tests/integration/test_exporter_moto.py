"""The exporter end to end against moto's SageMaker server on loopback: real aiobotocore
clients, real HTTP scrapes. Job states are set through moto's backend objects."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from exporter.metrics.training_jobs import FAMILIES
from tests.support.exposition import find, parse_exposition, value
from tests.support.families import LEAN_FINISHED_FAMILIES, PROGRESS_AND_COST_FAMILIES
from tests.support.motofleet import (
    CANARY,
    DEFAULT_ACCOUNT,
    SECOND_ACCOUNT,
    SECOND_ROLE,
    MotoSageMaker,
)

J = "sagemaker_training_job_"
US = "us-east-1"


def describes(samples: Any, region: str = US, account: str = DEFAULT_ACCOUNT) -> float:
    return sum(
        find(
            samples,
            "sagemaker_exporter_api_requests_total",
            operation="DescribeTrainingJob",
            region=region,
            account_id=account,
        ).values()
    )


def make_fleet(sm: MotoSageMaker, now: float) -> None:
    """One job per interesting state; times are relative to `now`."""
    sm.create("running", count=2, tags={"team": "vision", "project": "resnet"})
    sm.set(
        "running",
        training_job_status="InProgress",
        secondary_status="Training",
        creation_time=now - 900,
        training_start_time=now - 600,
        training_end_time=None,
        tuning_job_arn="arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/hpo-1",
        secondary_status_transitions=sm.transitions(
            ("Starting", now - 900, now - 840, "Preparing the instances for training"),
            ("Downloading", now - 840, now - 600, "Downloading input data"),
            (
                "Training",
                now - 600,
                None,
                "Training image download completed. Training in progress.",
            ),
        ),
        final_metric_data_list=[
            {
                "MetricName": "train:loss",
                "Value": 0.25,
                "Timestamp": sm.transitions(("x", now - 30, None, ""))[0]["StartTime"],
            }
        ],
    )
    sm.create(
        "completed",
        tags={"team": "nlp"},
        VpcConfig={"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]},
        EnableNetworkIsolation=True,
    )
    sm.set(
        "completed",
        training_job_status="Completed",
        secondary_status="Completed",
        creation_time=now - 4000,
        training_start_time=now - 3600,
        training_end_time=now - 300,
        training_time_in_seconds=3300,
        billable_time_in_seconds=3300,
        final_metric_data_list=[
            {
                "MetricName": "validation:auc",
                "Value": 0.91,
                "Timestamp": sm.transitions(("x", now - 300, None, ""))[0]["StartTime"],
            },
        ],
        warm_pool_status={"Status": "Available", "ResourceRetainedBillableTimeInSeconds": 120},
        debug_rule_evaluation_statuses=[
            {"RuleConfigurationName": "LossNotDecreasing", "RuleEvaluationStatus": "IssuesFound"}
        ],
        profiler_rule_evaluation_statuses=[
            {"RuleConfigurationName": "ProfilerReport", "RuleEvaluationStatus": "NoIssuesFound"}
        ],
    )
    sm.create("failed-early")
    sm.set(
        "failed-early",
        training_job_status="Failed",
        secondary_status="Failed",
        creation_time=now - 1200,
        training_start_time=None,
        training_end_time=None,
        failure_reason="CapacityError: Unable to provision requested ML compute capacity.",
        secondary_status_transitions=sm.transitions(
            (
                "Starting",
                now - 1200,
                now - 200,
                "Insufficient capacity error from EC2 while launching instances, retrying!",
            ),
            ("Failed", now - 200, None, "Training job failed"),
        ),
        final_metric_data_list=[],
    )
    sm.create("stopped-maxrt")
    sm.set(
        "stopped-maxrt",
        training_job_status="Stopped",
        secondary_status="MaxRuntimeExceeded",
        creation_time=now - 7300,
        training_start_time=now - 7200,
        training_end_time=now - 100,
        training_time_in_seconds=7100,
        billable_time_in_seconds=7100,
        stopping_condition={"MaxRuntimeInSeconds": 7100},
    )
    sm.create(
        "spot",
        instance_type="ml.g5.2xlarge",
        EnableManagedSpotTraining=True,
        StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
    )
    sm.set(
        "spot",
        training_job_status="Completed",
        secondary_status="Completed",
        creation_time=now - 2000,
        training_start_time=now - 1800,
        training_end_time=now - 60,
        training_time_in_seconds=1000,
        billable_time_in_seconds=400,
        secondary_status_transitions=sm.transitions(
            ("Training", now - 1800, now - 1500, "Training in progress."),
            ("Interrupted", now - 1500, now - 1200, "Spot interruption"),
            ("Training", now - 1200, now - 100, "Training in progress."),
            ("Completed", now - 100, None, "Training job completed"),
        ),
    )
    sm.create("hetero")
    sm.set(
        "hetero",
        training_job_status="InProgress",
        secondary_status="Training",
        creation_time=now - 500,
        training_start_time=now - 400,
        training_end_time=None,
        resource_config={
            "InstanceGroups": [
                {"InstanceGroupName": "ctrl", "InstanceType": "ml.c5.xlarge", "InstanceCount": 1},
                {"InstanceGroupName": "gpu", "InstanceType": "ml.p4d.24xlarge", "InstanceCount": 4},
            ],
            "VolumeSizeInGB": 100,
            "VolumeKmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/k",
        },
        stopping_condition={"MaxRuntimeInSeconds": 3600, "MaxPendingTimeInSeconds": 7200},
    )


async def test_every_family_for_every_state(
    sm: MotoSageMaker, exporter_for: Any, promtool: str
) -> None:
    now = time.time()
    make_fleet(sm, now)
    async with exporter_for("--tag-labels", "team,project", "--finished-series", "full") as h:
        [result] = await h.poll()
        assert result.ok and result.described == 6
        text = await h.scrape_text()
    m = parse_exposition(text)

    # Every family in the table is exercised by this fleet (finished jobs as in full).
    names = {n for (n, _) in m}
    # (The cost, progress, retry and MLflow families need prices and fields this fleet lacks:
    # tests/integration/test_cost_progress.py exercises each of them.)
    wanted = {f.name for f in FAMILIES} - PROGRESS_AND_COST_FAMILIES
    assert wanted <= names, wanted - names

    def v(name: str, job: str, **labels: str) -> float | None:
        return value(m, J + name, training_job=job, region=US, account_id=DEFAULT_ACCOUNT, **labels)

    # InProgress: one-hot status, elapsed values up to the poll, billable x instances.
    assert [
        v("status", "running", status=s)
        for s in ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
    ] == [1, 0, 0, 0, 0]
    assert v("secondary_status", "running", secondary_status="Training") == 1
    elapsed = v("training_seconds", "running")
    assert elapsed is not None and 600 <= elapsed < 660
    assert v("billable_seconds", "running") == elapsed
    assert v("billable_instance_seconds", "running") == 2 * elapsed
    assert v("phase_duration_seconds", "running", phase="Starting") == 60
    assert v("phase_duration_seconds", "running", phase="Downloading") == 240
    training_phase = v("phase_duration_seconds", "running", phase="Training")
    assert training_phase is not None and 600 <= training_phase < 660
    assert v("final_metric", "running", metric="train:loss") == 0.25
    assert v("training_end_timestamp_seconds", "running") is None
    assert (
        v("info", "running", tuning_job="hpo-1", instance_type="ml.m5.xlarge", managed_spot="false")
        == 1
    )
    assert v("tags", "running", tag_team="vision", tag_project="resnet") == 1

    # Completed with final metrics, warm pool, rules, security settings.
    assert v("status", "completed", status="Completed") == 1
    assert v("training_seconds", "completed") == 3300
    assert v("billable_instance_seconds", "completed") == 3300
    assert v("final_metric", "completed", metric="validation:auc") == 0.91
    ts = v("final_metric_timestamp_seconds", "completed", metric="validation:auc")
    assert ts is not None and abs(ts - (now - 300)) < 1
    end = v("training_end_timestamp_seconds", "completed")
    assert end is not None and abs(end - (now - 300)) < 1
    assert v("warm_pool_status", "completed", status="Available") == 1
    assert v("warm_pool_retained_billable_seconds", "completed") == 120
    assert (
        v(
            "rule_evaluation_status",
            "completed",
            rule="LossNotDecreasing",
            rule_type="debugger",
            status="IssuesFound",
        )
        == 1
    )
    assert (
        v(
            "rule_evaluation_status",
            "completed",
            rule="ProfilerReport",
            rule_type="profiler",
            status="NoIssuesFound",
        )
        == 1
    )
    assert (
        v("security_info", "completed", network_isolation="true", vpc="true", volume_kms="false")
        == 1
    )
    assert v("tags", "completed", tag_team="nlp", tag_project="") == 1
    assert v("spot_savings_ratio", "completed") is None  # not a spot job
    assert v("failure_info", "completed") is None

    # Failed in Starting: no start time, no training or billable time, a category.
    assert v("status", "failed-early", status="Failed") == 1
    assert (
        v(
            "failure_info",
            "failed-early",
            category="CapacityError",
            reason="CapacityError: Unable to provision requested ML compute capacity.",
        )
        == 1
    )
    for absent in (
        "training_start_timestamp_seconds",
        "training_end_timestamp_seconds",
        "training_seconds",
        "billable_seconds",
        "billable_instance_seconds",
    ):
        assert v(absent, "failed-early") is None, absent
    assert v("phase_duration_seconds", "failed-early", phase="Starting") == 1000

    # Stopped by MaxRuntimeExceeded.
    assert v("status", "stopped-maxrt", status="Stopped") == 1
    assert v("secondary_status", "stopped-maxrt", secondary_status="MaxRuntimeExceeded") == 1
    assert v("max_runtime_seconds", "stopped-maxrt") == 7100

    # Managed spot: billable < training, savings ratio, interruptions, repeated phase summed.
    assert v("spot_savings_ratio", "spot") == 0.6
    assert v("billable_seconds", "spot") == 400
    assert v("interruptions", "spot") == 1
    assert v("phase_duration_seconds", "spot", phase="Training") == 300 + 1100
    assert v("max_wait_seconds", "spot") == 7200
    assert v("info", "spot", managed_spot="true", instance_type="ml.g5.2xlarge") == 1

    # Heterogeneous cluster: one instances series per group, billing over all 5 instances.
    assert v("instances", "hetero", instance_group="ctrl", instance_type="ml.c5.xlarge") == 1
    assert v("instances", "hetero", instance_group="gpu", instance_type="ml.p4d.24xlarge") == 4
    billable = v("billable_seconds", "hetero")
    assert billable is not None and v("billable_instance_seconds", "hetero") == 5 * billable
    assert v("volume_size_bytes", "hetero") == 100 * 1024**3
    assert v("max_pending_seconds", "hetero") == 7200
    assert v("security_info", "hetero", volume_kms="true") == 1
    assert v("info", "hetero", instance_type="ml.c5.xlarge,ml.p4d.24xlarge") == 1

    # Self-metrics tell the truth about the target.
    assert value(m, "sagemaker_exporter_target_up", region=US, account_id=DEFAULT_ACCOUNT) == 1
    assert value(m, "sagemaker_exporter_tracked_jobs", region=US, account_id=DEFAULT_ACCOUNT) == 6
    assert describes(m) == 6
    # Tags cost one ListTags per job, only because --tag-labels asked for them.
    assert sum(find(m, "sagemaker_exporter_api_requests_total", operation="ListTags").values()) == 6

    assert CANARY not in text
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


async def test_a_finished_job_keeps_only_the_lean_families_by_default(
    sm: MotoSageMaker, exporter_for: Any
) -> None:
    now = time.time()
    make_fleet(sm, now)
    async with exporter_for() as h:
        [result] = await h.poll()
        assert result.ok and result.described == 6
        m = await h.scrape()

    def families(job: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, labels in m:
            if name.startswith(J) and ("training_job", job) in labels:
                out[name] = out.get(name, 0) + 1
        return out

    # Running jobs keep everything: the one-hot state set, limits, start times, security.
    running = families("running")
    assert running[J + "status"] == 5 and J + "created_timestamp_seconds" in running
    assert J + "security_info" in running and J + "final_metric_timestamp_seconds" in running
    for job in ("completed", "failed-early", "stopped-maxrt", "spot"):
        got = families(job)
        assert set(got) <= LEAN_FINISHED_FAMILIES, (job, set(got) - LEAN_FINISHED_FAMILIES)
        assert got[J + "status"] == 1, job
    # 12 for the job with two rules and a warm pool, the rest fewer (bench/series.py measures
    # the average over a fleet: at most 12).
    assert [
        sum(families(j).values()) for j in ("completed", "failed-early", "stopped-maxrt", "spot")
    ] == [12, 6, 9, 11]
    # Each keeps what the alerts and dashboards ask of it.
    assert set(families("completed")) >= {
        J + n
        for n in (
            "info",
            "status",
            "training_end_timestamp_seconds",
            "training_seconds",
            "billable_seconds",
            "instances",
            "final_metric",
            "rule_evaluation_status",
            "warm_pool_status",
            "warm_pool_retained_billable_seconds",
        )
    }
    # No TrainingEndTime: LastModifiedTime stands in (SageMakerTrainingJobFailed reads it);
    # its secondary status is Failed, as its status says: no series.
    assert set(families("failed-early")) == {
        J + n
        for n in (
            "info",
            "status",
            "phase_duration_seconds",
            "last_modified_timestamp_seconds",
            "instances",
            "failure_info",
        )
    }
    assert (
        value(m, J + "phase_duration_seconds", training_job="failed-early", phase="Failed") is None
    )
    assert value(m, J + "secondary_status", training_job="stopped-maxrt",
                 secondary_status="MaxRuntimeExceeded") == 1  # fmt: skip
    assert value(m, J + "interruptions", training_job="spot") == 1
    assert value(m, J + "spot_savings_ratio", training_job="spot") == 0.6


async def test_only_changed_jobs_are_described_again(sm: MotoSageMaker, exporter_for: Any) -> None:
    now = time.time()
    for i in range(5):
        sm.create(f"job-{i}")
        sm.set(
            f"job-{i}",
            training_job_status="InProgress",
            secondary_status="Training",
            training_start_time=now - 100,
            training_end_time=None,
        )
    async with exporter_for() as h:
        await h.poll()
        before = await h.scrape()
        assert describes(before) == 5
        # Nothing changed: a cycle costs one list call and no describe.
        await h.poll()
        assert describes(await h.scrape()) == 5
        sm.set(
            "job-3",
            training_job_status="Completed",
            secondary_status="Completed",
            training_end_time=now,
            training_time_in_seconds=100,
            billable_time_in_seconds=100,
        )
        [result] = await h.poll()
        after = await h.scrape()
    assert result.described == 1 and result.changed == 1
    assert describes(after) == 6
    status = J + "status"
    assert value(before, status, training_job="job-3", status="InProgress") == 1
    # Finished: its final state alone (--finished-series lean); the InProgress series ends.
    assert find(after, status, training_job="job-3") == {
        frozenset(
            {
                ("training_job", "job-3"),
                ("region", US),
                ("account_id", DEFAULT_ACCOUNT),
                ("status", "Completed"),
            }
        ): 1
    }
    assert value(after, status, training_job="job-3", status="Completed") == 1
    assert value(after, J + "training_seconds", training_job="job-3") == 100
    assert value(after, "sagemaker_training_jobs_finished_total", status="Completed") == 1
    assert value(after, "sagemaker_training_jobs_finished_total", status="Failed") == 0
    # The others were not described again, yet their elapsed time moved on.
    t0 = value(before, J + "training_seconds", training_job="job-0")
    t1 = value(after, J + "training_seconds", training_job="job-0")
    assert t0 is not None and t1 is not None and t1 > t0


async def test_pagination_over_250_jobs_with_empty_pages(
    sm: MotoSageMaker, exporter_for: Any
) -> None:
    now = time.time()
    # moto pages before it filters: 150 old jobs first make the LastModifiedTimeAfter
    # listing return empty pages that still carry a NextToken.
    sm.bulk_create([f"bulk-{i:03d}" for i in range(250)])
    for i in range(150):
        sm.set(f"bulk-{i:03d}", modified=now - 5 * 86400, training_end_time=now - 5 * 86400)
    # The default rate limits (10 describes/s) would make this test wait ten seconds.
    async with exporter_for("--describe-rps", "500", "--list-rps", "100") as h:
        [result] = await h.poll()
        m = await h.scrape()
    assert result.ok
    assert value(m, "sagemaker_exporter_tracked_jobs", region=US) == 100
    assert describes(m) == 100
    got = {dict(lbl)["training_job"] for lbl in find(m, J + "info")}
    assert got == {f"bulk-{i:03d}" for i in range(150, 250)}
    lists = sum(
        find(m, "sagemaker_exporter_api_requests_total", operation="ListTrainingJobs").values()
    )
    assert lists >= 3  # >= 3 pages of the watermark listing, plus the reconcile listings


async def test_retention_eviction_and_vanished_jobs(sm: MotoSageMaker, exporter_for: Any) -> None:
    now = time.time()
    sm.create("done")
    sm.set("done", training_end_time=now - 1800)
    sm.create("gone")
    sm.set(
        "gone",
        training_job_status="InProgress",
        secondary_status="Training",
        training_end_time=None,
    )
    sm.create("ancient")
    sm.set("ancient", training_end_time=now - 3 * 86400, modified=now - 3 * 86400)
    async with exporter_for("--retention", "1h", "--reconcile-interval", "1s") as h:
        await h.poll()
        m = await h.scrape()
        assert {dict(lbl)["training_job"] for lbl in find(m, J + "info")} == {"done", "gone"}
        sm.delete("gone")
        # An hour later "done" has aged out; "gone" is no longer known to the API.
        for sync in h.exporter.syncs:
            sync.clock = lambda: time.time() + 3600
        [result] = await h.poll()
        m = await h.scrape()
    assert result.evicted == 1 and result.removed == 1
    assert find(m, J + "info") == {}
    assert value(m, "sagemaker_exporter_tracked_jobs", region=US) == 0


async def test_include_exclude(sm: MotoSageMaker, exporter_for: Any) -> None:
    for name in ("prod-a", "prod-b", "dev-a"):
        sm.create(name)
    async with exporter_for("--include", "^prod-", "--exclude", "b$") as h:
        await h.poll()
        m = await h.scrape()
    assert {dict(lbl)["training_job"] for lbl in find(m, J + "info")} == {"prod-a"}
    assert describes(m) == 1  # filtered jobs are never described


async def test_two_regions_and_an_assumed_role_account(
    sm: MotoSageMaker, exporter_for: Any
) -> None:
    sm.create("east-default", region="us-east-1")
    sm.create("west-default", region="eu-west-1")
    sm.create("east-second", region="us-east-1", account=SECOND_ACCOUNT)
    sm.create("west-second", region="eu-west-1", account=SECOND_ACCOUNT)
    async with exporter_for(
        "--region", "us-east-1", "--region", "eu-west-1", "--role-arn", SECOND_ROLE
    ) as h:
        results = await h.poll()
        m = await h.scrape()
        # One parsed SageMaker model for all targets (17 MiB each otherwise: bench/targets.py)
        loaders = {id(s.api._client._loader) for s in h.exporter.syncs}  # type: ignore[attr-defined]
    assert len(loaders) == 1
    assert len(results) == 4 and all(r.ok for r in results)
    where = {
        dict(lbl)["training_job"]: (dict(lbl)["region"], dict(lbl)["account_id"])
        for lbl in find(m, J + "info")
    }
    assert where == {
        "east-default": ("us-east-1", DEFAULT_ACCOUNT),
        "west-default": ("eu-west-1", DEFAULT_ACCOUNT),
        "east-second": ("us-east-1", SECOND_ACCOUNT),
        "west-second": ("eu-west-1", SECOND_ACCOUNT),
    }
    for region in ("us-east-1", "eu-west-1"):
        for account in (DEFAULT_ACCOUNT, SECOND_ACCOUNT):
            assert value(m, "sagemaker_exporter_target_up", region=region, account_id=account) == 1
            assert (
                value(m, "sagemaker_exporter_tracked_jobs", region=region, account_id=account) == 1
            )
    assume = find(
        m,
        "sagemaker_exporter_api_requests_total",
        operation="AssumeRole",
        account_id=SECOND_ACCOUNT,
        outcome="ok",
    )
    assert sum(assume.values()) >= 1
