"""Soak: run the exporter for a long time under churn and watch for anything that grows.

    .venv/bin/python -m bench.soak --mode fake --minutes 40     # against the fake SageMaker
    .venv/bin/python -m bench.soak --mode demo --minutes 40     # --demo (moto in-process)

The exporter runs as a process (`python -m exporter.cli`) with default flags except the
endpoint and a short --retention, so jobs are created, progress, finish and are evicted
many times over. Every --interval seconds the benchmark reads, from outside: RSS, open
descriptors and threads (/proc/<pid>), the asyncio task count, tracked jobs, poll counts
and CPU (the exporter's own /metrics), and the gzip body size. At the end it judges each
series (bench/soak_report.py says how), writes bench/results/soak-<mode>-<time>.json, a PNG
in docs/img/, and its section of docs/benchmarks.md. Exit status 1 if a series grew.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.harness import ROOT, ExporterProcess, FakeProcess, rss_bytes
from bench.soak_report import Sample, judge, markdown, plot, replace_section

DOC = ROOT / "docs" / "benchmarks.md"


# The fake (--running 200 by default): 200 jobs running at any time, 1% of them moving one
# step each second, so a job lives about 7 minutes (Starting -> Downloading -> Training ->
# Uploading -> end) and ~30 finish per minute; a new one starts for each that ends.
def fake_args(running: int) -> tuple[str, ...]:
    return (
        "--jobs",
        str(5 * running),
        "--in-progress",
        str(running),
        "--churn",
        "0.01",
        "--tick-interval",
        "1",
        "--latency-ms",
        "20",
        "--seed",
        "13",
    )


def _status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def read_sample(proc: ExporterProcess, started: float) -> Sample:
    pid = proc.proc.pid
    req = urllib.request.Request(proc.url + "/metrics", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        zipped = resp.headers.get("Content-Encoding") == "gzip"
    text = (gzip.decompress(raw) if zipped else raw).decode()
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "sagemaker_exporter_polls_total":
                key = f"polls_{s.labels['result']}"
            elif s.name in (
                "sagemaker_exporter_tracked_jobs",
                "sagemaker_exporter_asyncio_tasks",
                "process_cpu_seconds_total",
            ):
                key = s.name
            else:
                continue
            values[key] = values.get(key, 0.0) + s.value
    return Sample(
        at=time.monotonic() - started,
        rss_bytes=rss_bytes(pid),
        open_fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=_status(pid, "Threads"),
        asyncio_tasks=values.get("sagemaker_exporter_asyncio_tasks", float("nan")),
        tracked_jobs=values.get("sagemaker_exporter_tracked_jobs", 0.0),
        body_gzip_bytes=len(raw),
        cpu_seconds=values.get("process_cpu_seconds_total", 0.0),
        polls_ok=values.get("polls_success", 0.0),
        polls_failed=values.get("polls_failure", 0.0),
    )


def soak(
    proc: ExporterProcess, minutes: float, interval: float, on_sample: Callable[[Sample], None]
) -> list[Sample]:
    started = proc.started
    proc.wait_ready(300)
    samples: list[Sample] = []
    deadline = started + minutes * 60
    next_at = time.monotonic()
    while True:
        if proc.proc.poll() is not None:
            raise RuntimeError("exporter died: " + "".join(proc.raw_lines[-20:]))
        sample = read_sample(proc, started)
        samples.append(sample)
        on_sample(sample)
        next_at += interval
        if next_at > deadline:
            return samples
        time.sleep(max(0.0, next_at - time.monotonic()))


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%h %s"],
            cwd=ROOT,
            text=True,
            capture_output=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _print(sample: Sample) -> None:
    print(
        f"{sample.at / 60:6.1f} min  rss {sample.rss_bytes / 2**20:6.1f} MiB  "
        f"fds {sample.open_fds:3d}  threads {sample.threads:3d}  "
        f"tasks {sample.asyncio_tasks:4.0f}  jobs {sample.tracked_jobs:6.0f}  "
        f"body {sample.body_gzip_bytes / 1024:7.1f} KiB  cpu {sample.cpu_seconds:6.1f} s",
        flush=True,
    )


def run(
    mode: str,
    minutes: float,
    warmup: float,
    interval: float,
    retention: str,
    demo_speed: float,
    write_docs: bool,
    output: Path | None = None,
    running: int = 200,
) -> tuple[list[Sample], bool]:
    commit = _commit()  # what is measured is what was checked out at the start
    flags = ["--retention", retention]
    if mode == "fake":
        args = fake_args(running)
        with FakeProcess(*args) as fake, ExporterProcess(fake.url, *flags) as proc:
            samples = soak(proc, minutes, interval, _print)
        setup = (
            f"Fake SageMaker `{' '.join(args)}` ({running} running jobs, about "
            f"{running * 0.6 / 4:.0f} finishing and as many starting each minute); "
            f"exporter defaults but `--retention {retention}`."
        )
    else:
        flags += ["--demo", "--demo-speed", f"{demo_speed:g}"]
        with ExporterProcess(None, *flags) as proc:
            samples = soak(proc, minutes, interval, _print)
        simulated = minutes * demo_speed / 60
        setup = (
            f"`--demo --demo-speed {demo_speed:g}`: {simulated:.0f} hours of simulated "
            f"time, moto in the same process (its memory is in the RSS); demo defaults "
            f"but `--retention {retention}`."
        )
    verdicts = judge(samples, warmup * 60)
    flat = all(t.flat for t in verdicts.values())
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = output or ROOT / "bench" / "results" / f"soak-{mode}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "mode": mode,
                "minutes": minutes,
                "warmup_minutes": warmup,
                "commit": commit,
                "samples": [asdict(s) for s in samples],
                "verdicts": {k: asdict(v) for k, v in verdicts.items()},
            },
            indent=1,
        )
    )
    print(f"wrote {out}")
    for name, t in verdicts.items():
        print(
            f"  {name:16s} growth {t.growth:12.1f}  noise {t.noise:10.1f}  floor "
            f"{t.floor:10.1f}  {'flat' if t.flat else 'GREW'}"
        )
    if write_docs:
        image = f"img/soak-{mode}.png"
        title = (
            "Soak against the fake SageMaker"
            if mode == "fake"
            else "Soak of --demo (moto in the same process)"
        )
        plot(samples, warmup * 60, title, ROOT / "docs" / image)
        command = (
            f".venv/bin/python -m bench.soak --mode {mode} --minutes {minutes:g} "
            f"--warmup {warmup:g}" + ("" if mode == "fake" else f" --demo-speed {demo_speed:g}")
        )
        setup += f' Run on {time.strftime("%Y-%m-%d")} at commit "{commit}".'
        section = markdown(title, command, setup, samples, warmup * 60, image)
        DOC.write_text(replace_section(DOC.read_text(), f"soak-{mode}", section))
        print(f"updated {DOC.relative_to(ROOT)} and docs/{image}")
    return samples, flat


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("fake", "demo"), default="fake")
    p.add_argument("--minutes", type=float, default=40.0)
    p.add_argument("--warmup", type=float, default=15.0, help="minutes not judged")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between samples")
    p.add_argument("--retention", default="10m")
    p.add_argument("--demo-speed", type=float, default=60.0)
    p.add_argument(
        "--running",
        type=int,
        default=200,
        help="fake mode: running jobs (the fleet is 5x), each moving a step a 100 s on average",
    )
    p.add_argument("--output", type=Path, help="the JSON results (default: bench/results/)")
    p.add_argument(
        "--no-docs",
        action="store_true",
        help="do not write docs/benchmarks.md and the PNG (smoke runs)",
    )
    args = p.parse_args(argv)
    if args.warmup >= args.minutes:
        p.error("--warmup must be shorter than --minutes")
    _, flat = run(
        args.mode,
        args.minutes,
        args.warmup,
        args.interval,
        args.retention,
        args.demo_speed,
        not args.no_docs,
        args.output,
        args.running,
    )
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
