"""Shared fixtures: a moto SageMaker server on loopback, the exporter wired as in
production (real aiobotocore clients, real HTTP), and a /metrics scraper."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from exporter.app import Exporter
from exporter.cli import load_settings
from tests.support.harness import Harness
from tests.support.motofleet import MotoSageMaker

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


#: The folder a test lives in says what it needs; its marker is applied here, by path, so
#: `-m unit` or `-m "not e2e"` selects by kind without a decorator in any module.
KINDS = ("unit", "integration", "process", "artefacts", "e2e", "bench")
#: Under pytest-xdist (scripts/test: -n 4 --dist loadgroup --no-loadscope-reorder) the order
#: below is the order work is handed out, so the long tests start first and the short ones
#: fill the gaps at the end. A module can start before its kind with `STARTS_FIRST = True`
#: (the image builds, the benchmark commands: minutes each).
ORDER = ("e2e", "bench", "process", "integration", "artefacts", "unit")
_TESTS = Path(__file__).resolve().parent


def _rank(item: pytest.Item) -> int:
    kind = Path(item.path).resolve().relative_to(_TESTS).parts[0]
    assert kind in KINDS, f"{item.nodeid}: a test lives in one of tests/{{{','.join(KINDS)}}}/"
    item.add_marker(kind)
    module = getattr(item, "module", None)
    return -1 if getattr(module, "STARTS_FIRST", False) else ORDER.index(kind)


def _shares_module_fixture(item: pytest.Item) -> bool:
    """Does the test use a module-scoped fixture its own module defines (a monitoring stack,
    a simulated fleet run, a PKI)? Then its module runs on one xdist worker, set up once."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    module_id = item.nodeid.split("::")[0]
    return any(
        d.scope == "module" and d.baseid == module_id
        for defs in info.name2fixturedefs.values()
        for d in defs
    )


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ranks = {item.nodeid: _rank(item) for item in items}
    for item in items:
        if item.get_closest_marker("bench"):
            # Benchmarks time things: one at a time, on one worker (about as long as an image
            # build, which runs beside them), so they compete with tests, not each other.
            item.add_marker(pytest.mark.xdist_group("bench"))
        elif _shares_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    items.sort(key=lambda item: ranks[item.nodeid])  # stable: file order within a rank
