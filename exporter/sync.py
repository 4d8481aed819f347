"""The sync engine: keep the store equal to what SageMaker says, at the lowest API cost.

SageMaker has no watch API and throttles ListTrainingJobs hard, so each cycle lists only
jobs modified since the last watermark and describes a job only when it is new or its
summary changed. Running jobs are re-described at the slower refresh interval (final
metrics, transitions), and the in-progress set is reconciled now and then in case a
change slipped past the watermark. Elapsed-time values of running jobs are re-rendered
every cycle from the last description, at no API cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from .aws import ApiError, JobNotFound
from .families import RenderContext
from .model import ACTIVE_STATUSES, JobSummary, TrainingJob
from .parse import parse_summary, parse_tags, parse_training_job
from .selfmetrics import SelfMetrics
from .store import JobStore

MAX_PAGES = 10_000  # a guard against a server that hands out tokens forever


class SageMakerAPI(Protocol):
    region: str
    account_id: str
    attempts: int
    describe_slots: asyncio.Semaphore

    async def resolve_account(self) -> str: ...
    async def list_training_jobs(self, **params: Any) -> Mapping[str, Any]: ...
    async def describe_training_job(self, name: str) -> Mapping[str, Any]: ...
    async def list_tags(self, arn: str) -> list[Mapping[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class SyncSettings:
    poll_interval: float = 30.0
    refresh_interval: float = 300.0
    retention: float = 86400.0
    reconcile_interval: float = 600.0
    overlap: float = 60.0  # LastModifiedTime watermark overlap, for clock skew
    include: tuple[re.Pattern[str], ...] = ()
    exclude: tuple[re.Pattern[str], ...] = ()
    tag_labels: tuple[str, ...] = ()

    def wants(self, name: str) -> bool:
        if self.include and not any(p.search(name) for p in self.include):
            return False
        return not any(p.search(name) for p in self.exclude)


@dataclass(slots=True)
class CycleResult:
    ok: bool = True
    listed: int = 0
    described: int = 0
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


class TargetSync:
    """Polls one (account, region) target into the shared store."""

    def __init__(
        self,
        api: SageMakerAPI,
        store: JobStore,
        metrics: SelfMetrics,
        settings: SyncSettings,
        key: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api, self.store, self.metrics, self.settings = api, store, metrics, settings
        self.key = key
        self.clock = clock
        self.synced = False  # backfill done
        self.attempted = False  # at least one cycle finished, successfully or not
        self._started_at = clock()
        self._known: dict[str, tuple[str, str, float | None]] = {}
        self._described_at: dict[str, float] = {}
        self._need_tags: set[str] = set()
        self._watermark: float | None = None
        self._last_reconcile = 0.0
        self._summaries: dict[str, JobSummary] = {}
        self._initialized = False
        self._retry: set[str] = set()
        # Describes of the running cycle, committed to the store all at once (None: gone).
        self._staged: dict[str, TrainingJob | None] = {}
        self._log = structlog.get_logger("sync").bind(region=api.region)

    # -- listing -----------------------------------------------------------------------
    async def _list(self, **params: Any) -> list[JobSummary]:
        out: list[JobSummary] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            req = dict(params, MaxResults=100)
            if token:
                req["NextToken"] = token
            page = await self.api.list_training_jobs(**req)
            items = page.get("TrainingJobSummaries")
            if not isinstance(items, list):
                # botocore turns a garbled 200 body into an empty dict; trusting it would
                # silently end the listing and lose every job on the later pages.
                raise ApiError(
                    "ListTrainingJobs",
                    "server_error",
                    "MalformedResponse",
                    "response has no TrainingJobSummaries",
                )
            for item in items:
                s = parse_summary(item)
                if s is not None:
                    out.append(s)
            # Pages can be empty while a token remains: only a missing token ends the list.
            token = page.get("NextToken") or None
            if not token:
                break
        return out

    def _retained(self, s: JobSummary, now: float) -> bool:
        if s.status in ACTIVE_STATUSES:
            return True
        ended = s.training_end or s.last_modified or s.created
        return ended is None or ended >= now - self.settings.retention

    async def _candidates(self, now: float, result: CycleResult) -> set[str]:
        """Names to describe this cycle: new or changed summaries, plus reconcile."""
        lists: list[Awaitable[list[JobSummary]]] = []
        reconcile = (
            not self.synced or now - self._last_reconcile >= self.settings.reconcile_interval
        )
        if self.synced and self._watermark is not None:
            after = self._watermark - self.settings.overlap
        else:
            after = now - self.settings.retention - self.settings.overlap
        lists.append(self._list(LastModifiedTimeAfter=after))
        if reconcile:
            lists.append(self._list(StatusEquals="InProgress"))
            lists.append(self._list(StatusEquals="Stopping"))
        pages = await asyncio.gather(*lists)
        summaries = {s.name: s for page in pages for s in page}
        result.listed = len(summaries)
        todo = {
            s.name
            for s in summaries.values()
            if self.settings.wants(s.name)
            and self._retained(s, now)
            and self._known.get(s.name) != s.change_key
        }
        if reconcile:
            active = {n for page in pages[1:] for n in (s.name for s in page)}
            # A job we think is running but the API no longer lists as running changed
            # without our noticing (or vanished): look at it again.
            todo |= {
                j.name for j in self.store.jobs(self.key) if j.is_active and j.name not in active
            }
            self._last_reconcile = now
        self._summaries = summaries
        return todo

    # -- describing --------------------------------------------------------------------
    async def _describe(self, name: str, ctx: RenderContext, result: CycleResult) -> None:
        async with self.api.describe_slots:
            try:
                raw = await self.api.describe_training_job(name)
            except JobNotFound:
                self._staged[name] = None
                result.removed += 1
                return
            except ApiError as err:
                self._retry.add(name)
                result.fail(err)
                return
            prev = self.store.get(self.key, name)
            tags = prev.tags if prev else ()
            job = parse_training_job(raw, tags)
            if job is None or not job.status:
                # A garbled body parses to {}: not "the job is gone", just a bad answer.
                self._retry.add(name)
                result.fail(
                    ApiError(
                        "DescribeTrainingJob",
                        "server_error",
                        "MalformedResponse",
                        "response has no TrainingJobName/TrainingJobStatus",
                    )
                )
                return
            if self.settings.tag_labels and (prev is None or name in self._need_tags):
                try:
                    # Only the tags --tag-labels exports are kept: the rest would be memory
                    # spent on every job for nothing.
                    wanted = self.settings.tag_labels
                    tags = tuple(
                        kv for kv in parse_tags(await self.api.list_tags(job.arn)) if kv[0] in wanted
                    )
                    self._need_tags.discard(name)
                except ApiError as err:
                    self._need_tags.add(name)
                    result.fail(err)
                job = parse_training_job(raw, tags) or job
        result.described += 1
        self._described_at[name] = ctx.now
        summary = self._summaries.get(name)
        self._known[name] = (
            summary.change_key if summary else (job.status, job.secondary_status, job.last_modified)
        )
        if prev is None or prev != job:
            result.changed += 1
        self._staged[name] = job

    def _count_finished(self, prev: TrainingJob | None, job: TrainingJob) -> None:
        if not job.is_terminal or (prev is not None and prev.is_terminal):
            return
        if prev is None:
            # First sight of a finished job: count it only if it ended while we watched.
            ended = job.finished_at
            if not self.synced or ended is None or ended < self._started_at:
                return
        self.metrics.finished.labels(self.api.region, self.api.account_id, job.status).inc()

    def _forget(self, name: str) -> None:
        self.store.remove(self.key, name)
        self._known.pop(name, None)
        self._described_at.pop(name, None)
        self._need_tags.discard(name)

    # -- one cycle ---------------------------------------------------------------------
    async def poll_once(self) -> CycleResult:
        result = CycleResult()
        start, calls0 = time.monotonic(), self.api.attempts
        now = self.clock()
        try:
            if not self.api.account_id:
                await self.api.resolve_account()
            if not self._initialized:
                self.metrics.init_target(self.api.region, self.api.account_id)
                self._initialized = True
            ctx = RenderContext(self.api.region, self.api.account_id, now, self.settings.tag_labels)
            todo = await self._candidates(now, result)
        except ApiError as err:
            result.fail(err)
            return self._finish(result, start, calls0)
        # Describes that failed last cycle are retried whatever the listing says, so one
        # stubborn job cannot hold the watermark back for everyone.
        todo |= self._retry
        todo |= self._refresh_due(now, todo)
        self._retry = set()
        self._staged = {}
        await asyncio.gather(*(self._describe(n, ctx, result) for n in sorted(todo)))
        # No await from here to the end of _finish: a scrape sees the store and the
        # self-metrics either wholly before this cycle or wholly after it.
        self._apply(ctx, result)
        # The listing succeeded: from now on list by watermark (failed describes are retried).
        self._watermark = now
        self.synced = True
        done = self._finish(result, start, calls0)
        await self.store.precompress()
        return done

    def _apply(self, ctx: RenderContext, result: CycleResult) -> None:
        """Commit the cycle's describes, re-render running jobs' elapsed times, evict."""
        for name, job in self._staged.items():
            if job is None:
                self._forget(name)
            else:
                self._count_finished(self.store.get(self.key, name), job)
                self.store.upsert(self.key, job, ctx)
        for job in list(self.store.jobs(self.key)):
            if job.is_active and job.name not in self._staged:
                self.store.upsert(self.key, job, ctx)
        self._staged = {}
        result.evicted = self._evict(ctx.now)

    def _refresh_due(self, now: float, already: set[str]) -> set[str]:
        """Running jobs to re-describe: the stalest first, spread so that each is refreshed
        about once per refresh interval instead of all at once (a budget per cycle)."""
        active = [j.name for j in self.store.jobs(self.key) if j.is_active]
        due_before = now - self.settings.refresh_interval
        due = sorted(
            (self._described_at.get(n, 0.0), n)
            for n in active
            if n not in already and self._described_at.get(n, 0.0) <= due_before
        )
        budget = math.ceil(
            len(active) * self.settings.poll_interval / self.settings.refresh_interval
        )
        return {n for _, n in due[: max(1, budget)]}

    def _evict(self, now: float) -> int:
        horizon = now - self.settings.retention
        old = [
            j.name
            for j in self.store.jobs(self.key)
            if (j.finished_at is not None and j.finished_at < horizon)
            or not self.settings.wants(j.name)
        ]
        for name in old:
            self._forget(name)
        return len(old)

    def _finish(self, result: CycleResult, start: float, calls0: int) -> CycleResult:
        self.attempted = True
        result.duration = time.monotonic() - start
        result.api_calls = self.api.attempts - calls0
        region, account = self.api.region, self.api.account_id
        fields = dict(
            account_id=account,
            listed=result.listed,
            described=result.described,
            changed=result.changed,
            removed=result.removed,
            evicted=result.evicted,
            tracked=self.store.count(self.key),
            api_calls=result.api_calls,
            duration_s=round(result.duration, 3),
        )
        if account:
            m = self.metrics
            m.poll_duration.labels(region, account).set(result.duration)
            m.tracked_jobs.labels(region, account).set(self.store.count(self.key))
            m.polls.labels(region, account, "success" if result.ok else "failure").inc()
            m.target_up.labels(region, account).set(1 if result.ok else 0)
            if result.ok:
                m.last_success.labels(region, account).set(time.time())
        if result.ok:
            self._log.info("poll", **fields)
        else:
            self._log.warning("poll failed", errors=result.errors, **fields)
        return result

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set, keeping cadence (the cycle's run time is subtracted)."""
        while not stop.is_set():
            began = time.monotonic()
            try:
                await self.poll_once()
            except Exception:  # the daemon must never die because the API misbehaved
                self.attempted = True
                self._log.exception("poll crashed")
            delay = max(0.0, self.settings.poll_interval - (time.monotonic() - began))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
