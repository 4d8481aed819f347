"""--cloudwatch against moto's CloudWatch and EC2 on loopback: per-host utilisation joined
with the job's identity labels, cost counted and capped.

Datapoints go in with put_metric_data under the `Host` dimension SageMaker uses; moto matches
the exact dimension set. Device counts come from moto's DescribeInstanceTypes, which knows
g5.12xlarge (48 vCPUs, 4 GPUs) and m5.xlarge (4 vCPUs, no GPU) but not p3.2xlarge.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from typing import Any

import boto3

from tests.support.exposition import find, parse_exposition, value
from tests.support.motofleet import DEFAULT_ACCOUNT, MotoSageMaker

US = "us-east-1"
U = "sagemaker_training_job_host_utilization_ratio"
TS = "sagemaker_training_job_host_metrics_timestamp_seconds"
NAMESPACE = "/aws/sagemaker/TrainingJobs"


def put(sm: MotoSageMaker, host: str, metric: str, *points: tuple[float, float]) -> None:
    """(unix time, percent) datapoints of one metric of one host."""
    cw = boto3.client(
        "cloudwatch",
        region_name=US,
        endpoint_url=sm.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    cw.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": "Host", "Value": host}],
                "Timestamp": dt.datetime.fromtimestamp(t, dt.UTC),
                "Value": v,
                "Unit": "Percent",
            }
            for t, v in points
        ],
    )


def running(sm: MotoSageMaker, name: str, now: float, phase: str = "Training", **kw: Any) -> None:
    sm.create(name, **kw)
    sm.set(
        name,
        training_job_status="InProgress",
        secondary_status=phase,
        creation_time=now - 900,
        training_start_time=now - 600,
        training_end_time=None,
    )


def fleet(sm: MotoSageMaker, now: float) -> None:
    running(sm, "gpu-job", now, instance_type="ml.g5.12xlarge", count=2)
    running(sm, "cpu-job", now, instance_type="ml.m5.xlarge")
    running(sm, "old-type", now, instance_type="ml.p3.2xlarge")
    running(sm, "waiting", now, phase="Starting", instance_type="ml.g5.12xlarge")
    sm.create("done", instance_type="ml.g5.12xlarge")
    sm.set(
        "done",
        training_job_status="Completed",
        secondary_status="Completed",
        training_end_time=now - 7200,
        creation_time=now - 9000,
    )
    older, newer = now - 180, now - 60
    # gpu-job: 4 GPUs, 48 vCPUs a host. The older points must lose to the newer ones.
    put(sm, "gpu-job/algo-1", "GPUUtilization", (older, 400.0), (newer, 300.0))
    put(sm, "gpu-job/algo-1", "GPUMemoryUtilization", (newer, 200.0))
    put(sm, "gpu-job/algo-1", "CPUUtilization", (newer, 1200.0))
    put(sm, "gpu-job/algo-1", "MemoryUtilization", (newer, 40.0))
    put(sm, "gpu-job/algo-1", "DiskUtilization", (newer, 12.5))
    put(sm, "gpu-job/algo-2", "GPUUtilization", (older, 20.0))
    put(sm, "cpu-job/algo-1", "CPUUtilization", (newer, 300.0))
    put(sm, "cpu-job/algo-1", "MemoryUtilization", (newer, 97.0))
    put(sm, "old-type/algo-1", "CPUUtilization", (newer, 100.0))
    put(sm, "old-type/algo-1", "GPUUtilization", (newer, 100.0))
    put(sm, "old-type/algo-1", "DiskUtilization", (newer, 91.0))
    put(sm, "waiting/algo-1", "GPUUtilization", (newer, 0.0))
    put(sm, "done/algo-1", "GPUUtilization", (newer, 0.0))


def requested(m: Any) -> float | None:
    return value(
        m,
        "sagemaker_exporter_cloudwatch_metrics_requested_total",
        region=US,
        account_id=DEFAULT_ACCOUNT,
    )


async def test_host_utilisation_joined_with_job_labels(
    sm: MotoSageMaker, exporter_for: Any, promtool: str
) -> None:
    now = time.time()
    fleet(sm, now)
    async with exporter_for("--cloudwatch") as h:
        [polled] = await h.poll()
        assert polled.ok
        [cycle] = await h.exporter.poll_cloudwatch()
        assert cycle.ok
        text = await h.scrape_text()
    m = parse_exposition(text)

    def u(job: str, host: str, resource: str) -> float | None:
        return value(
            m,
            U,
            training_job=job,
            region=US,
            account_id=DEFAULT_ACCOUNT,
            host=host,
            resource=resource,
        )

    assert u("gpu-job", "algo-1", "gpu") == 300 / 100 / 4
    assert u("gpu-job", "algo-1", "gpu_memory") == 200 / 100 / 4
    assert u("gpu-job", "algo-1", "cpu") == 1200 / 100 / 48
    assert u("gpu-job", "algo-1", "memory") == 0.40
    assert u("gpu-job", "algo-1", "disk") == 0.125
    assert u("gpu-job", "algo-2", "gpu") == 20 / 100 / 4
    assert u("gpu-job", "algo-2", "cpu") is None  # nothing published: no sample, no zero
    assert u("cpu-job", "algo-1", "cpu") == 0.75
    assert u("cpu-job", "algo-1", "memory") == 0.97
    # p3.2xlarge: EC2 (moto) does not know it, so no cpu or gpu series, never a guess.
    assert u("old-type", "algo-1", "disk") == 0.91
    assert u("old-type", "algo-1", "cpu") is None and u("old-type", "algo-1", "gpu") is None
    warnings = value(
        m,
        "sagemaker_exporter_cloudwatch_warnings_total",
        region=US,
        account_id=DEFAULT_ACCOUNT,
        reason="device_count_unknown",
    )
    assert warnings == 1
    # No hosts before Training starts, none for a job that ended long ago.
    assert not find(m, U, training_job="waiting") and not find(m, U, training_job="done")
    # instance_type on the host series; the identity labels join with the job families.
    (labels,) = find(m, U, training_job="cpu-job", resource="cpu")
    assert dict(labels)["instance_type"] == "ml.m5.xlarge"
    assert (
        value(
            m,
            "sagemaker_training_job_status",
            training_job="cpu-job",
            region=US,
            account_id=DEFAULT_ACCOUNT,
            status="InProgress",
        )
        == 1
    )
    stamp = value(m, TS, training_job="gpu-job", host="algo-1")
    # CloudWatch stamps a datapoint with the start of its 1-minute period.
    assert stamp is not None and now - 121 <= stamp <= now - 60
    # What was asked (and billed): 2 GPU hosts x 5 metrics, cpu-job's cpu/memory/disk, and
    # memory/disk of old-type; nothing for GPU metrics of a type without GPUs.
    assert requested(m) == 2 * 5 + 3 + 2
    assert (
        value(
            m,
            "sagemaker_exporter_api_requests_total",
            operation="GetMetricData",
            region=US,
            account_id=DEFAULT_ACCOUNT,
            outcome="ok",
        )
        == 1
    )
    assert value(m, "sagemaker_exporter_cloudwatch_up", region=US, account_id=DEFAULT_ACCOUNT) == 1
    assert value(m, "sagemaker_exporter_target_up", region=US, account_id=DEFAULT_ACCOUNT) == 1
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


async def test_budget_caps_metrics_requested(sm: MotoSageMaker, exporter_for: Any) -> None:
    now = time.time()
    fleet(sm, now)
    async with exporter_for("--cloudwatch", "--cloudwatch-budget", "8") as h:
        await h.poll()
        await h.exporter.poll_cloudwatch()
        m1 = await h.scrape()
        for _ in range(3):
            await h.exporter.poll_cloudwatch()
        m2 = await h.scrape()
    first = requested(m1)
    assert first is not None and 0 < first <= 8
    skipped = value(
        m1,
        "sagemaker_exporter_cloudwatch_warnings_total",
        region=US,
        account_id=DEFAULT_ACCOUNT,
        reason="budget_exhausted",
    )
    assert skipped == 15 - first
    # Later cycles spend what is left of the hour's budget on whole hosts, never more ...
    later = requested(m2)
    assert later is not None and first <= later <= 8
    # ... and still serves what it has.
    assert find(m2, U)


async def test_a_job_that_ends_gets_one_last_fetch(sm: MotoSageMaker, exporter_for: Any) -> None:
    now = time.time()
    running(sm, "cpu-job", now, instance_type="ml.m5.xlarge")
    put(sm, "cpu-job/algo-1", "CPUUtilization", (now - 120, 200.0))
    async with exporter_for("--cloudwatch") as h:
        await h.poll()
        await h.exporter.poll_cloudwatch()
        m = await h.scrape()
        assert value(m, U, training_job="cpu-job", resource="cpu") == 0.5
        # It ends; its last minute arrives in CloudWatch after the fetch above.
        put(sm, "cpu-job/algo-1", "CPUUtilization", (now - 60, 100.0))
        sm.set(
            "cpu-job",
            training_job_status="Completed",
            secondary_status="Completed",
            training_end_time=now - 150,
        )
        await h.poll()
        await h.exporter.poll_cloudwatch()
        m = await h.scrape()
        assert value(m, U, training_job="cpu-job", resource="cpu") == 0.25
        assert requested(m) == 2 * 3
        # Then it is done: no more queries, no more host series.
        await h.exporter.poll_cloudwatch()
        m = await h.scrape()
        assert requested(m) == 2 * 3
        assert not find(m, U, training_job="cpu-job")


async def test_off_by_default(sm: MotoSageMaker, exporter_for: Any) -> None:
    running(sm, "cpu-job", time.time(), instance_type="ml.m5.xlarge")
    async with exporter_for() as h:
        await h.poll()
        text = await h.scrape_text()
    assert "cloudwatch" not in text and U not in text
