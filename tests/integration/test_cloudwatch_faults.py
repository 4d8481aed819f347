"""--cloudwatch under CloudWatch faults, against the fake SageMaker server, which also speaks
CloudWatch's GetMetricData (fake_aws/cloudwatch.py): a throttled or denied
CloudWatch never marks the SageMaker target down, keeps serving the last good host samples,
and is counted under its own outcome and up gauge."""

from __future__ import annotations

from fake_aws.cloudwatch import DEVICES
from tests.support.exposition import Samples, find, value
from tests.support.fake_rig import ACCOUNT, US, rig

U = "sagemaker_training_job_host_utilization_ratio"


def gauge(s: Samples, name: str) -> float | None:
    return value(s, name, region=US, account_id=ACCOUNT)


def gmd(s: Samples, outcome: str) -> float | None:
    return value(
        s,
        "sagemaker_exporter_api_requests_total",
        operation="GetMetricData",
        region=US,
        account_id=ACCOUNT,
        outcome=outcome,
    )


async def test_throttled_cloudwatch_leaves_the_sagemaker_target_up() -> None:
    async with rig("--cloudwatch", in_progress=6) as (fake, h):
        fake.inject("throttle", operation="GetMetricData")
        [polled] = await h.poll()
        [cycle] = await h.exporter.poll_cloudwatch()
        s = await h.scrape()
        assert polled.ok and not cycle.ok
        assert gauge(s, "sagemaker_exporter_target_up") == 1
        assert gauge(s, "sagemaker_exporter_cloudwatch_up") == 0
        # Every attempt counted (the rig allows 2), under CloudWatch's own operation.
        assert gmd(s, "throttled") == 2 and gmd(s, "ok") == 0
        assert fake.calls("GetMetricData", "throttled") == 2
        assert find(s, "sagemaker_training_job_status") and not find(s, U)
        assert (
            value(
                s,
                "sagemaker_exporter_cloudwatch_cycles_total",
                region=US,
                account_id=ACCOUNT,
                result="failure",
            )
            == 1
        )

        fake.clear_faults()
        [cycle] = await h.exporter.poll_cloudwatch()
        s = await h.scrape()
        assert cycle.ok and gauge(s, "sagemaker_exporter_cloudwatch_up") == 1
        # The fake answers 50 % for every metric, and EC2's device counts from its table.
        samples = find(s, U)
        assert samples
        for labels, v in samples.items():
            d = dict(labels)
            vcpus, gpus = DEVICES.get(d["instance_type"].removeprefix("ml."), (0, 0))
            per = {"cpu": vcpus, "gpu": gpus, "gpu_memory": gpus}.get(d["resource"], 1)
            assert v == 0.5 / per, d
        running = {
            dict(k)["training_job"]
            for k, v in find(s, "sagemaker_training_job_status", status="InProgress").items()
            if v
        }
        assert {dict(k)["training_job"] for k in samples} <= running

        fake.inject("access_denied", operation="GetMetricData")
        [polled] = await h.poll()
        [cycle] = await h.exporter.poll_cloudwatch()
        s2 = await h.scrape()
        assert polled.ok and not cycle.ok
        assert gauge(s2, "sagemaker_exporter_target_up") == 1
        assert gauge(s2, "sagemaker_exporter_cloudwatch_up") == 0
        assert gmd(s2, "client_error") == 1  # not retried: denied stays denied
        # The last good samples are still served.
        assert find(s2, U) == samples


async def test_targets_share_one_budget() -> None:
    """Two targets (one fake answers both regions with the same fleet), each with far more
    than one 500-query call to make: together they never exceed the hourly budget."""
    budget = 1200
    async with rig(
        "--cloudwatch",
        "--cloudwatch-budget",
        str(budget),
        "--region",
        US,
        "--region",
        "eu-west-1",
        jobs=250,
        in_progress=200,
    ) as (fake, h):
        await h.poll()
        results = await h.exporter.poll_cloudwatch()
        for _ in range(2):
            results += await h.exporter.poll_cloudwatch()
        s = await h.scrape()
    assert all(r.ok for r in results)
    requested = sum(find(s, "sagemaker_exporter_cloudwatch_metrics_requested_total").values())
    skipped = sum(
        find(s, "sagemaker_exporter_cloudwatch_warnings_total", reason="budget_exhausted").values()
    )
    assert budget - 10 <= requested <= budget  # whole hosts: at most one host's worth left
    assert skipped > budget  # each target alone wanted more than the whole budget
    assert fake.calls("GetMetricData", "ok") >= 3  # more than one call of 500 queries
