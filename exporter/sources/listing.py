"""The one list/describe poll engine: a `ListPoller` runs any resource `Kind`.

SageMaker has no watch API, so each cycle lists only what changed since the last watermark
(LastModifiedTimeAfter, with an overlap for clock skew), describes an object only when it
is new or its summary changed, under the client's describe semaphore, concurrently, at the
discovered rate. Now and then the running ones are re-listed (reconcile) in case a change
slipped past the watermark. One policy for every kind: the watermark advances once the
listing succeeded; a describe that failed is retried next cycle whatever the listing says,
so one stubborn object cannot hold the watermark back for everyone. Objects past the
retention are evicted. A cycle commits to the store in one step with no await.

Training jobs (exporter.sources.training) add their own parts on top: the backfill, the
refresh of running jobs, tags, events. Tuning jobs (exporter.sources.tuning) are a Kind and
a few hooks. A new resource is a Kind, a table (exporter/metrics/) and a store.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import structlog

from exporter.aws.errors import ApiError
from exporter.aws.paging import collect
from exporter.cadence import Cadence, every
from exporter.metrics.family import RenderContext
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.parse.prices import Prices
from exporter.store.objects import ObjectStore, Stored

Obj = TypeVar("Obj", bound=Stored)  # what is stored and rendered
Summary = TypeVar("Summary")  # one item of the listing, parsed


class Api(Protocol):
    """What the engine needs of a client (exporter.aws.sagemaker.SageMakerTarget)."""

    region: str
    account_id: str
    describe_slots: asyncio.Semaphore

    @property
    def attempts(self) -> int: ...

    async def resolve_account(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PollSettings:
    retention: float = 86400.0
    reconcile_interval: float = 600.0
    overlap: float = 60.0  # LastModifiedTime watermark overlap, for clock skew
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    tag_labels: tuple[str, ...] = ()
    full_finished: bool = False  # --finished-series full

    def wants(self, name: str) -> bool:
        if self.include and not any(p.search(name) for p in self.include):
            return False
        return not any(p.search(name) for p in self.exclude)


@dataclass(slots=True)
class CycleResult:
    """What one cycle did, for its log line and its caller."""

    ok: bool = True
    backfill: bool = False
    listed: int = 0
    described: int = 0
    searched: int = 0
    changed: int = 0
    removed: int = 0
    evicted: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    duration: float = 0.0

    def fail(self, err: ApiError) -> None:
        self.ok = False
        key = f"{err.operation}:{err.code}"
        self.errors[key] = self.errors.get(key, 0) + 1


@dataclass(frozen=True, slots=True)
class Fetched(Generic[Obj]):
    """The outcome of describing one object: the object, or gone, or failed (retry later)."""

    job: Obj | None
    gone: bool = False
    tags_ok: bool = True


@dataclass(frozen=True, slots=True)
class Kind(Generic[Summary, Obj]):
    """One resource type: how to list it, read a summary and tell it changed."""

    list_operation: str  # e.g. ListTrainingJobs
    items_key: str  # the list in its answer
    list_call: Callable[[Any], Callable[..., Awaitable[Mapping[str, Any]]]]  # client -> method
    parse_summary: Callable[[Any], Summary | None]
    name_of: Callable[[Summary], str]
    #: When a listed object ended, for the retention (None: running, or unknown: kept).
    ended: Callable[[Summary], float | None]
    #: Whether the stored object is what the listing says it is now.
    unchanged: Callable[[Summary, Obj], bool]


class ListPoller(Generic[Summary, Obj]):
    """Polls one kind of one (account, region) target into its store."""

    logger = "poll"  # the structlog logger name of its lines
    crashed = "poll crashed"

    def __init__(
        self,
        kind: Kind[Summary, Obj],
        api: Any,
        store: ObjectStore[Obj],
        metrics: SelfMetrics,
        settings: PollSettings,
        key: str,
        cadence: Cadence,
        prices: Prices | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kind, self.api, self.store, self.metrics = kind, api, store, metrics
        self.settings, self.key, self.cadence, self.clock = settings, key, cadence, clock
        self.prices = prices
        self.attempted = False  # at least one cycle finished, successfully or not
        self._watermark: float | None = None
        self._last_reconcile = 0.0
        self._retry: set[str] = set()  # describes that failed: retried next cycle
        self._initialized = False
        self._log = structlog.get_logger(self.logger).bind(region=api.region)

    def render_context(self, now: float) -> RenderContext:
        s = self.settings
        return RenderContext(
            self.api.region, self.api.account_id, now, s.tag_labels, self.prices, s.full_finished
        )

    # -- listing -----------------------------------------------------------------------
    async def list_all(self, **params: Any) -> list[Summary]:
        items = await collect(
            self.kind.list_call(self.api), self.kind.list_operation, self.kind.items_key, params
        )
        return [s for s in map(self.kind.parse_summary, items) if s is not None]

    def _retained(self, s: Summary, now: float) -> bool:
        ended = self.kind.ended(s)
        return ended is None or ended >= now - self.settings.retention

    async def candidates(self, now: float, result: CycleResult) -> dict[str, Summary | None]:
        """What to describe this cycle: new or changed summaries, plus what reconcile finds
        (by name, with the summary listed if any)."""
        reconcile = now - self._last_reconcile >= self.settings.reconcile_interval
        after = (
            self._watermark if self._watermark is not None else now - self.settings.retention
        ) - self.settings.overlap
        lists = [self.list_all(LastModifiedTimeAfter=after)]
        if reconcile:
            lists.append(self.list_all(StatusEquals="InProgress"))
            lists.append(self.list_all(StatusEquals="Stopping"))
        pages = await asyncio.gather(*lists)
        name = self.kind.name_of
        summaries = {name(s): s for page in pages for s in page}
        result.listed = len(summaries)
        todo: dict[str, Summary | None] = {}
        for n, s in summaries.items():
            if not self.settings.wants(n) or not self._retained(s, now):
                continue
            stored = self.store.get(self.key, n)
            if stored is None or not self.kind.unchanged(s, stored):
                todo[n] = s
        if reconcile:
            active = {name(s) for page in pages[1:] for s in page}
            # Believed running but no longer listed as running: it changed without our
            # noticing (or vanished): look at it again.
            for j in self.store.running(self.key):
                if j.name not in active:
                    todo.setdefault(j.name, summaries.get(j.name))
            self._last_reconcile = now
        return todo

    # -- describing --------------------------------------------------------------------
    async def fetch(
        self, name: str, summary: Summary | None, prev: Obj | None, result: CycleResult
    ) -> Fetched[Obj]:
        raise NotImplementedError

    async def describe_all(
        self, todo: Mapping[str, Summary | None], result: CycleResult
    ) -> dict[str, Obj | None]:
        """Describe concurrently (fetch() holds the client's describe semaphore, which the
        backfill shares); None: gone; a failure is retried next cycle."""
        staged: dict[str, Obj | None] = {}

        async def one(name: str) -> None:
            prev = self.store.get(self.key, name)
            got = await self.fetch(name, todo[name], prev, result)
            if got.gone:
                staged[name] = None
                result.removed += 1
            elif got.job is None:
                self._retry.add(name)
            else:
                result.described += 1
                if prev != got.job:
                    result.changed += 1
                self.described(name, got)
                staged[name] = got.job

        await asyncio.gather(*(one(n) for n in sorted(todo)))
        return staged

    def described(self, name: str, got: Fetched[Obj]) -> None:
        """A hook: a describe succeeded (before it is committed)."""

    # -- committing --------------------------------------------------------------------
    def commit(self, staged: Mapping[str, Obj | None], described: set[str]) -> None:
        """Apply describes to the store; no await, so a scrape sees all or none."""
        ctx = self.render_context(self.clock())
        for name, job in staged.items():
            if job is None:
                self.forget(name)
            else:
                self.store.upsert(self.key, job, ctx)

    def forget(self, name: str) -> None:
        self.store.remove(self.key, name)

    def evict(self, now: float) -> int:
        horizon = now - self.settings.retention
        old = [
            j.name
            for j in self.store.stored(self.key)
            if (j.finished_at is not None and j.finished_at < horizon)
            or not self.settings.wants(j.name)
        ]
        for name in old:
            self.forget(name)
        return len(old)

    # -- one cycle ---------------------------------------------------------------------
    async def steady(self, now: float, result: CycleResult) -> None:
        todo = await self.candidates(now, result)
        for name in self._retry:
            todo.setdefault(name, None)
        self._retry = set()
        staged = await self.describe_all(todo, result)
        self.commit(staged, set(staged))

    async def first(self, now: float, result: CycleResult) -> None:
        """The first cycle: a steady one over the whole retention (training jobs backfill)."""
        await self.steady(now, result)

    def init_target(self) -> None:
        """A hook: the account is known; start its self-metrics at zero."""

    async def poll_once(self) -> CycleResult:
        result = CycleResult()
        start, calls0 = time.monotonic(), self.api.attempts
        now = self.clock()
        try:
            if not self.api.account_id:
                await self.api.resolve_account()
            if not self._initialized:
                self.init_target()
                self._initialized = True
            if self._watermark is None:
                await self.first(now, result)
            else:
                await self.steady(now, result)
        except ApiError as err:
            result.fail(err)
            return self._finish(result, start, calls0)
        # No await from here to the end of _finish: a scrape sees the store and the
        # self-metrics either wholly before this cycle's end or wholly after it.
        result.evicted = self.evict(now)
        # The listing succeeded: from now on list by watermark (failed describes are retried).
        self._watermark = now
        done = self._finish(result, start, calls0)
        await self.store.precompress()
        return done

    def _finish(self, result: CycleResult, start: float, calls0: int) -> CycleResult:
        self.attempted = True
        result.duration = time.monotonic() - start
        result.api_calls = self.api.attempts - calls0
        self.report(result)
        return result

    def report(self, result: CycleResult) -> None:
        """A hook: the cycle's self-metrics and log line."""

    async def run(self, stop: asyncio.Event, offset: float = 0.0) -> None:
        """Poll until `stop`, keeping the cadence (see exporter.cadence)."""

        async def cycle() -> None:
            try:
                await self.poll_once()
            except Exception:
                self.attempted = True
                raise

        await every(stop, self.cadence, cycle, self._log, self.crashed, offset)
