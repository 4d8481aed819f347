"""HTTP: /metrics, /healthz, /readyz and a landing page, on aiohttp.

aiohttp comes with aiobotocore, so serving costs no extra dependency, and runs on the
same event loop as the pollers: a scrape reads the store between two poll steps and so
always sees one consistent snapshot.
"""

from __future__ import annotations

import asyncio
import gzip
import html
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from . import __version__
from .render import CONTENT_TYPE
from .selfmetrics import SelfMetrics
from .store import JobStore

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Probes stay open under basic auth: kubelets carry no credentials and they reveal nothing.
UNAUTHENTICATED_PATHS = frozenset({"/healthz", "/readyz"})


class Authenticator(Protocol):
    """What http needs of webconfig.BasicAuthenticator."""

    def check(self, authorization_header: str | None) -> bool: ...

    def is_cached(self, authorization_header: str | None) -> bool: ...


@dataclass
class HttpConfig:
    host: str
    port: int
    ssl_context: ssl.SSLContext | None = None
    authenticator: Authenticator | None = None
    demo: bool = False


def metrics_body(
    store: JobStore,
    metrics: SelfMetrics,
    accept_encoding: str,
    extra: Callable[[], bytes] | None = None,
) -> tuple[bytes, bool]:
    """The scrape body and whether it is gzip. Gzip members concatenate into one valid
    stream, so the cached job part is compressed once per change, not once per scrape.
    `extra` adds more families (the tuning jobs) between the jobs and the self-metrics."""
    own = (extra() if extra else b"") + metrics.exposition()
    if "gzip" in accept_encoding:
        return store.exposition_gzip() + gzip.compress(own, compresslevel=3), True
    return store.exposition() + own, False


def _landing(demo: bool, targets: list[str]) -> str:
    note = (
        "<p><b>Demo mode:</b> this exporter watches a simulated SageMaker fleet "
        "(an embedded moto server), not AWS.</p>"
        if demo
        else ""
    )
    items = "".join(f"<li>{html.escape(t)}</li>" for t in targets)
    return (
        "<!doctype html><html><head><title>SageMaker Training Exporter</title></head><body>"
        f"<h1>SageMaker Training Exporter {html.escape(__version__)}</h1>{note}"
        '<p><a href="/metrics">Metrics</a> &middot; <a href="/healthz">Health</a> &middot; '
        '<a href="/readyz">Readiness</a></p>'
        f"<p>Targets (region / account):</p><ul>{items}</ul></body></html>"
    )


def build_app(
    store: JobStore,
    metrics: SelfMetrics,
    ready: Callable[[], bool],
    targets: Callable[[], list[str]],
    config: HttpConfig,
    extra: Callable[[], bytes] | None = None,
) -> web.Application:
    middlewares = []
    if config.authenticator is not None:
        auth = config.authenticator

        @web.middleware
        async def basic_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
            header = request.headers.get("Authorization")
            if request.path in UNAUTHENTICATED_PATHS or auth.is_cached(header):
                return await handler(request)
            # bcrypt takes ~100 ms by design: off the event loop, or every poll and scrape waits.
            if not await asyncio.to_thread(auth.check, header):
                return web.Response(
                    status=401,
                    text="Unauthorized\n",
                    headers={"WWW-Authenticate": 'Basic realm="sagemaker-exporter"'},
                )
            return await handler(request)

        middlewares.append(basic_auth)

    async def metrics_handler(request: web.Request) -> web.Response:
        body, gz = metrics_body(
            store, metrics, request.headers.get("Accept-Encoding", ""), extra
        )
        resp = web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
        if gz:
            resp.headers["Content-Encoding"] = "gzip"
        return resp

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="waiting for the first sync of every target\n")

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=_landing(config.demo, targets()), content_type="text/html")

    app = web.Application(middlewares=middlewares)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/", index)
    return app


class HttpServer:
    def __init__(self, app: web.Application, config: HttpConfig) -> None:
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        self._config = config
        self.port = config.port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            self._config.host or None,
            self._config.port,
            ssl_context=self._config.ssl_context,
        )
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await self._runner.cleanup()
