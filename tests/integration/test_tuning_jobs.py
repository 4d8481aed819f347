"""Hyperparameter tuning jobs end to end against moto (create/describe/list are moto's own;
states are set through its backend objects), and the fake SageMaker, which has no tuning
API at all: a tuning-job source that fails must not take the training jobs down."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from moto.backends import get_backend

from exporter.app import Exporter
from exporter.cli import load_settings
from exporter.metrics.tuning_jobs import TUNING_FAMILIES
from fake_aws.server import FakeSageMaker
from tests.support.exposition import find, parse_exposition, value
from tests.support.harness import Harness
from tests.support.motofleet import DEFAULT_ACCOUNT, MotoSageMaker, utc

T = "sagemaker_tuning_job_"
US = "us-east-1"


def create_tuning_job(sm: MotoSageMaker, name: str, region: str = US, **attrs: Any) -> Any:
    sm.client(region).create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig={
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {
                "Type": "Maximize",
                "MetricName": "validation:auc",
            },
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": 20,
                "MaxParallelTrainingJobs": 4,
                "MaxRuntimeInSeconds": 36000,
            },
        },
        TrainingJobDefinition={
            "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
            "RoleArn": f"arn:aws:iam::{DEFAULT_ACCOUNT}:role/sm",
            "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
            "ResourceConfig": {
                "InstanceType": "ml.m5.xlarge",
                "InstanceCount": 1,
                "VolumeSizeInGB": 10,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "StaticHyperParameters": {"password": "CANARY-tuning-secret"},
        },
    )
    return set_tuning_job(sm, name, region, **attrs)


def set_tuning_job(sm: MotoSageMaker, name: str, region: str = US, **attrs: Any) -> Any:
    job = get_backend("sagemaker")[DEFAULT_ACCOUNT][region].hyper_parameter_tuning_jobs[name]
    for k, v in attrs.items():
        setattr(job, k, utc(v) if k.endswith("_time") and isinstance(v, float) else v)
    job.last_modified_time = utc(attrs.get("last_modified_time", time.time()))
    return job


def counters(completed: int, running: int, nonretryable: int = 0) -> dict[str, int]:
    return {
        "Completed": completed,
        "InProgress": running,
        "RetryableError": 0,
        "NonRetryableError": nonretryable,
        "Stopped": 0,
    }


def best(job: str, auc: float) -> dict[str, Any]:
    return {
        "TrainingJobName": job,
        "TrainingJobArn": f"arn:x:training-job/{job}",
        "CreationTime": utc(time.time() - 600),
        "TrainingJobStatus": "Completed",
        "TunedHyperParameters": {"eta": "0.1"},
        "FinalHyperParameterTuningJobObjectiveMetric": {
            "Type": "Maximize",
            "MetricName": "validation:auc",
            "Value": auc,
        },
    }


def describes(s: Any) -> float:
    return sum(
        find(
            s, "sagemaker_exporter_api_requests_total", operation="DescribeHyperParameterTuningJob"
        ).values()
    )


async def test_tuning_families_change_detection_and_retention(
    sm: MotoSageMaker, exporter_for: Any, promtool: str
) -> None:
    now = time.time()
    create_tuning_job(
        sm,
        "hpo-running",
        hyper_parameter_tuning_job_status="InProgress",
        hyper_parameter_tuning_end_time=None,
        creation_time=now - 3600,
        training_job_status_counters=counters(5, 4, 2),
        objective_status_counters={"Succeeded": 5, "Pending": 4, "Failed": 2},
        best_training_job=best("hpo-running-003-abc", 0.91),
    )
    create_tuning_job(
        sm,
        "hpo-old",
        creation_time=now - 5 * 86400,
        hyper_parameter_tuning_end_time=now - 4 * 86400,
        last_modified_time=now - 4 * 86400,
    )
    sm.create("trial-1")
    sm.set(
        "trial-1",
        tuning_job_arn=(
            "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/hpo-running"
        ),
    )
    async with exporter_for() as h:
        h: Harness
        await h.poll()
        text = await h.scrape_text()
        check = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr
        s = parse_exposition(text)
        ident = {"tuning_job": "hpo-running", "region": US, "account_id": DEFAULT_ACCOUNT}
        v = lambda name, **kw: value(s, T + name, **ident, **kw)  # noqa: E731
        assert v("status", status="InProgress") == 1
        assert v("status", status="Completed") == 0
        assert v("training_jobs", status="Completed") == 5
        assert v("training_jobs", status="InProgress") == 4
        assert v("training_jobs", status="NonRetryableError") == 2
        assert v("training_jobs", status="RetryableError") == 0
        assert v("objectives", status="Failed") == 2
        assert v("best_objective_value", metric="validation:auc") == 0.91
        assert v("best_training_job_info", training_job="hpo-running-003-abc") == 1
        assert v("max_training_jobs") == 20
        assert v("max_parallel_training_jobs") == 4
        assert v("max_runtime_seconds") == 36000
        assert (
            v(
                "info",
                strategy="Bayesian",
                objective_metric="validation:auc",
                objective_type="Maximize",
            )
            == 1
        )
        created = v("created_timestamp_seconds")
        assert created is not None and abs(created - (now - 3600)) < 2
        assert v("end_timestamp_seconds") is None
        assert v("consumed_runtime_seconds") == 123  # moto's ConsumedResources
        modified = v("last_modified_timestamp_seconds")
        assert modified is not None and abs(modified - time.time()) < 60
        # finished four days ago, retention 24 h: not exported
        assert find(s, T + "status", tuning_job="hpo-old") == {}
        # the training job's tuning_job label joins the two
        assert (
            value(
                s, "sagemaker_training_job_info", training_job="trial-1", tuning_job="hpo-running"
            )
            == 1
        )
        assert value(s, "sagemaker_exporter_tuning_target_up", region=US) == 1
        assert value(s, "sagemaker_exporter_tracked_tuning_jobs", region=US) == 1
        assert "CANARY-tuning-secret" not in await h.scrape_text()
        first = describes(s)
        assert first == 1  # only the one in retention

        # Nothing changed: the list is enough, no describe.
        await h.poll()
        s = await h.scrape()
        assert describes(s) == first

        # A trial finished: the summary changed, one describe brings the new best.
        set_tuning_job(
            sm,
            "hpo-running",
            training_job_status_counters=counters(6, 3, 2),
            best_training_job=best("hpo-running-007-def", 0.95),
        )
        await h.poll()
        s = await h.scrape()
        assert describes(s) == first + 1
        assert value(s, T + "training_jobs", tuning_job="hpo-running", status="Completed") == 6
        assert value(s, T + "best_objective_value", tuning_job="hpo-running") == 0.95
        assert (
            value(
                s,
                T + "best_training_job_info",
                tuning_job="hpo-running",
                training_job="hpo-running-007-def",
            )
            == 1
        )
        assert len(find(s, T + "best_objective_value", tuning_job="hpo-running")) == 1

        # It completes.
        set_tuning_job(
            sm,
            "hpo-running",
            hyper_parameter_tuning_job_status="Completed",
            hyper_parameter_tuning_end_time=time.time(),
            training_job_status_counters=counters(7, 0, 2),
        )
        await h.poll()
        s = await h.scrape()
        assert value(s, T + "status", tuning_job="hpo-running", status="Completed") == 1
        assert value(s, T + "end_timestamp_seconds", tuning_job="hpo-running") is not None
        # every tuning family has a sample for this job now
        assert {f.name for f in TUNING_FAMILIES} <= {
            name for name, labels in s if ("tuning_job", "hpo-running") in labels
        }


async def test_vanished_running_tuning_job_is_dropped(sm: MotoSageMaker, exporter_for: Any) -> None:
    create_tuning_job(
        sm,
        "gone",
        hyper_parameter_tuning_job_status="InProgress",
        hyper_parameter_tuning_end_time=None,
    )
    async with exporter_for("--reconcile-interval", "0.001") as h:
        await h.poll()
        assert find(await h.scrape(), T + "status", tuning_job="gone")
        del get_backend("sagemaker")[DEFAULT_ACCOUNT][US].hyper_parameter_tuning_jobs["gone"]
        await h.poll()
        s = await h.scrape()
        assert find(s, T + "status", tuning_job="gone") == {}
        assert value(s, "sagemaker_exporter_tuning_target_up", region=US) == 1


async def test_no_tuning_jobs_flag_makes_no_tuning_calls(
    sm: MotoSageMaker, exporter_for: Any
) -> None:
    create_tuning_job(sm, "skip-me")
    async with exporter_for("--no-tuning-jobs") as h:
        await h.poll()
        s = await h.scrape()
    assert find(s, T + "status") == {}
    assert (
        sum(
            find(
                s, "sagemaker_exporter_api_requests_total", operation="ListHyperParameterTuningJobs"
            ).values()
        )
        == 0
    )


async def test_tuning_failure_never_marks_the_training_target_down() -> None:
    async with FakeSageMaker(jobs=6, in_progress=2, seed=3, tick_interval=0) as fake:
        fake.inject("access_denied", operation="ListHyperParameterTuningJobs")
        argv = [
            "--endpoint-url",
            fake.endpoint_url,
            "--listen-address",
            "127.0.0.1:0",
            "--region",
            US,
        ]
        async with Exporter(load_settings(argv, environ={})) as exp:
            await exp.start_http()
            h = Harness(exp)
            assert all(r.ok for r in await h.poll())
            s = await h.scrape()
    assert value(s, "sagemaker_exporter_target_up", region=US) == 1
    assert value(s, "sagemaker_exporter_tuning_target_up", region=US) == 0
    assert find(s, "sagemaker_training_job_status")
    # the first cycle lists three ways (changed since the horizon, InProgress, Stopping)
    assert (
        value(
            s,
            "sagemaker_exporter_api_requests_total",
            operation="ListHyperParameterTuningJobs",
            outcome="client_error",
        )
        == 3
    )
    assert (
        value(
            s,
            "sagemaker_exporter_api_requests_total",
            operation="ListTrainingJobs",
            outcome="client_error",
        )
        == 0
    )


def test_every_tuning_family_is_documented() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for f in TUNING_FAMILIES:
        assert f"`{f.name}`" in readme


def tuning_doc(name: str, now: float, status: str = "InProgress") -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:"
        f"hyper-parameter-tuning-job/{name}",
        "HyperParameterTuningJobStatus": status,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "val:loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 50, "MaxParallelTrainingJobs": 5},
        },
        "CreationTime": now - 600,
        "LastModifiedTime": now - 60,
        "TrainingJobStatusCounters": counters(3, 2),
        "ObjectiveStatusCounters": {"Succeeded": 3, "Pending": 2, "Failed": 0},
        "BestTrainingJob": {
            "TrainingJobName": f"{name}-001",
            "TrainingJobStatus": "Completed",
            "CreationTime": now - 500,
            "TunedHyperParameters": {},
            "FinalHyperParameterTuningJobObjectiveMetric": {
                "Type": "Minimize",
                "MetricName": "val:loss",
                "Value": 0.25,
            },
        },
    }


async def test_many_tuning_jobs_page_and_are_described_once() -> None:
    now = time.time()
    async with FakeSageMaker(jobs=2, in_progress=1, seed=3, tick_interval=0) as fake:
        for i in range(130):  # more than one page of 100
            fake.tuning.add(tuning_doc(f"sweep-{i:03d}", now))
        argv = [
            "--endpoint-url",
            fake.endpoint_url,
            "--listen-address",
            "127.0.0.1:0",
            "--region",
            US,
        ]
        async with Exporter(load_settings(argv, environ={})) as exp:
            await exp.start_http()
            h = Harness(exp)
            await h.poll()
            s = await h.scrape()
            assert len(find(s, T + "status", status="InProgress")) == 130
            assert (
                value(s, T + "best_objective_value", tuning_job="sweep-129", metric="val:loss")
                == 0.25
            )
            assert (
                value(
                    s,
                    T + "info",
                    tuning_job="sweep-000",
                    strategy="Random",
                    objective_type="Minimize",
                )
                == 1
            )
            assert fake.calls("DescribeHyperParameterTuningJob") == 130
            await h.poll()
            assert fake.calls("DescribeHyperParameterTuningJob") == 130
            assert (
                value(await h.scrape(), "sagemaker_exporter_tracked_tuning_jobs", region=US) == 130
            )
