"""Command line of the fake SageMaker server: python -m fake_aws --help.

Prints one JSON line {"endpoint_url": ..., "jobs": N} once listening, then serves until
SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from fake_aws.faults import FaultRule
from fake_aws.server import FakeSageMaker


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m fake_aws",
        description="Fake SageMaker API for benchmarks and fault tests.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    p.add_argument("--port-file", help="write the bound port to this file once listening")
    p.add_argument("--jobs", type=int, default=5000)
    p.add_argument("--in-progress", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--account-id", default="123456789012")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument(
        "--rate-limit",
        action="append",
        default=[],
        metavar="OP=RPS",
        help="token bucket per operation, e.g. DescribeTrainingJob=20 (repeatable)",
    )
    p.add_argument("--burst", type=float, help="bucket size (default: max(1, rps))")
    p.add_argument(
        "--churn",
        type=float,
        default=0.0,
        help="share of running jobs that change state per tick, e.g. 0.05",
    )
    p.add_argument("--tick-interval", type=float, default=1.0)
    p.add_argument(
        "--no-replenish", action="store_true", help="do not start a new job when a running one ends"
    )
    p.add_argument("--empty-page-every", type=int, default=0)
    p.add_argument("--max-page-size", type=int, default=0)
    p.add_argument("--hang-seconds", type=float, default=30.0)
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="JSON",
        help='e.g. \'{"kind": "throttle", "operation": "ListTags", "fraction": 0.1}\'',
    )
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    limits = {}
    for item in args.rate_limit:
        op, _, rps = item.partition("=")
        limits[op] = float(rps)
    fake = FakeSageMaker(
        jobs=args.jobs,
        in_progress=args.in_progress,
        seed=args.seed,
        region=args.region,
        account_id=args.account_id,
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        rate_limits=limits,
        burst=args.burst,
        churn=args.churn,
        tick_interval=args.tick_interval,
        replenish=not args.no_replenish,
        empty_page_every=args.empty_page_every,
        max_page_size=args.max_page_size,
        hang_seconds=args.hang_seconds,
    )
    for raw in args.fault:
        fake.add_fault(FaultRule.from_json(json.loads(raw)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with fake:
        if args.port_file:  # write then rename, so a reader never sees a partial file
            tmp = f"{args.port_file}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(f"{fake.port}\n")
            os.replace(tmp, args.port_file)
        print(
            json.dumps({"endpoint_url": fake.endpoint_url, "jobs": len(fake.store.jobs)}),
            flush=True,
        )
        await stop.wait()


def run(argv: list[str] | None = None) -> int:
    try:
        asyncio.run(_serve(_parse_args(argv)))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
