"""The soak and many-targets benchmarks at a tiny size: the commands work end to end against
the fake server and the exporter as processes, and measure what they claim to.

The figures are not asserted against targets (they depend on the machine and on the run's
length); docs/benchmarks.md holds full runs. A few are checked for what must hold at any
size: samples carry a live task count and open descriptors, the hung target's cycles fail
while the others keep polling.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_soak_samples_the_exporter_process(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    run = _run(
        "bench.soak",
        "--mode",
        "fake",
        "--running",
        "10",
        "--minutes",
        "0.4",
        "--warmup",
        "0.05",
        "--interval",
        "4",
        "--no-docs",
        "--output",
        str(out),
        timeout=120,
    )
    assert run.returncode in (0, 1), run.stderr[-3000:]  # 1: "grew", which a 24 s run may
    result = json.loads(out.read_text())
    samples = result["samples"]
    assert len(samples) >= 5
    for s in samples:
        assert s["rss_bytes"] > 10 * 2**20 and s["open_fds"] > 3 and s["threads"] >= 1
        assert s["asyncio_tasks"] >= 2  # the main task and the target's poll loop
        assert s["tracked_jobs"] > 0 and s["body_gzip_bytes"] > 0
    assert samples[-1]["polls_ok"] >= 1 and samples[-1]["polls_failed"] == 0
    assert set(result["verdicts"]) == {
        "rss_bytes",
        "open_fds",
        "threads",
        "asyncio_tasks",
        "tracked_jobs",
        "body_gzip_bytes",
    }


def test_targets_measures_spread_and_a_hung_target(tmp_path: Path) -> None:
    out = tmp_path / "targets.json"
    run = _run(
        "bench.targets",
        "--roles",
        "2",
        "--regions",
        "2",
        "--cycles",
        "3",
        "--interval",
        "4",
        "--no-docs",
        "--output",
        str(out),
        timeout=150,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["targets"] == 4 and r["ready_seconds"] > 0 and r["rss_per_target_bytes"] > 0
    assert r["spread"]["polls"] >= 4 * 2  # every target polled in the measured intervals
    # Hung for 12 s with a 20 s read timeout: the hung target finishes no cycle, the other
    # three keep their 4 s cadence.
    assert not any(p["ok"] for p in r["hung_target_polls"])
    during = r["cadence_during_hang"]
    assert during["gaps"] >= 3 * 2 and during["late_over_1s"] == 0, during
