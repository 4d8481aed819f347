"""HTTP: /metrics, /healthz, /readyz and a landing page, on aiohttp.

aiohttp comes with aiobotocore, so serving costs no extra dependency, and runs on the
same event loop as the pollers: a scrape reads the store between two poll steps and so
always sees one consistent snapshot.
"""

from __future__ import annotations

import asyncio
import html
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from exporter import __version__
from exporter.metrics.text import CONTENT_TYPE
from exporter.store.body import Body

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
    event_queues: int = 0  # SQS queues of the event source; 0: polling only
    metrics_path: str = "/metrics"  # --telemetry-path


WRITE_CHUNK = 256 * 1024  # measured: a 50 MB body as one write takes 3x longer (see below)


def chunks(parts: list[bytes], size: int = WRITE_CHUNK) -> Iterator[bytes]:
    """Parts joined into writes of about `size` bytes. asyncio's socket transport buffers
    what the kernel does not take at once and shifts that buffer after every send, so one
    50 MB write (a plain body at 10,000 jobs) costs ~130 ms on loopback where writes of
    256 KiB, each awaited, cost ~45 ms."""
    batch: list[bytes] = []
    n = 0
    for part in parts:
        batch.append(part)
        n += len(part)
        if n >= size:
            yield b"".join(batch)
            batch, n = [], 0
    if batch:
        yield b"".join(batch)


def _landing(
    demo: bool, targets: list[str], event_queues: int = 0, metrics_path: str = "/metrics"
) -> str:
    note = (
        "<p><b>Demo mode:</b> this exporter watches a simulated SageMaker fleet "
        "(an embedded moto server), not AWS.</p>"
        if demo
        else ""
    )
    note += (
        f"<p><b>Event mode:</b> state changes arrive as EventBridge events through "
        f"{event_queues} SQS queue{'s' if event_queues != 1 else ''} and show within "
        "seconds; polling is the safety net (see sagemaker_exporter_events_up).</p>"
        if event_queues
        else "<p><b>Polling mode:</b> changes show at the next poll.</p>"
    )
    items = "".join(f"<li>{html.escape(t)}</li>" for t in targets)
    return (
        "<!doctype html><html><head><title>SageMaker Training Exporter</title></head><body>"
        f"<h1>SageMaker Training Exporter {html.escape(__version__)}</h1>{note}"
        f'<p><a href="{html.escape(metrics_path)}">Metrics</a> &middot; '
        '<a href="/healthz">Health</a> &middot; '
        '<a href="/readyz">Readiness</a></p>'
        f"<p>Targets (region / account):</p><ul>{items}</ul></body></html>"
    )


def build_app(
    body: Body,
    ready: Callable[[], bool],
    targets: Callable[[], list[str]],
    config: HttpConfig,
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

    async def metrics_handler(request: web.Request) -> web.StreamResponse:
        # The parts are immutable bytes taken in one synchronous step: writing them over
        # several awaits still serves one snapshot.
        gz = "gzip" in request.headers.get("Accept-Encoding", "")
        parts = body.parts(gzip=gz)
        resp = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE})
        if gz:
            resp.headers["Content-Encoding"] = "gzip"
        resp.content_length = sum(len(p) for p in parts)
        await resp.prepare(request)
        try:
            if request.method != "HEAD":  # a StreamResponse, unlike a Response, would send it
                for chunk in chunks(parts):
                    await resp.write(chunk)
            await resp.write_eof()
        except ConnectionError:
            pass  # the scraper went away (timed out, cancelled): nothing to send or log
        return resp

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="waiting for the first sync of every target\n")

    async def index(request: web.Request) -> web.Response:
        return web.Response(
            text=_landing(config.demo, targets(), config.event_queues, config.metrics_path),
            content_type="text/html",
        )

    app = web.Application(middlewares=middlewares)
    app.router.add_get(config.metrics_path, metrics_handler)
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
