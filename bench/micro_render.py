"""Render and gzip cost per job, in one process, without HTTP: for paired comparisons of
two commits on a busy machine (run each a few times, alternating, and compare the best).

    python -m bench.micro_render [label]
"""

from __future__ import annotations

import statistics
import sys
import time

from bench.scrape_server import CTX, jobs
from exporter.metrics.training_jobs import render_job
from exporter.store.objects import training_store


def main() -> None:
    fleet = list(jobs(10_000))
    start = time.perf_counter()
    for job in fleet:
        render_job(job, CTX)
    render_us = (time.perf_counter() - start) / len(fleet) * 1e6
    store = training_store()
    for job in fleet:
        store.upsert("t", job, CTX)
    store.exposition_gzip()
    running = [j for j in fleet if j.is_active]
    times = []
    for i in range(150):
        store.upsert("t", running[i % len(running)], CTX)
        start = time.perf_counter()
        store.exposition_gzip()
        times.append(time.perf_counter() - start)
    label = sys.argv[1] if len(sys.argv) > 1 else "this tree"
    print(
        f"{label}: render {render_us:.1f} us/job; gzip body after one change p50 "
        f"{statistics.median(times) * 1000:.2f} ms; gzip bytes {len(store.exposition_gzip())}"
    )


if __name__ == "__main__":
    main()
