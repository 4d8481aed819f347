"""An in-process Exporter with its HTTP server started, seen from outside: poll, scrape."""

from __future__ import annotations

from typing import Any

import aiohttp

from exporter.app import Exporter
from tests.support.exposition import Samples, parse_exposition


class Harness:
    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter

    @property
    def url(self) -> str:
        assert self.exporter.server is not None
        return f"http://127.0.0.1:{self.exporter.server.port}"

    async def poll(self) -> list[Any]:
        return await self.exporter.poll_all()

    async def scrape_text(self) -> str:
        async with aiohttp.ClientSession() as s, s.get(self.url + "/metrics") as r:
            assert r.status == 200
            return await r.text()

    async def scrape(self) -> Samples:
        return parse_exposition(await self.scrape_text())
