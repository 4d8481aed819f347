"""The backfill and the discovered rate against the fake SageMaker (real aiobotocore, real
HTTP, real promtool): quotas the exporter is not told, Search and its fallback, batches on
/metrics while the backfill runs."""

from __future__ import annotations

import asyncio
import subprocess
import time

import aiohttp
from structlog.testing import capture_logs

from tests.support.exposition import Samples, find, parse_exposition, value
from tests.support.fake_rig import J, problems, rig

NOT_IN_SEARCH = {J + "rule_evaluation_status"}  # from ProfilerRuleEvaluationStatuses
# ProgressInfo, MlflowDetails and BillableTokenCount are not in Search records either.
NOT_IN_SEARCH |= {
    J + f
    for f in (
        "progress_epoch",
        "progress_max_epochs",
        "progress_step",
        "progress_steps_per_epoch",
        "progress_ratio",
        "mlflow_info",
        "billable_tokens",
    )
}


async def test_discovered_rate_converges_under_an_untold_quota() -> None:
    """Default flags; the fake allows 25 describes/s and throttles the rest. Search is
    denied so every job is described: the rate found is the quota's, throttles are rare."""
    quota = 25.0
    async with rig(
        "--retention",
        "3650d",
        jobs=500,
        in_progress=100,
        timeout=5.0,
        max_attempts=4,
        latency_ms=20,
        rate_limits={"DescribeTrainingJob": quota},
    ) as (fake, h):
        fake.inject("access_denied", operation="Search")
        [r] = await h.poll()
        assert r.ok, r.errors
        ops = fake.stats()["operations"]["DescribeTrainingJob"]
        throttled, total = ops["throttled"], ops["ok"] + ops["throttled"]
        assert ops["ok"] == 500
        assert throttled / total < 0.05, f"{throttled} of {total} describes throttled"
        s = await h.scrape()
        found = value(s, "sagemaker_exporter_api_rate_limit", operation="DescribeTrainingJob")
        assert found is not None and 0.6 * quota <= found <= 1.3 * quota, found
        # ~500 describes at 25/s is 20 s; the discovered rate must not take much longer.
        assert r.duration < 1.5 * 500 / quota, r.duration


async def test_search_backfills_finished_jobs_in_a_few_calls() -> None:
    async with rig("--retention", "3650d", jobs=300, in_progress=20) as (fake, h):
        [r] = await h.poll()
        assert r.ok, r.errors
        assert r.searched >= 280 and r.described <= 40  # running jobs are described
        assert fake.calls("Search") <= 6  # 100 records a call
        s = await h.scrape()
        assert len(find(s, J + "info")) == 300
        assert value(s, "sagemaker_exporter_search_enabled") == 1
        assert value(s, "sagemaker_exporter_backfill_pending_jobs") == 0


async def test_search_denied_falls_back_with_one_warning_and_a_healthy_target() -> None:
    with capture_logs() as logs:
        async with rig("--retention", "3650d", jobs=40, in_progress=5) as (fake, h):
            fake.inject("access_denied", operation="Search")
            [r] = await h.poll()
            assert r.ok and r.searched == 0 and r.described == 40
            s = await h.scrape()
            assert value(s, "sagemaker_exporter_target_up") == 1
            assert value(s, "sagemaker_exporter_search_enabled") == 0
            assert len(find(s, J + "info")) == 40
            fake.reset_stats()
            await h.poll()
            assert fake.calls("Search") == 0  # not asked again
    warned = problems(logs)
    assert len(warned) == 1 and "search denied" in warned[0]["event"], warned


FULL = ("--retention", "3650d", "--tag-labels", "team,project", "--finished-series", "full")


def _series(s: Samples, job: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {k: v for k, v in s.items() if ("training_job", job) in k[1]}


async def test_a_searched_job_and_a_described_job_render_the_same_series() -> None:
    # Every family of a finished job (--finished-series full), not just the lean default's.
    now = time.time()  # both fakes generate the same fleet
    async with rig(*FULL, jobs=60, in_progress=10, now=now) as (fake, h):
        [r] = await h.poll()
        assert r.searched > 0
        searched = await h.scrape()
    async with rig(*FULL, jobs=60, in_progress=10, now=now) as (fake, h):
        fake.inject("access_denied", operation="Search")
        [r] = await h.poll()
        assert r.searched == 0 and r.described == 60
        described = await h.scrape()
    finished = (
        set(fake.job_names()) - set(fake.job_names("InProgress")) - set(fake.job_names("Stopping"))
    )
    assert finished
    compared = 0
    for name in sorted(finished):
        a = {k: v for k, v in _series(searched, name).items() if k[0] not in NOT_IN_SEARCH}
        b = {k: v for k, v in _series(described, name).items() if k[0] not in NOT_IN_SEARCH}
        assert a == b, name
        compared += len(a)
    assert compared > 20 * len(finished)
    # The tags came with the Search records: no ListTags call was needed for those jobs.
    assert any(k[0] == J + "tags" for k in searched)


async def test_running_jobs_show_first_and_a_mid_backfill_scrape_passes_promtool(
    promtool: str,
) -> None:
    """Slow describes, Search denied: the backfill takes seconds, and /metrics shows the
    running jobs long before it ends, in bodies promtool accepts."""
    async with rig(
        "--retention",
        "3650d",
        "--max-concurrency",
        "4",
        jobs=80,
        in_progress=12,
        timeout=10.0,
        latency_ms_by_op={"DescribeTrainingJob": 200.0},
    ) as (fake, h):
        fake.inject("access_denied", operation="Search")
        running = set(fake.job_names("InProgress")) | set(fake.job_names("Stopping"))
        poll = asyncio.create_task(h.poll())
        partial = ""
        async with aiohttp.ClientSession() as session:
            while not poll.done():
                async with session.get(h.url + "/metrics") as resp:
                    body = await resp.text()
                jobs = {dict(k)["training_job"] for k in find(parse_exposition(body), J + "info")}
                if running <= jobs and len(jobs) < 80:
                    partial = body
                    break
                await asyncio.sleep(0.1)
        await poll
        assert partial, "the running jobs were not on /metrics before the backfill ended"
        pending = value(parse_exposition(partial), "sagemaker_exporter_backfill_pending_jobs")
        assert pending is not None and pending > 0
        checked = subprocess.run(
            [promtool, "check", "metrics"], input=partial.encode(), capture_output=True, timeout=30
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
