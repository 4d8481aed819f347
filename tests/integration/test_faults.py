"""The exporter under API faults: the real Exporter (real aiobotocore, real HTTP scrapes)
against the fake SageMaker server (fake_aws/server.py) with faults switched on and off.

For every fault: /metrics keeps answering with the last good data, target_up and the last
success timestamp tell the truth, the failure is counted and logged once per cycle, and the
next poll after the fault clears brings everything up to date.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from fake_aws.server import FakeSageMaker
from tests.support.exposition import Samples, find, parse_exposition, value
from tests.support.fake_rig import (
    ACCOUNT,
    EU,
    OTHER_ACCOUNT,
    OTHER_ROLE,
    US,
    J,
    attempts,
    problems,
    rig,
    statuses,
)

# kind, operation, the exporter's outcome label for the attempts, extra FaultRule arguments
FAULTS = [
    ("throttle", "DescribeTrainingJob", "throttled", {}),
    ("throttle", "ListTrainingJobs", "throttled", {}),
    ("server_error", "DescribeTrainingJob", "server_error", {"status": 503}),
    ("server_error", "ListTrainingJobs", "server_error", {"status": 502}),
    ("timeout", "DescribeTrainingJob", "network_error", {"hang_seconds": 10}),
    ("timeout", "ListTrainingJobs", "network_error", {"hang_seconds": 10}),
    ("reset", "DescribeTrainingJob", "network_error", {}),
    ("reset", "ListTrainingJobs", "network_error", {}),
    ("access_denied", "ListTrainingJobs", "client_error", {}),
    ("access_denied", "DescribeTrainingJob", "client_error", {}),
    ("expired_token", "ListTrainingJobs", "client_error", {}),
    ("expired_token", "DescribeTrainingJob", "client_error", {}),
    # A 200 with a body that is not (all) JSON is the server's fault, not an "ok" call.
    ("malformed_json", "DescribeTrainingJob", "server_error", {}),
    ("malformed_json", "ListTrainingJobs", "server_error", {}),
    ("truncated_json", "DescribeTrainingJob", "server_error", {}),
    ("truncated_json", "ListTrainingJobs", "server_error", {}),
]


@pytest.mark.parametrize(
    ("kind", "op", "outcome", "extra"), FAULTS, ids=[f"{f[0]}-{f[1]}" for f in FAULTS]
)
async def test_fault_keeps_last_good_data_and_recovers(
    kind: str, op: str, outcome: str, extra: dict[str, Any]
) -> None:
    with capture_logs() as logs:
        async with rig(replenish=False) as (fake, h):
            [first] = await h.poll()
            assert first.ok and first.described > 0
            good = await h.scrape()
            good_at = value(good, "sagemaker_exporter_last_successful_poll_timestamp_seconds")
            assert value(good, "sagemaker_exporter_target_up") == 1 and good_at
            before = statuses(good)
            assert len(before) == value(good, "sagemaker_exporter_tracked_jobs")

            # Some running jobs move on, so the next cycle has describes to make.
            changed = fake.tick(churn=0.5)
            assert changed
            fake.reset_stats()
            fake.inject(kind, operation=op, **extra)  # type: ignore[arg-type]
            logs.clear()
            [bad] = await h.poll()
            assert not bad.ok
            served = fake.calls(op)
            assert served >= 1

            s = await h.scrape()  # the HTTP answer itself is checked by scrape (200)
            assert value(s, "sagemaker_exporter_target_up") == 0
            assert value(s, "sagemaker_exporter_last_successful_poll_timestamp_seconds") == good_at
            assert value(s, "sagemaker_exporter_polls_total", result="failure") == 1
            # Every attempt the fake answered (retries included) is counted with the outcome.
            assert attempts(s, op, outcome) == served
            # The last good data stays: same jobs, same states as before the fault.
            assert statuses(s) == before
            failed = problems(logs)
            assert len(failed) == 1, failed  # one line for the cycle, however many jobs failed
            assert failed[0]["event"] == "poll failed" and failed[0]["region"] == US
            assert any(k.startswith(op) for k in failed[0]["errors"])

            fake.clear_faults()
            logs.clear()
            [again] = await h.poll()
            assert again.ok, again.errors
            s = await h.scrape()
            assert value(s, "sagemaker_exporter_target_up") == 1
            assert (
                value(s, "sagemaker_exporter_last_successful_poll_timestamp_seconds") or 0
            ) > good_at
            now = statuses(s)
            for name in changed:
                doc = fake.job(name)
                assert now[name] == (doc["TrainingJobStatus"], doc["SecondaryStatus"]), name
            assert not problems(logs)


async def test_job_vanishing_between_list_and_describe_is_dropped_not_a_failure() -> None:
    with capture_logs() as logs:
        async with rig(replenish=False) as (fake, h):
            assert (await h.poll())[0].ok
            known = fake.job_names()
            fake.tick(churn=0.5)
            fake.inject("vanish", operation="DescribeTrainingJob", count=1)
            [r] = await h.poll()
            assert r.ok and r.removed == 1
            gone = [n for n in known if n not in fake.job_names()]
            assert len(gone) == 1
            s = await h.scrape()
            assert gone[0] not in statuses(s)
            assert value(s, "sagemaker_exporter_target_up") == 1
            assert value(s, "sagemaker_exporter_tracked_jobs") == len(statuses(s))
            assert not problems(logs)


async def test_throttled_fraction_converges_with_bounded_retries() -> None:
    """30% of describes throttled: with 4 attempts per call every job gets through, and the
    exporter makes no more attempts than the calls it needed plus the throttled ones."""
    async with rig(jobs=30, in_progress=10, max_attempts=4) as (fake, h):
        # Search denied, so every job is described: enough describes for the seeded 30% to
        # hit whatever the timing (with Search, as few as 5 describes could remain).
        fake.inject("access_denied", operation="Search")
        fake.inject("throttle", operation="DescribeTrainingJob", fraction=0.3)
        [r] = await h.poll()
        assert r.ok, r.errors
        s = await h.scrape()
        throttled = fake.calls("DescribeTrainingJob", "throttled")
        assert throttled > 0
        assert attempts(s, "DescribeTrainingJob", "throttled") == throttled
        assert attempts(s, "DescribeTrainingJob", "ok") == r.described
        assert throttled < r.described  # no storm: ~0.3/0.7 retries per call, not more


async def test_scrapes_during_the_backfill_each_see_one_consistent_batch() -> None:
    """The backfill commits in batches: running jobs show first, every scrape is one
    consistent snapshot (tracked_jobs and pending agree with the body) and passes the
    parser. Search is denied here, so every job is described (the slow path)."""
    async with rig(
        "--retention",
        "3650d",
        "--max-concurrency",
        "8",
        jobs=60,
        in_progress=20,
        timeout=10.0,
        latency_ms_by_op={"DescribeTrainingJob": 300.0},
    ) as (fake, h):
        fake.inject("access_denied", operation="Search")
        running = set(fake.job_names("InProgress")) | set(fake.job_names("Stopping"))
        poll = asyncio.create_task(h.poll())
        bodies: list[str] = []
        async with aiohttp.ClientSession() as session:

            async def one() -> str:
                async with session.get(h.url + "/metrics") as r:
                    assert r.status == 200
                    return await r.text()

            while not poll.done():
                seen = fake.calls("DescribeTrainingJob")
                bodies += await asyncio.gather(*(one() for _ in range(10)))
                while fake.calls("DescribeTrainingJob") == seen and not poll.done():
                    await asyncio.sleep(0.005)
        [r] = await poll
        assert r.ok and r.described == 60 and r.searched == 0
        counts = []
        for body in dict.fromkeys(bodies):  # in order; identical bodies parsed once
            s = parse_exposition(body)
            jobs = {dict(k)["training_job"] for k in find(s, J + "info")}
            tracked = value(s, "sagemaker_exporter_tracked_jobs")
            pending = value(s, "sagemaker_exporter_backfill_pending_jobs")
            assert tracked in (len(jobs), None), "tracked_jobs disagrees with the body"
            if jobs and pending is not None:
                assert len(jobs) + pending <= 60
            if jobs and not counts:
                assert jobs <= running, "the first batch on /metrics holds finished jobs"
            if jobs:
                counts.append(len(jobs))
        assert any(0 < n < 60 for n in counts), f"no partial batch seen: {sorted(set(counts))}"
        s = await h.scrape()
        assert value(s, "sagemaker_exporter_backfill_pending_jobs") == 0
        assert value(s, "sagemaker_exporter_search_enabled") == 0


async def test_one_failing_region_does_not_stop_the_other() -> None:
    """eu-west-1 hangs on every call; us-east-1 keeps polling on its own cadence."""
    async with rig("--region", US, "--region", EU, "--poll-interval", "200ms") as (fake, h):
        fake.inject("timeout", region=EU, hang_seconds=30)
        stop = asyncio.Event()
        runner = asyncio.create_task(h.exporter.run(stop))
        deadline = time.monotonic() + 20
        s: Samples = {}
        while time.monotonic() < deadline:
            s = await h.scrape()
            if (value(s, "sagemaker_exporter_polls_total", region=US, result="success") or 0) >= 3:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await runner
        assert (value(s, "sagemaker_exporter_polls_total", region=US, result="success") or 0) >= 3
        assert value(s, "sagemaker_exporter_target_up", region=US) == 1
        assert statuses(s, US)
        assert not statuses(s, EU)
        assert (value(s, "sagemaker_exporter_polls_total", region=EU, result="success") or 0) == 0


async def test_one_failing_account_does_not_stop_the_other() -> None:
    async with rig("--role-arn", OTHER_ROLE) as (fake, h):
        fake.inject("access_denied", account_id=OTHER_ACCOUNT)
        results = await h.poll()
        assert sorted(r.ok for r in results) == [False, True]
        s = await h.scrape()
        assert value(s, "sagemaker_exporter_target_up", account_id=ACCOUNT) == 1
        assert value(s, "sagemaker_exporter_target_up", account_id=OTHER_ACCOUNT) == 0
        assert find(s, J + "info", account_id=ACCOUNT)
        assert not find(s, J + "info", account_id=OTHER_ACCOUNT)
        assert attempts(s, "ListTrainingJobs", "client_error") == 0
        assert (
            attempts(s, "ListTrainingJobs", "client_error", account_id=OTHER_ACCOUNT)
            == fake.calls("ListTrainingJobs", "error")
            > 0
        )


async def test_sigterm_during_a_poll_exits_cleanly() -> None:
    async with FakeSageMaker(
        jobs=40,
        in_progress=10,
        seed=3,
        tick_interval=0,
        latency_ms_by_op={"DescribeTrainingJob": 5000},
    ) as fake:
        env = dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "exporter.cli",
            "--endpoint-url",
            fake.endpoint_url,
            "--region",
            US,
            "--listen-address",
            "127.0.0.1:0",
            "--log-format",
            "json",
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            assert proc.stderr is not None
            deadline = time.monotonic() + 20
            while fake.calls("ListTrainingJobs", "ok") == 0:  # the listing is done: describes
                assert time.monotonic() < deadline and proc.returncode is None  # are in flight
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            assert fake.calls("DescribeTrainingJob") == 0  # still in the middle of the cycle
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), timeout=15)
            took = time.monotonic() - t0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, err.decode()
        assert took < 5, took
        events = [json.loads(line)["event"] for line in err.decode().splitlines()]
        assert events[-2:] == ["stopping", "stopped"], events
        assert "poll crashed" not in events
