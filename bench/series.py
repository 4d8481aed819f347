"""Scenario 9: what a Prometheus that scrapes us pays, at default flags, beside the full set
(`--finished-series full`, every family for finished jobs too, as before the lean default)
in the same run: series per finished and per running job, plain exposition bytes per job,
and the head series of a real Prometheus after it scraped the exporter once.

    python -m bench.run --only series [--size small|full]
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bench.harness import ExporterProcess, FakeProcess, http, wait_for

RETENTION = "8d"  # the fake's finished jobs span 7 days: every job counts
JOB_PREFIX = "sagemaker_training_job_"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def per_job(text: str) -> tuple[dict[str, int], set[str], int]:
    """(series per job, the running jobs, bytes of the per-job lines) of a plain body."""
    series: Counter[str] = Counter()
    running: set[str] = set()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            job = s.labels.get("training_job")
            if job is None or not s.name.startswith(JOB_PREFIX):
                continue
            series[job] += 1
            if s.name == JOB_PREFIX + "status" and s.labels["status"] == "InProgress" and s.value:
                running.add(job)
    size = sum(
        len(line) + 1
        for line in text.splitlines()
        if line.startswith(JOB_PREFIX) and "training_job=" in line
    )
    return dict(series), running, size


def _prometheus_head_series(target: str) -> tuple[float, float]:
    """(head series, of them the exporter's) after a real Prometheus scraped `target` once."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus is required (Debian package 'prometheus')")
    port = _free_port()
    with tempfile.TemporaryDirectory() as d:
        config = Path(d, "prometheus.yml")
        config.write_text(
            "global: {scrape_interval: 2s, scrape_timeout: 2s}\n"
            "scrape_configs:\n"
            f"  - job_name: exporter\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={d}/data",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            api = f"http://127.0.0.1:{port}/api/v1/query?query="

            def query(expr: str) -> float | None:
                try:
                    got: Any = http(api + urllib.parse.quote(expr), timeout=10)
                except OSError:
                    return None
                result = got["data"]["result"]
                return float(result[0]["value"][1]) if result else None

            # after a scrape the head block holds every series it brought (later scrapes of
            # the same series add samples, not series)
            wait_for("Prometheus to scrape the exporter", lambda: query('up{job="exporter"}'), 120)
            ours = query('count({job="exporter"})') or 0.0
            tsdb: Any = http(f"http://127.0.0.1:{port}/api/v1/status/tsdb", timeout=10)
            return float(tsdb["data"]["headStats"]["numSeries"]), ours
        finally:
            proc.terminate()
            proc.wait(30)


def measure(jobs: int, running: int, mode: str) -> dict[str, float]:
    with (
        FakeProcess(
            "--jobs", str(jobs), "--in-progress", str(running), "--tick-interval", "0"
        ) as fake,
        ExporterProcess(fake.url, "--retention", RETENTION, "--finished-series", mode) as exp,
    ):
        exp.wait_ready(600)
        time.sleep(3)  # the describes of the running jobs shown from Search
        with urllib.request.urlopen(exp.url + "/metrics", timeout=60) as r:
            text = r.read().decode()
        series, active, size = per_job(text)
        head, ours = _prometheus_head_series(exp.url.removeprefix("http://"))
    finished = [n for j, n in series.items() if j not in active]
    run = [n for j, n in series.items() if j in active]
    return {
        "jobs": len(series),
        "finished_series": sum(finished) / max(1, len(finished)),
        "finished_max": max(finished, default=0),
        "running_series": sum(run) / max(1, len(run)),
        "running_max": max(run, default=0),
        "bytes_per_job": size / max(1, len(series)),
        "head_series_per_job": head / max(1, len(series)),
        "exporter_series": ours,
    }
