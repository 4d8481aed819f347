"""Wiring: settings -> AWS clients, sources, stores, the /metrics body, HTTP; signals.

The only place that owns mutable process state, in named phases (uvicorn style): startup
(`Exporter.__aenter__`: clients and sources), run (`Exporter.run`: one task per source until
a signal), shutdown (stop taking new poll cycles, give the running ones a short grace,
cancel the rest, close the HTTP server and the AWS clients, exit 0). The process around it
(logging, signals, --once) is exporter.cli.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from exporter.aws.sagemaker import SageMakerTarget
from exporter.aws.services import pricing_clients
from exporter.aws.session import AwsSettings, new_data_loader
from exporter.aws.sqs import SqsQueue
from exporter.cadence import Cadence, until
from exporter.config import Settings, family_filter
from exporter.metrics.family import select
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.metrics.training_jobs import TRAINING_JOBS
from exporter.metrics.tuning_jobs import TUNING_JOBS
from exporter.metrics.utilization import HOSTS
from exporter.model import Target
from exporter.sources.events import EventSettings, EventSource
from exporter.sources.listing import CycleResult, PollSettings
from exporter.sources.prices import PriceBook, PriceRefresher
from exporter.sources.training import SyncSettings, TargetSync
from exporter.sources.tuning import TUNING, TuningSync
from exporter.store.body import Body, Generated
from exporter.store.objects import training_store, tuning_store
from exporter.web.server import Authenticator, HttpConfig, HttpServer, build_app

if TYPE_CHECKING:
    from exporter.sources import cloudwatch as cw

DRAIN_SECONDS = 2.0


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
        read_timeout=settings.api_timeout,
        max_attempts=settings.api_max_attempts,
    )
    if demo is not None:
        aws = replace(
            aws,
            endpoint_url=demo.endpoint_url,
            access_key_id=demo.access_key_id,
            secret_access_key=demo.secret_access_key,
        )
        return Plan(tuple(Target(t.region, t.role_arn) for t in demo.targets), aws)
    roles: list[str | None] = [None] if settings.base_account else []
    roles.extend(settings.role_arn)
    targets = tuple(
        Target(region, role, settings.external_id if role else None)
        for role in roles
        for region in settings.region
    )
    return Plan(targets, aws)


class Exporter:
    """Targets, sources, stores and HTTP server, wired; an async context manager.

    `serve()` runs it until a signal; tests drive `poll_all()` by hand between scrapes.
    """

    def __init__(
        self,
        settings: Settings,
        ssl_context: Any = None,
        authenticator: Authenticator | None = None,
        demo: Any = None,
    ) -> None:
        self.settings = settings
        self.plan = plan(settings, demo)
        self.demo = demo
        self.metrics = SelfMetrics()
        keep = family_filter(settings)  # --metric-allowlist / --metric-denylist
        self.store = training_store(table=select(TRAINING_JOBS, keep))
        self.tuning_store = tuning_store(table=select(TUNING_JOBS, keep))
        self._hosts = select(HOSTS, keep)
        # One /metrics body, in this order, for HTTP and --once alike; --cloudwatch adds to it.
        self.body = Body([self.store, self.tuning_store, Generated(self.metrics.exposition)])
        # One poll interval for every training-job target: event mode changes it.
        self.cadence = Cadence(settings.poll_interval)
        # One botocore data loader for every client of every target: see new_data_loader().
        self._loader = new_data_loader()
        self.syncs: list[TargetSync] = []
        self.tuning_syncs: list[TuningSync] = []
        self.cloudwatch: list[tuple[cw.CloudWatchSource, TargetSync]] = []
        self.events: EventSource | None = None
        self._stack = AsyncExitStack()
        self._http_config = HttpConfig(
            settings.listen_host,
            settings.listen_port,
            ssl_context,
            authenticator,
            demo=demo is not None,
            event_queues=len(self._queue_urls()),
            metrics_path=settings.telemetry_path,
        )
        self.server: HttpServer | None = None
        # Prices (None: no cost series): a new table renders every kept job again.
        self.prices = (
            PriceBook(self.metrics, settings.price_table)
            if settings.price_table is not None or settings.price_list_api
            else None
        )
        if self.prices is not None:
            self.prices.on_change = self._rerender
        self.price_refresher: PriceRefresher | None = None

    @property
    def ready(self) -> bool:
        return all(s.attempted for s in self.syncs)

    # -- startup ---------------------------------------------------------------------------
    async def __aenter__(self) -> Exporter:
        try:
            await self._startup()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def _startup(self) -> None:
        s, aws, loader = self.settings, self.plan.aws, self._loader
        training = SyncSettings(
            retention=s.retention,
            reconcile_interval=s.reconcile_interval,
            include=s.include,
            exclude=s.exclude,
            tag_labels=s.tag_labels,
            full_finished=s.finished_series == "full",
            refresh_interval=s.refresh_interval,
        )
        tuning = PollSettings(retention=s.retention, reconcile_interval=s.reconcile_interval)
        tuning_cadence = Cadence(s.poll_interval)  # event mode does not cover tuning jobs
        for target in self.plan.targets:
            client = await self._stack.enter_async_context(
                SageMakerTarget(target, aws, self.metrics, loader)
            )
            self.syncs.append(
                TargetSync(
                    client,
                    self.store,
                    self.metrics,
                    training,
                    target.key,
                    self.cadence,
                    self.prices,
                )
            )
            if s.tuning_jobs:
                # A client of its own: its calls neither share the training jobs' rate
                # limiters nor show up in their per-cycle call counts; it gets none of their
                # discovered rates (it would publish their untouched initial values).
                tuning_client = await self._stack.enter_async_context(
                    SageMakerTarget(target, aws, self.metrics, loader, rates={})
                )
                self.tuning_syncs.append(
                    TuningSync(
                        TUNING,
                        tuning_client,
                        self.tuning_store,
                        self.metrics,
                        tuning,
                        target.key,
                        tuning_cadence,
                    )
                )
        if s.price_list_api and self.prices is not None:
            pricing = await self._stack.enter_async_context(
                pricing_clients(aws, self.metrics, loader)
            )
            self.price_refresher = PriceRefresher(
                pricing,
                self.prices,
                self.metrics,
                lambda: [t.region for t in self.plan.targets],
                s.price_refresh_interval,
            )
        if s.cloudwatch:
            await self._start_cloudwatch()
        await self._start_events()

    def _queue_urls(self) -> tuple[str, ...]:
        urls = self.settings.events_queue_url
        if self.demo is not None and self.settings.demo_events:
            urls = (*urls, *self.demo.queue_urls)
        return tuple(dict.fromkeys(urls))

    async def _start_events(self) -> None:
        urls = self._queue_urls()
        if not urls or self.settings.once:
            return
        s, aws = self.settings, self.plan.aws
        queues = [
            await self._stack.enter_async_context(
                SqsQueue(url, self.plan.targets[0].region, aws.access_key_id, aws.secret_access_key)
            )
            for url in urls
        ]
        self.events = EventSource(
            queues,
            self.syncs,
            self.metrics,
            EventSettings(s.poll_interval, s.events_poll_interval, s.tag_labels),
            self.cadence,
            self.store.precompress,
        )

    async def _start_cloudwatch(self) -> None:
        from exporter.sources import cloudwatch as cw

        s = self.settings
        settings = cw.CloudWatchSettings(interval=s.cloudwatch_interval)
        self.cloudwatch, sections = await cw.start(
            self._stack,
            list(zip(self.plan.targets, self.syncs, strict=True)),
            self.plan.aws,
            self.metrics,
            self.store,
            settings,
            s.cloudwatch_budget,
            self._loader,
            self._hosts,
        )
        self.body.sections += sections

    async def start_http(self) -> HttpServer:
        app = build_app(
            self.body,
            lambda: self.ready,
            lambda: [t.key for t in self.plan.targets],
            self._http_config,
        )
        self.server = HttpServer(app, self._http_config)
        await self.server.start()
        self._stack.push_async_callback(self.server.stop)
        return self.server

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    # -- driven by hand (tests, --once) -------------------------------------------------------
    async def poll_all(self) -> list[CycleResult]:
        """One cycle of every training-job target (their results), with the tuning jobs
        polled after them (their failures are theirs: logged and counted, not returned)."""
        if self.price_refresher is not None and self.prices and self.prices.table is None:
            await self.price_refresher.refresh()
        results = list(await asyncio.gather(*(s.poll_once() for s in self.syncs)))
        # After, not alongside: a driven cycle of the training jobs runs as it would alone.
        await asyncio.gather(*(t.poll_once() for t in self.tuning_syncs))
        return results

    async def poll_cloudwatch(self) -> list[cw.CycleResult]:
        return list(await asyncio.gather(*(c.poll_once() for c, _ in self.cloudwatch)))

    def exposition(self) -> bytes:
        return self.body.plain()

    def _rerender(self) -> None:
        """New prices: render every kept job again (finished jobs are otherwise rendered only
        when they change, and would keep the cost of the old table, or none)."""
        now = time.time()
        for s in self.syncs:
            ctx = s.render_context(now)
            for job in list(self.store.jobs(s.key)):
                self.store.upsert(s.key, job, ctx)

    # -- run -----------------------------------------------------------------------------
    async def _tuning_after_ready(self, tuning: TuningSync, stop: asyncio.Event) -> None:
        """Tuning jobs start polling once every training-job target has had its first cycle:
        at start the training jobs (what pages) get the API and the CPU to themselves."""
        await until(stop, lambda: self.ready)
        await tuning.run(stop)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every target until `stop`; give running cycles a short grace, then cancel."""
        tasks = [asyncio.create_task(s.run(stop), name=s.key) for s in self.syncs]
        tasks += [
            asyncio.create_task(c.run(stop, lambda s=s: s.synced), name=f"cloudwatch {s.key}")  # type: ignore[misc]
            for c, s in self.cloudwatch
        ]
        if self.events is not None:
            tasks.append(
                asyncio.create_task(self.events.run(stop, lambda: self.ready), name="events")
            )
        tasks += [
            asyncio.create_task(self._tuning_after_ready(t, stop), name=f"tuning {t.key}")
            for t in self.tuning_syncs
        ]
        if self.price_refresher is not None:
            tasks.append(asyncio.create_task(self.price_refresher.run(stop), name="prices"))
        await stop.wait()
        _, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
