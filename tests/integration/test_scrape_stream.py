"""/metrics is written in chunks over many awaits: what that must not change (one snapshot
per scrape, HEAD without a body, a scraper that goes away is no error)."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from exporter.metrics.selfmetrics import SelfMetrics
from exporter.model import TrainingJob
from exporter.store.body import Body, Generated
from exporter.store.objects import ObjectStore, training_store
from exporter.web.server import HttpConfig, HttpServer, build_app
from tests.support.jobs import CTXS, rich


def serve(s: ObjectStore[TrainingJob], metrics: SelfMetrics) -> HttpServer:
    config = HttpConfig("127.0.0.1", 0)
    return HttpServer(
        build_app(Body([s, Generated(metrics.exposition)]), lambda: True, lambda: [], config),
        config,
    )


async def test_a_scrape_written_in_chunks_is_one_snapshot() -> None:
    """The body is written over many awaits; changes meanwhile must not show in it."""
    rng = random.Random(6)
    s, metrics = training_store(), SelfMetrics()
    for i in range(6000):  # ~17 MB of plain text: far more than the socket buffers hold
        s.upsert("a", rich(f"j{i}", "InProgress" if i % 10 == 0 else "Completed", rng), CTXS["a"])
    before = s.exposition()
    server = serve(s, metrics)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        head = await reader.readexactly(65536)
        for i in range(0, 6000, 2):  # a poll lands while the response is being written
            s.remove("a", f"j{i}")
        s.upsert("a", rich("late", "InProgress", rng), CTXS["a"])
        rest = await reader.read()
        writer.close()
    finally:
        await server.stop()
    headers, _, body = (head + rest).partition(b"\r\n\r\n")
    assert b"Content-Length: %d\r\n" % len(body) in headers
    assert body.startswith(before)  # then the exporter's own metrics
    assert b'training_job="late"' not in body
    assert len(s.exposition()) < len(before) / 2


async def test_head_gets_the_length_and_no_body() -> None:
    s, metrics = training_store(), SelfMetrics()
    s.upsert("a", rich("j", "Completed", random.Random(1)), CTXS["a"])
    server = serve(s, metrics)
    await server.start()
    try:
        got = {}
        for method in ("HEAD", "GET"):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(
                b"%s /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % method.encode()
            )
            got[method] = (await reader.read()).partition(b"\r\n\r\n")
            writer.close()
    finally:
        await server.stop()
    assert got["HEAD"][2] == b""
    length = next(h for h in got["HEAD"][0].split(b"\r\n") if h.startswith(b"Content-Length"))
    # the process_* self-metrics may change length between two scrapes by a few digits
    assert abs(int(length.split(b":")[1]) - len(got["GET"][2])) < 100
    assert len(got["GET"][2]) > 1000


async def test_a_scraper_that_goes_away_is_no_error(caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(3)
    s = training_store()
    for i in range(3000):  # ~8 MB: the server is still writing when the client leaves
        s.upsert("a", rich(f"j{i}", "Completed", rng), CTXS["a"])
    server = serve(s, SelfMetrics())
    await server.start()
    try:
        with caplog.at_level(logging.WARNING):
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.readexactly(10_000)
            writer.transport.abort()
            await asyncio.sleep(0.5)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert (await reader.read()).startswith(b"HTTP/1.1 200")
            writer.close()
    finally:
        await server.stop()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
