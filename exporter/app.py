"""Wiring: settings -> AWS targets, sync engines, store, HTTP; signals and a clean drain.

The only place that owns mutable process state. Shutdown on SIGTERM/SIGINT: stop taking
new poll cycles, give the running ones a short grace, cancel the rest, close the HTTP
server and the AWS clients, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import structlog

from .aws import AwsSettings, SageMakerTarget
from .config import Settings
from .http import Authenticator, HttpConfig, HttpServer, build_app
from .model import Target
from .selfmetrics import SelfMetrics
from .store import JobStore
from .sync import SyncSettings, TargetSync

DRAIN_SECONDS = 2.0


def configure_logging(level: str, fmt: str) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """What to poll and how to reach it, after demo overrides."""

    targets: tuple[Target, ...]
    aws: AwsSettings


def plan(settings: Settings, demo: Any = None) -> Plan:
    aws = AwsSettings(
        endpoint_url=settings.endpoint_url,
        list_rps=settings.list_rps,
        describe_rps=settings.describe_rps,
        max_concurrency=settings.max_concurrency,
    )
    if demo is not None:
        aws = AwsSettings(
            endpoint_url=demo.endpoint_url,
            list_rps=settings.list_rps,
            describe_rps=max(settings.describe_rps, 50.0),
            max_concurrency=settings.max_concurrency,
            access_key_id=demo.access_key_id,
            secret_access_key=demo.secret_access_key,
        )
        return Plan(tuple(Target(t.region, t.role_arn) for t in demo.targets), aws)
    roles: list[str | None] = [None] if settings.base_account else []
    roles.extend(settings.role_arns)
    targets = tuple(
        Target(region, role, settings.external_id if role else None)
        for role in roles
        for region in settings.regions
    )
    return Plan(targets, aws)


def load_web_config(path: str | None) -> tuple[Any, Authenticator | None]:
    if not path:
        return None, None
    from .webconfig import BasicAuthenticator
    from .webconfig import load_web_config as load

    wc = load(path)
    auth = BasicAuthenticator(wc.basic_auth_users) if wc.basic_auth_users else None
    return wc.ssl_context(), auth


async def serve(settings: Settings, ssl_context: Any = None,
                authenticator: Authenticator | None = None) -> int:
    log = structlog.get_logger("app")
    demo = None
    async with AsyncExitStack() as stack:
        if settings.demo:
            from .demo import DemoEnvironment

            demo = DemoEnvironment(seed=settings.demo_seed, speed=settings.demo_speed)
            await asyncio.to_thread(demo.start)
            stack.callback(demo.stop)
            log.info("demo started", endpoint_url=demo.endpoint_url)
        p = plan(settings, demo)
        metrics, store = SelfMetrics(), JobStore()
        sync_settings = SyncSettings(
            poll_interval=settings.poll_interval,
            refresh_interval=settings.refresh_interval,
            retention=settings.retention,
            reconcile_interval=settings.reconcile_interval,
            include=settings.include,
            exclude=settings.exclude,
            tag_labels=settings.tag_labels,
        )
        syncs = []
        for target in p.targets:
            client = await stack.enter_async_context(SageMakerTarget(target, p.aws, metrics))
            syncs.append(TargetSync(client, store, metrics, sync_settings, target.key))

        if settings.once:
            results = await asyncio.gather(*(s.poll_once() for s in syncs))
            failed = [(s, r) for s, r in zip(syncs, results, strict=True) if not r.ok]
            if failed:
                for s, r in failed:
                    errors = ", ".join(f"{k} x{n}" for k, n in r.errors.items())
                    print(f"sagemaker-exporter: error: poll of {s.key} failed: {errors}",
                          file=sys.stderr)
                return 1
            sys.stdout.buffer.write(store.exposition() + metrics.exposition())
            sys.stdout.flush()
            return 0

        http_config = HttpConfig(settings.listen_host, settings.listen_port, ssl_context,
                                 authenticator, demo=demo is not None)
        server = HttpServer(
            build_app(store, metrics, lambda: all(s.attempted for s in syncs),
                      lambda: [t.key for t in p.targets], http_config),
            http_config,
        )
        await server.start()
        stack.push_async_callback(server.stop)
        log.info("listening", address=f"{settings.listen_host or '0.0.0.0'}:{server.port}",
                 targets=[t.key for t in p.targets], tls=ssl_context is not None)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        tasks = [asyncio.create_task(s.run(stop), name=s.key) for s in syncs]
        await stop.wait()
        log.info("stopping")
        _, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    log.info("stopped")
    return 0


def run(settings: Settings) -> int:
    configure_logging(settings.log_level, settings.log_format)
    try:
        ssl_context, authenticator = load_web_config(settings.web_config_file)
    except Exception as exc:  # any problem with the file is a configuration error
        print(f"sagemaker-exporter: error: --web-config-file: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(settings, ssl_context, authenticator))
    except OSError as exc:  # e.g. the listen port is taken
        print(f"sagemaker-exporter: error: {exc}", file=sys.stderr)
        return 1
