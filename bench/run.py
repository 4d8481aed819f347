"""Run the benchmarks: python -m bench.run [--size small|full] [--only cold,scrape,...]

Prints one table row per measure (exporter, baseline from the same run, ratio, lower bound,
target) and writes everything to bench/results/<size>-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench.scenarios import SCENARIOS, Row

SIZES: dict[str, dict[str, Any]] = {
    # small: every scenario in well under a minute on 2 cores (run by the CI smoke test)
    "small": {
        "cold": {"jobs": 200, "in_progress": 40, "describe_quotas": [20.0], "timeout": 60},
        "steady": {"in_progress": 100, "poll": 0.5, "cycles": 3},
        "scrape": {"jobs": [1000], "n": 12, "n_baseline": 3},
        "memory": 2000,  # more than the 1,000 jobs bench.scrape_server measures from
        "exporter_memory": 500,
        "throttled": {"jobs": 25, "timeout": 60},
        "series": {"jobs": 200, "running": 20},
    },
    # full: the figures of docs/benchmarks.md
    "full": {
        "cold": {
            "jobs": 5000,
            "in_progress": 1000,
            "describe_quotas": [5.0, 20.0, 100.0],
            "timeout": 900,
        },
        # a cycle with 1,000 running jobs takes ~2 s of CPU here: compress time 10x, not 30x
        "steady": {"in_progress": 1000, "poll": 3.0, "cycles": 20},
        "scrape": {"jobs": [1000, 10_000], "n": 200, "n_baseline": 20},
        "memory": 10_000,
        "exporter_memory": 10_000,
        "throttled": {"jobs": 200, "timeout": 600},
        # as a new user tried it: 2,000 jobs, 200 running, scraped by a real Prometheus
        "series": {"jobs": 2000, "running": 200},
    },
}
RESULTS = Path(__file__).resolve().parent / "results"


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def table(rows: list[Row]) -> str:
    head = (
        "scenario",
        "measure",
        "unit",
        "exporter",
        "baseline",
        "ratio",
        "bound",
        "target",
        "met",
    )
    lines = [head]
    for r in rows:
        ratio = f"{r.ratio:.1f}x" if r.ratio is not None else "-"
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        lines.append(
            (
                r.scenario,
                r.measure,
                r.unit,
                _fmt(r.exporter),
                _fmt(r.baseline),
                ratio,
                _fmt(r.bound),
                r.target or "-",
                met,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(out)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        (
            ln.split()[1]
            for ln in Path("/proc/meminfo").read_text().splitlines()
            if ln.startswith("MemTotal")
        ),
        "0",
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(int(mem) / 2**20, 1),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--only", help="comma-separated scenarios: " + ",".join(SCENARIOS))
    p.add_argument("--output", help="JSON results file (default: bench/results/...)")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    size = SIZES[args.size]
    rows: list[Row] = []
    timings: dict[str, float] = {}
    for name in names:
        t0 = time.monotonic()
        print(f"== {name} ...", file=sys.stderr, flush=True)
        new = SCENARIOS[name](size)
        timings[name] = time.monotonic() - t0
        rows += new
        print(table(new), file=sys.stderr, flush=True)
    print(table(rows))
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = Path(args.output) if args.output else RESULTS / f"{args.size}-{stamp}.json"
    path.write_text(
        json.dumps(
            {
                "size": args.size,
                "machine": machine(),
                "seconds": timings,
                "rows": [r.as_dict() for r in rows],
            },
            indent=2,
        )
    )
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
