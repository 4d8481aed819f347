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

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: A benchmark process per scenario, a minute or more each: handed out first (tests/conftest.py).
STARTS_FIRST = True
EXPECTED = {  # --only name -> (scenario, rows printed)
    "cold": ("1 cold sync", 3),
    "steady": ("2 steady state", 1),
    "scrape": ("3 scrape", 4),  # gzip and plain, p50 and p99
    "memory": ("4 memory", 2),  # 10% and 30% running
    "throttled": ("5 throttled", 1),
    "exporter_memory": ("8 exporter memory", 2),
    "series": ("9 series", 4),  # finished, running, bytes, Prometheus head series
}


def test_every_scenario_is_smoke_tested() -> None:
    from bench.scenarios import SCENARIOS

    assert set(SCENARIOS) == set(EXPECTED)


# One command per scenario (--only): a failure names its scenario; the command, its flags and
# its output are the ones a full run uses.
@pytest.mark.parametrize("only", sorted(EXPECTED))
def test_small_benchmark_prints_a_row_per_scenario(only: str, tmp_path: Path) -> None:
    scenario, n = EXPECTED[only]
    out = tmp_path / "results.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--size",
            "small",
            "--only",
            only,
            "--output",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    printed = [line.split("|")[0].strip() for line in run.stdout.splitlines() if "|" in line]
    assert printed.count(scenario) == n, (scenario, run.stdout)
    rows = json.loads(out.read_text())["rows"]
    assert {r["scenario"] for r in rows} == {scenario}
    for r in rows:
        assert r["exporter"] > 0, r
        if r["baseline_name"]:
            assert r["baseline"] is not None and r["baseline"] > 0, r
    if only == "throttled":
        assert rows[0]["notes"]["throttled"] > 0  # the fault really was on
