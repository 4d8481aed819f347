"""A process holding N tracked jobs, for the scrape and memory benchmarks.

    python -m bench.scrape_server --jobs 10000 --kind exporter|baseline --port-file F
    python -m bench.scrape_server --jobs 10000 --memory --running 0.1   (prints {"rss_per_job": ...})

The jobs are the fake server's synthetic fleet, parsed by the exporter's own parser.
`--kind exporter` serves them through exporter.web.server (the store of pre-rendered chunks);
`--kind baseline` through a prometheus_client custom collector that renders on every
scrape; `--kind static` serves the exporter's body built once, written as exporter.web.server writes it
(what moving that many bytes over loopback costs at least). POST /touch re-renders one running job, as every poll does, so the next scrape
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
from bench.harness import rss_bytes
from exporter.metrics.family import RenderContext
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.metrics.text import CONTENT_TYPE
from exporter.model import TrainingJob
from exporter.parse.api import parse_tags, parse_training_job
from exporter.store.body import Body, Generated
from exporter.store.objects import training_store
from exporter.web.server import HttpConfig, build_app, chunks
from fake_aws.data import make_job

NOW = time.time()
CTX = RenderContext("us-east-1", "123456789012", NOW, ("team", "project"))
STAGES = ("Training", "Completed", "Completed", "Completed", "Failed", "Stopped", "Downloading")
RUNNING = ("Training", "Downloading")
FINISHED = ("Completed", "Completed", "Completed", "Failed", "Stopped")


def jobs(n: int, running: float | None = None, start: int = 0) -> Iterator[TrainingJob]:
    """n parsed jobs, about 1 in 7 running (or the given fraction); the raw documents are
    dropped as we go. Each document goes through JSON first, as botocore's come: every
    string is then its own object, not one shared by the synthetic fleet's catalog."""
    for i in range(start, start + n):
        if running is None:
            stage = STAGES[i % len(STAGES)]
        else:
            # spread evenly: job i runs when the running count steps up at i
            runs = int((i + 1) * running) > int(i * running)
            stage = RUNNING[i % 2] if runs else FINISHED[i % len(FINISHED)]
        raw = make_job(i, 1, NOW, "us-east-1", "123456789012", stage)
        doc, tags = json.loads(json.dumps([raw.doc, raw.tags]))
        job = parse_training_job(doc, parse_tags(tags))
        assert job is not None
        yield job


def memory(n: int, running: float, base: int = 1000) -> dict[str, float]:
    """RSS per job as the difference between `base` and n tracked jobs in one process, a
    gzip scrape served after each (as Prometheus scrapes): what each job beyond the first
    thousand costs, without the interpreter's and the libraries' fixed cost."""
    store = training_store()
    for job in jobs(base, running):  # warms every code path and lazy import too
        store.upsert("t", job, CTX)
    store.exposition_gzip()
    gc.collect()
    before = rss_bytes(os.getpid())
    for job in jobs(n - base, running, start=base):
        store.upsert("t", job, CTX)
    store.exposition_gzip()
    gc.collect()
    after = rss_bytes(os.getpid())
    plain = store.exposition()
    body = len(plain)
    del plain
    gc.collect()
    with_plain = rss_bytes(os.getpid())
    per_job = (after - before) / (n - base)
    return {
        "jobs": n,
        "base": base,
        "running": running,
        "rss_delta": after - before,
        "rss_per_job": per_job,
        "body_bytes_per_job": body / n,
        "plain_scrape_rss_per_job": (with_plain - before) / (n - base),
    }


def app_for(kind: str, n: int) -> web.Application:
    loaded = list(jobs(n))
    running = [j for j in loaded if j.is_active]
    if kind == "exporter":
        store = training_store()
        for job in loaded:
            store.upsert("t", job, CTX)
        app = build_app(
            Body([store, Generated(SelfMetrics().exposition)]),
            lambda: True,
            lambda: [],
            HttpConfig("", 0),
        )

        async def touch(_: web.Request) -> web.Response:
            store.upsert("t", running[0], CTX)
            return web.Response(text="ok")

        app.router.add_post("/touch", touch)
        return app
    if kind == "static":
        # The floor of a scrape: the exporter's body (plain or gzip), built once, written
        # the way exporter.web.server writes it, with nothing to compute per scrape.
        store = training_store()
        for job in loaded:
            store.upsert("t", job, CTX)
        plain, gzipped = store.plain_parts(), store.gzip_parts()
        del store, loaded, running

        async def static(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE})
            parts = plain
            if "gzip" in request.headers.get("Accept-Encoding", ""):
                parts = gzipped
                resp.headers["Content-Encoding"] = "gzip"
            resp.content_length = sum(len(p) for p in parts)
            await resp.prepare(request)
            for chunk in chunks(parts):
                await resp.write(chunk)
            await resp.write_eof()
            return resp

        async def nothing(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/metrics", static)
        app.router.add_post("/touch", nothing)
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
    p.add_argument("--kind", choices=("exporter", "baseline", "static"), default="exporter")
    p.add_argument("--port-file")
    p.add_argument("--memory", action="store_true")
    p.add_argument("--running", type=float, default=0.1, help="fraction of running jobs (--memory)")
    args = p.parse_args()
    if args.memory:
        print(json.dumps(memory(args.jobs, args.running)), flush=True)
        return
    asyncio.run(serve(args.kind, args.jobs, args.port_file))


if __name__ == "__main__":
    main()
