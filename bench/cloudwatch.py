"""CloudWatch source cost and speed: python -m bench.cloudwatch [--running 1000]

The real Exporter (--cloudwatch) against the in-process fake SageMaker, which also answers
GetMetricData and DescribeInstanceTypes: one SageMaker poll, then CloudWatch cycles. Prints
the hosts asked about, the metrics requested (what CloudWatch bills) and the calls per cycle,
the cycle's wall time, and what the host series add to a /metrics scrape.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import aiohttp

from exporter.app import Exporter
from exporter.cli import load_settings
from fake_aws.server import FakeSageMaker


async def _scrape_ms(url: str, n: int) -> tuple[float, int]:
    times, size = [], 0
    async with aiohttp.ClientSession() as s:
        for _ in range(n):
            start = time.perf_counter()
            async with s.get(url, headers={"Accept-Encoding": "gzip"}) as r:
                size = len(await r.read())
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), size


async def main(running: int, jobs: int, cycles: int) -> None:
    # Dummy credentials for the fake; never real ones.
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true"
    )
    async with FakeSageMaker(jobs=jobs, in_progress=running, seed=3, tick_interval=0) as fake:
        argv = [
            "--endpoint-url",
            fake.endpoint_url,
            "--listen-address",
            "127.0.0.1:0",
            "--region",
            "us-east-1",
            "--cloudwatch",
            "--cloudwatch-budget",
            "0",
            "--describe-rps",
            "1000",
        ]
        async with Exporter(load_settings(argv, environ={})) as exp:
            server = await exp.start_http()
            url = f"http://127.0.0.1:{server.port}/metrics"
            await exp.poll_all()
            before_ms, before_size = await _scrape_ms(url, 50)
            for i in range(cycles):
                fake.reset_stats()
                start = time.perf_counter()
                [r] = await exp.poll_cloudwatch()
                took = time.perf_counter() - start
                calls = fake.calls("GetMetricData")
                print(
                    f"cycle {i + 1}: {r.hosts} hosts, {r.requested} metrics requested in "
                    f"{calls} GetMetricData calls, {r.samples} samples, {took:.2f} s"
                    f" (ok={r.ok})"
                )
            after_ms, after_size = await _scrape_ms(url, 50)
            print(
                f"/metrics p50 gzip: {before_ms:.1f} ms, {before_size} B without host series;"
                f" {after_ms:.1f} ms, {after_size} B with them"
            )


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--running", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--cycles", type=int, default=3)
    a = ap.parse_args()
    asyncio.run(main(a.running, a.jobs, a.cycles))
