"""Shared fixtures: a moto SageMaker server on loopback, the exporter wired as in
production (real aiobotocore clients, real HTTP), and a /metrics scraper."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import Exporter
from exporter.cli import load_settings

from .motofleet import MotoSageMaker

# Dummy credentials for moto; never real ones, and no profile or IMDS lookups.
for _k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_k, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
    AWS_CONFIG_FILE="/nonexistent",
    AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoSageMaker]:
    # Module scope: moto's backend is process-wide, and the demo tests must find neither a
    # running moto thread nor jobs left behind by other modules.
    server = MotoSageMaker()
    server.start()
    yield server
    server.reset()
    server.stop()


@pytest.fixture
def sm(moto_server: MotoSageMaker) -> Iterator[MotoSageMaker]:
    moto_server.reset()
    yield moto_server
    moto_server.reset()


@pytest.fixture(scope="session")
def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is required (Debian package 'prometheus'; scripts/test installs it)"
    return path


def parse_exposition(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def find(samples: Samples, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """Samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return {lbl: v for (n, lbl), v in samples.items() if n == name and want <= lbl}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    hits = find(samples, name, **labels)
    assert len(hits) <= 1, f"{name}{labels} matches {len(hits)} series"
    return next(iter(hits.values()), None)


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


@pytest.fixture
def exporter_for(sm: MotoSageMaker) -> Callable[..., Any]:
    """exporter_for(*flags) -> async context manager yielding a Harness with HTTP started."""

    @asynccontextmanager
    async def make(*flags: str) -> AsyncIterator[Harness]:
        argv = ["--endpoint-url", sm.url, "--listen-address", "127.0.0.1:0", *flags]
        if "--region" not in flags:
            argv += ["--region", "us-east-1"]
        settings = load_settings(argv, environ={})
        async with Exporter(settings) as exp:
            await exp.start_http()
            yield Harness(exp)

    return make
