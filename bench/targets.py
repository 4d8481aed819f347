"""Hundreds of targets: 50 roles x 4 regions in one exporter process.

    .venv/bin/python -m bench.targets                  # 200 targets, ~8 minutes
    .venv/bin/python -m bench.targets --roles 5 --cycles 2 --no-docs   # a quick look

One fake SageMaker process answers every target (it answers AssumeRole too, and scopes
fault rules by the region and account a request is signed for). The fleet is empty, so what
is measured is the cost of a target itself, not of its jobs. Measured: seconds from process
start to /readyz, RSS per target (against a one-target run of the same build), how poll
cycle starts spread over the poll interval, and, while one target hangs (every SageMaker
call of one account in one region never answers), the cadence of all the others.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.harness import ROOT, ExporterProcess, FakeProcess, rss_bytes
from bench.soak_report import replace_section
from bench.targets_report import cadence, poll_events, spread

REGIONS = ("us-east-1", "eu-west-1", "us-west-2", "ap-northeast-1")
FAKE_ARGS = ("--jobs", "0", "--in-progress", "0", "--latency-ms", "20")
DOC = ROOT / "docs" / "benchmarks.md"


def role(i: int) -> str:
    return f"arn:aws:iam::{100000000000 + i:012d}:role/SageMakerTrainingExporterReader"


def exporter_flags(roles: int, regions: int, interval: float) -> list[str]:
    # harness.ExporterProcess adds --region us-east-1 itself
    flags = ["--no-base-account", "--poll-interval", f"{interval:g}s"]
    for i in range(roles):
        flags += ["--role-arn", role(i)]
    for region in REGIONS[1:regions]:
        flags += ["--region", region]
    return flags


def one_target_rss(fake: FakeProcess, settle: float) -> int:
    with ExporterProcess(fake.url, *exporter_flags(1, 1, settle)) as proc:
        proc.wait_ready(120)
        time.sleep(settle)
        return rss_bytes(proc.proc.pid)


def measure(roles: int, regions: int, cycles: int, interval: float) -> dict[str, Any]:
    n = roles * regions
    commit = _commit()  # what is measured is what was checked out at the start
    with FakeProcess(*FAKE_ARGS) as fake:
        base_rss = one_target_rss(fake, interval)
        with ExporterProcess(fake.url, *exporter_flags(roles, regions, interval)) as proc:
            t_ready = proc.wait_ready(600)
            ready_at = time.time()
            # Two intervals: every target's first cycle is done and, with jitter, each has
            # moved to its own phase.
            time.sleep(2 * interval)
            rss = rss_bytes(proc.proc.pid)
            base_begin = time.time()
            time.sleep(cycles * interval)
            hung = (REGIONS[min(1, regions - 1)], role(min(7, roles - 1)).split(":")[4])
            rule = fake.control(
                "faults",
                {"kind": "timeout", "region": hung[0], "account_id": hung[1], "hang_seconds": 3600},
            )
            hang_begin = time.time()
            time.sleep(cycles * interval)
            hang_end = time.time()
            fake.control(f"faults/{rule['ids'][0]}", method="DELETE")
            polls = poll_events(list(proc.events))
    starts = [p.start for p in polls]
    first = [p for p in polls if p.start < ready_at]
    hung_polls = [p for p in polls if p.target == hung and hang_begin <= p.start < hang_end]
    return {
        "targets": n,
        "roles": roles,
        "regions": regions,
        "poll_interval": interval,
        "ready_seconds": t_ready,
        "rss_bytes": rss,
        "one_target_rss_bytes": base_rss,
        "rss_per_target_bytes": (rss - base_rss) / max(1, n - 1),
        "first_cycles": len(first),
        "first_cycle_max_seconds": max((p.duration for p in first), default=0.0),
        "spread": asdict(spread(starts, base_begin, interval, cycles)),
        "cadence_before": asdict(cadence(polls, interval, base_begin, hang_begin)),
        "cadence_during_hang": asdict(cadence(polls, interval, hang_begin, hang_end, [hung])),
        "hung_target": list(hung),
        "hung_target_polls": [{"ok": p.ok, "duration": p.duration} for p in hung_polls],
        "commit": commit,
    }


def _commit() -> str:
    out = subprocess.run(
        ["git", "log", "-1", "--format=%h %s"],
        cwd=ROOT,
        text=True,
        capture_output=True,
        check=False,
    )
    return out.stdout.strip() or "unknown"


def markdown(r: dict[str, Any], command: str) -> str:
    s, before, during = r["spread"], r["cadence_before"], r["cadence_during_hang"]
    hung = r["hung_target_polls"]
    hung_text = (
        ", ".join(f"{'ok' if h['ok'] else 'failed'} after {h['duration']:.0f} s" for h in hung)
        or "none finished"
    )
    rows = [
        (
            "time to /readyz (process start to 200)",
            f"{r['ready_seconds']:.1f} s",
            f"every target's first cycle, AssumeRole included; slowest first cycle "
            f"{r['first_cycle_max_seconds']:.1f} s",
        ),
        (
            "RSS",
            f"{r['rss_bytes'] / 2**20:.0f} MiB",
            f"one target: {r['one_target_rss_bytes'] / 2**20:.0f} MiB",
        ),
        (
            "memory per target",
            f"{r['rss_per_target_bytes'] / 1024:.0f} KiB",
            "(RSS - one-target RSS) / (targets - 1), empty fleet",
        ),
        (
            "poll starts in the busiest second of an interval",
            f"{s['busiest_second']}",
            f"{s['polls']} cycle starts over {s['intervals']} intervals; an even spread gives "
            f"{s['mean_per_second']:.1f} per second",
        ),
        (
            "share of starts in the busiest tenth of the interval",
            f"{s['share_in_busiest_tenth']:.0%}",
            "an even spread gives 10%",
        ),
        (
            "other targets' gap between cycles, no hang",
            f"median {before['median']:.2f} s",
            f"{before['gaps']} gaps, worst {before['max_late']:+.2f} s against the interval, "
            f"{before['late_over_1s']} more than 1 s late",
        ),
        (
            "other targets' gap between cycles, one target hung",
            f"median {during['median']:.2f} s",
            f"{during['gaps']} gaps, worst {during['max_late']:+.2f} s against the interval, "
            f"{during['late_over_1s']} more than 1 s late",
        ),
        ("the hung target's cycles", f"{len(hung)}", hung_text),
    ]
    lines = [
        "### Hundreds of targets",
        "",
        f"`{command}`",
        "",
        f"{r['targets']} targets ({r['roles']} roles x {r['regions']} regions, "
        f"`--no-base-account`), default flags (`--poll-interval "
        f"{r['poll_interval']:g}s`), fake SageMaker `{' '.join(FAKE_ARGS)}` answering "
        f"AssumeRole and SageMaker for all of them. The hung target "
        f"({r['hung_target'][0]}, {r['hung_target'][1]}): every SageMaker call signed for it "
        f"hangs (fault rule `timeout`, 3600 s) for {r['spread']['intervals']} intervals. "
        f'Run on {time.strftime("%Y-%m-%d")} at commit "{r["commit"]}".',
        "",
        "| measure | figure | notes |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.targets", description=__doc__.split("\n")[0])
    p.add_argument("--roles", type=int, default=50)
    p.add_argument("--regions", type=int, default=4, choices=range(1, len(REGIONS) + 1))
    p.add_argument(
        "--cycles", type=int, default=4, help="intervals measured, with and without the hung target"
    )
    p.add_argument(
        "--interval",
        type=float,
        default=30.0,
        help="--poll-interval of the exporter (30 s is its default)",
    )
    p.add_argument("--output", type=Path, help="the JSON results (default: bench/results/)")
    p.add_argument("--no-docs", action="store_true")
    args = p.parse_args(argv)
    r = measure(args.roles, args.regions, args.cycles, args.interval)
    out = (
        args.output or ROOT / "bench" / "results" / f"targets-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(r, indent=1))
    command = ".venv/bin/python -m bench.targets" + (
        ""
        if (args.roles, args.regions, args.cycles, args.interval) == (50, 4, 4, 30.0)
        else f" --roles {args.roles} --regions {args.regions} --cycles {args.cycles} "
        f"--interval {args.interval:g}"
    )
    section = markdown(r, command)
    print(section)
    print(f"wrote {out}")
    if not args.no_docs:
        DOC.write_text(replace_section(DOC.read_text(), "targets", section))
    return 0


if __name__ == "__main__":
    sys.exit(main())
