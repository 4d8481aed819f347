"""The benchmark command at its small size: every scenario runs and prints its row.

The figures themselves are not asserted (they depend on the machine); docs/benchmarks.md
holds a full run. What is checked: the command works end to end against the fake server in
its own process, and each scenario produced a measurement with a same-run baseline where it
has one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {
    "1 cold sync": 3,
    "2 steady state": 1,
    "3 scrape": 4,  # gzip and plain, p50 and p99
    "4 memory": 2,  # 10% and 30% running
    "5 throttled": 1,
    "8 exporter memory": 2,
}


def test_small_benchmark_prints_a_row_per_scenario(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--size", "small", "--output", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    printed = [line.split("|")[0].strip() for line in run.stdout.splitlines() if "|" in line]
    for scenario, n in EXPECTED.items():
        assert printed.count(scenario) == n, (scenario, run.stdout)
    rows = json.loads(out.read_text())["rows"]
    assert {r["scenario"] for r in rows} == set(EXPECTED)
    for r in rows:
        assert r["exporter"] > 0, r
        if r["baseline_name"]:
            assert r["baseline"] is not None and r["baseline"] > 0, r
    throttled = next(r for r in rows if r["scenario"] == "5 throttled")
    assert throttled["notes"]["throttled"] > 0  # the fault really was on
