"""A process holding N tracked jobs, for the scrape and memory benchmarks.

    python -m bench.scrape_server --jobs 10000 --kind exporter|baseline --port-file F
    python -m bench.scrape_server --jobs 10000 --memory   (prints {"rss_per_job": ...})

The jobs are the fake server's synthetic fleet, parsed by the exporter's own parser.
`--kind exporter` serves them through exporter.http (the store of pre-rendered chunks);
`--kind baseline` through a prometheus_client custom collector that renders on every
scrape. POST /touch re-renders one running job, as every poll does, so the next scrape
cannot use the cached body.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import json
import os
import time
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

from bench.baselines import BaselineCollector
from bench.fake_sagemaker_data import make_job
from bench.harness import rss_bytes
from exporter.families import RenderContext
from exporter.http import HttpConfig, build_app
from exporter.model import TrainingJob
from exporter.parse import parse_tags, parse_training_job
from exporter.render import CONTENT_TYPE
from exporter.selfmetrics import SelfMetrics
from exporter.store import JobStore

NOW = time.time()
CTX = RenderContext("us-east-1", "123456789012", NOW, ("team", "project"))
STAGES = ("Training", "Completed", "Completed", "Completed", "Failed", "Stopped", "Downloading")


def jobs(n: int) -> Iterator[TrainingJob]:
    """n parsed jobs, about 1 in 7 running; the raw documents are dropped as we go."""
    for i in range(n):
        raw = make_job(i, 1, NOW, "us-east-1", "123456789012", STAGES[i % len(STAGES)])
        job = parse_training_job(raw.doc, parse_tags(raw.tags))
        assert job is not None
        yield job


def memory(n: int) -> dict[str, float]:
    """RSS growth of a process that takes on n jobs into a JobStore (exposition and gzip
    cached, as after a scrape), per job."""
    for _ in jobs(50):  # warm every code path and lazy import first
        pass
    store = JobStore()
    for job in jobs(50):
        store.upsert("t", job, CTX)
    store.exposition_gzip()
    store = JobStore()
    gc.collect()
    before = rss_bytes(os.getpid())
    for job in jobs(n):
        store.upsert("t", job, CTX)
    store.exposition_gzip()
    gc.collect()
    after = rss_bytes(os.getpid())
    body = len(store.exposition())
    return {"jobs": n, "rss_delta": after - before, "rss_per_job": (after - before) / n,
            "body_bytes_per_job": body / n}


def app_for(kind: str, n: int) -> web.Application:
    loaded = list(jobs(n))
    running = [j for j in loaded if j.is_active]
    if kind == "exporter":
        store = JobStore()
        for job in loaded:
            store.upsert("t", job, CTX)
        app = build_app(store, SelfMetrics(), lambda: True, lambda: [], HttpConfig("", 0))

        async def touch(_: web.Request) -> web.Response:
            store.upsert("t", running[0], CTX)
            return web.Response(text="ok")

        app.router.add_post("/touch", touch)
        return app
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BaselineCollector(loaded, CTX))

    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(registry)
        headers = {"Content-Type": CONTENT_TYPE}
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, compresslevel=3)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)

    async def noop(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/touch", noop)
    return app


async def serve(kind: str, n: int, port_file: str) -> None:
    runner = web.AppRunner(app_for(kind, n), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    with open(port_file + ".tmp", "w", encoding="utf-8") as fh:
        fh.write(str(port))
    os.replace(port_file + ".tmp", port_file)
    await asyncio.Event().wait()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--jobs", type=int, required=True)
    p.add_argument("--kind", choices=("exporter", "baseline"), default="exporter")
    p.add_argument("--port-file")
    p.add_argument("--memory", action="store_true")
    args = p.parse_args()
    if args.memory:
        print(json.dumps(memory(args.jobs)), flush=True)
        return
    asyncio.run(serve(args.kind, args.jobs, args.port_file))


if __name__ == "__main__":
    main()
