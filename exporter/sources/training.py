"""The sync engine: keep the store equal to what SageMaker says, at the lowest API cost.

A target's first cycle is the backfill (exporter.sources.backfill: pipelined, Search for what it
can, committed in batches). After it, SageMaker having no watch API, each cycle lists only
jobs modified since the last watermark and describes a job only when it is new or its
summary changed. Running jobs are re-described at the slower refresh interval (final
metrics, transitions), and the in-progress set is reconciled now and then in case a
change slipped past the watermark. Elapsed-time values of running jobs are re-rendered
every cycle from the last description, at no API cost. A steady cycle commits in one step.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from dataclasses import replace

import structlog

from exporter.aws.errors import ApiError
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.metrics.training_jobs import RenderContext
from exporter.model import ACTIVE_STATUSES, JobSummary, TrainingJob
from exporter.sources.backfill import Backfill
from exporter.sources.fetch import (
    CycleResult,
    SageMakerAPI,
    SyncSettings,
    fetch_job,
    list_all,
    matches,
)
from exporter.store.objects import JobStore

__all__ = ["CycleResult", "SageMakerAPI", "SyncSettings", "TargetSync"]


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
        self.search = settings.search  # False once Search was denied
        self._started_at = clock()
        # Per running job only: when it was last described (finished jobs need no refresh).
        self._described_at: dict[str, float] = {}
        self._need_tags: set[str] = set()
        self._watermark: float | None = None
        self._last_reconcile = 0.0
        self._retry: set[str] = set()  # describes that failed: retried next cycle
        self._soon: set[str] = set()  # running jobs shown from Search, not described yet
        self._initialized = False
        self._log = structlog.get_logger("sync").bind(region=api.region)
        # Event mode (apply_job / want_describe): describes asked for, and their tasks.
        self._wanted: set[str] = set()
        self._wanted_tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    # -- committing ---------------------------------------------------------------------
    def _commit(self, staged: dict[str, TrainingJob | None], described: set[str]) -> None:
        """Apply describes and records to the store; no await, so a scrape sees all or none."""
        now = self.clock()
        ctx = RenderContext(
            self.api.region,
            self.api.account_id,
            now,
            self.settings.tag_labels,
            prices=self.settings.prices,
        )
        for name, job in staged.items():
            if job is None:
                self._forget(name)
                continue
            if self._store_is_newer(job):
                continue  # an event applied while this describe was under way is newer
            self._count_finished(self.store.get(self.key, name), job)
            self.store.upsert(self.key, job, ctx)
            if not job.is_active:
                self._described_at.pop(name, None)
                self._soon.discard(name)
            elif name in described:
                self._described_at[name] = now
                self._soon.discard(name)

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
        self._described_at.pop(name, None)
        self._need_tags.discard(name)
        self._soon.discard(name)

    # -- the backfill -------------------------------------------------------------------
    async def _backfill(self, now: float, result: CycleResult) -> None:
        region, account = self.api.region, self.api.account_id
        pending = self.metrics.backfill_pending.labels(region, account)
        tracked = self.metrics.tracked_jobs.labels(region, account)

        def progress(left: int) -> None:  # after each batch, with no await: one snapshot
            pending.set(left)
            tracked.set(self.store.count(self.key))

        bf = Backfill(
            self.api,
            self.store,
            self.key,
            self.settings,
            self._commit,
            progress,
            self.search,
            self._log,
        )
        try:
            self._soon |= await bf.run(now, result)
        finally:
            self._retry |= bf.retry
            self._need_tags |= bf.need_tags
            if bf.search_denied:
                self.search = False
                self.metrics.search_enabled.labels(region, account).set(0)

    # -- steady state -------------------------------------------------------------------
    def _retained(self, s: JobSummary, now: float) -> bool:
        if s.status in ACTIVE_STATUSES:
            return True
        ended = s.training_end or s.last_modified or s.created
        return ended is None or ended >= now - self.settings.retention

    async def _candidates(self, now: float, result: CycleResult) -> set[str]:
        """Names to describe this cycle: new or changed summaries, plus reconcile."""
        reconcile = now - self._last_reconcile >= self.settings.reconcile_interval
        assert self._watermark is not None
        lists = [list_all(self.api, LastModifiedTimeAfter=self._watermark - self.settings.overlap)]
        if reconcile:
            lists.append(list_all(self.api, StatusEquals="InProgress"))
            lists.append(list_all(self.api, StatusEquals="Stopping"))
        pages = await asyncio.gather(*lists)
        summaries = {s.name: s for page in pages for s in page}
        result.listed = len(summaries)
        todo = set()
        for s in summaries.values():
            if not self.settings.wants(s.name) or not self._retained(s, now):
                continue
            job = self.store.get(self.key, s.name)
            if job is None or not matches(s, job):
                todo.add(s.name)
        if reconcile:
            active = {s.name for page in pages[1:] for s in page}
            # A job we think is running but the API no longer lists as running changed
            # without our noticing (or vanished): look at it again.
            todo |= {j.name for j in self.store.running(self.key) if j.name not in active}
            self._last_reconcile = now
        return todo

    def _refresh_due(self, now: float, already: set[str]) -> set[str]:
        """Running jobs to re-describe: the stalest first, spread so that each is refreshed
        about once per refresh interval instead of all at once (a budget per cycle). Jobs
        shown from Search and never described come first, as fast as the rate allows."""
        soon = sorted(self._soon - already)
        budget = max(1, int(self.api.describe_rate() * self.settings.poll_interval / 2))
        picked = set(soon[:budget])
        active = [j.name for j in self.store.running(self.key)]
        due_before = now - self.settings.refresh_interval
        due = sorted(
            (self._described_at.get(n, 0.0), n)
            for n in active
            if n not in already
            and n not in self._soon
            and self._described_at.get(n, 0.0) <= due_before
        )
        budget = math.ceil(
            len(active) * self.settings.poll_interval / self.settings.refresh_interval
        )
        return picked | {n for _, n in due[: max(1, budget)]}

    async def _describe(
        self, name: str, staged: dict[str, TrainingJob | None], result: CycleResult
    ) -> None:
        prev = self.store.get(self.key, name)
        need_tags = prev is None or name in self._need_tags
        got = await fetch_job(self.api, name, prev, self.settings.tag_labels, need_tags, result)
        if got.gone:
            staged[name] = None
            result.removed += 1
        elif got.job is None:
            self._retry.add(name)
        else:
            result.described += 1
            if got.tags_ok:
                self._need_tags.discard(name)
            else:
                self._need_tags.add(name)
            if prev != got.job:
                result.changed += 1
            staged[name] = got.job

    async def _steady(self, now: float, result: CycleResult) -> None:
        todo = await self._candidates(now, result)
        # Describes that failed last cycle are retried whatever the listing says, so one
        # stubborn job cannot hold the watermark back for everyone.
        todo |= self._retry
        todo |= self._refresh_due(now, todo)
        self._retry = set()
        staged: dict[str, TrainingJob | None] = {}
        await asyncio.gather(*(self._describe(n, staged, result) for n in sorted(todo)))
        self._commit(staged, set(staged))
        # Running jobs' elapsed times count up with no API call.
        ctx = RenderContext(
            self.api.region,
            self.api.account_id,
            now,
            self.settings.tag_labels,
            prices=self.settings.prices,
        )
        for job in self.store.running(self.key):
            if job.name not in staged:
                self.store.upsert(self.key, job, ctx)

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
            if self.synced:
                await self._steady(now, result)
            else:
                result.backfill = True
                await self._backfill(now, result)
                self._last_reconcile = now
        except ApiError as err:
            result.fail(err)
            return self._finish(result, start, calls0)
        # No await from here to the end of _finish: a scrape sees the store and the
        # self-metrics either wholly before this cycle's end or wholly after it.
        result.evicted = self._evict(now)
        # The listing succeeded: from now on list by watermark (failed describes are retried).
        self._watermark = now
        self.synced = True
        done = self._finish(result, start, calls0)
        await self.store.precompress()
        return done

    def _evict(self, now: float) -> int:
        horizon = now - self.settings.retention
        old = [
            j.name
            for j in self.store.stored(self.key)
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
            searched=result.searched,
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
            self._log.info("poll", backfill=result.backfill or None, **fields)
        else:
            self._log.warning("poll failed", errors=result.errors, **fields)
        return result

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set, keeping cadence (the cycle's run time is subtracted)."""
        # The first cycle runs at once (readiness waits for it); the wait after it is
        # stretched once by this target's phase, so targets then poll spread over the
        # interval instead of all together.
        offset = phase_offset(self.key, self.settings.poll_interval)
        while not stop.is_set():
            began = time.monotonic()
            try:
                await self.poll_once()
            except Exception:  # the daemon must never die because the API misbehaved
                self.attempted = True
                self._log.exception("poll crashed")
            delay = max(0.0, self.settings.poll_interval - (time.monotonic() - began)) + offset
            offset = 0.0
            await self._sleep(stop, delay)

    # -- records from outside the poll (events) ------------------------------------------
    def apply_job(self, job: TrainingJob) -> bool:
        """Apply a record from outside the poll (an event) at once, in one step with no
        await (a scrape sees it wholly or not at all). False (nothing changed) if the
        store already holds the job with a LastModifiedTime newer than the record's."""
        if not self.settings.wants(job.name) or not self.api.account_id:
            return False
        prev = self.store.get(self.key, job.name)
        if prev == job or self._store_is_newer(job):
            return False
        if prev is None and self.settings.tag_labels and not job.tags:
            self._need_tags.add(job.name)
        self._count_finished(prev, job)
        ctx = RenderContext(
            self.api.region,
            self.api.account_id,
            self.clock(),
            self.settings.tag_labels,
            prices=self.settings.prices,
        )
        self.store.upsert(self.key, job, ctx)
        return True

    def want_describe(self, name: str) -> None:
        """Describe this job soon, through the same rate-limited client, for the full
        record (final metrics, rules)."""
        if name in self._wanted:
            return
        self._wanted.add(name)
        task = asyncio.get_running_loop().create_task(self._describe_wanted(name))
        self._wanted_tasks.add(task)
        task.add_done_callback(self._wanted_tasks.discard)

    async def _describe_wanted(self, name: str) -> None:
        self._wanted.discard(name)  # from here, a later event asks for a later describe
        prev = self.store.get(self.key, name)
        need_tags = prev is None or name in self._need_tags
        result = CycleResult()
        got = await fetch_job(self.api, name, prev, self.settings.tag_labels, need_tags, result)
        if got.gone:
            return  # the next poll's reconcile removes it
        if got.job is None:
            self._retry.add(name)  # the next poll cycle tries again
            self._log.warning("describe after event failed", job=name, errors=result.errors)
            return
        if got.tags_ok:
            self._need_tags.discard(name)
        else:
            self._need_tags.add(name)
        self.apply_job(got.job)
        if got.job.is_active:
            self._described_at[name] = self.clock()
            self._soon.discard(name)

    def cancel_describes(self) -> None:
        """On shutdown: describes asked for by events are not waited for."""
        for task in list(self._wanted_tasks):
            task.cancel()

    def _store_is_newer(self, job: TrainingJob) -> bool:
        prev = self.store.get(self.key, job.name)
        # Events carry milliseconds: a describe of the same change must not lose to the
        # event by a rounding, so times within 2 ms count as the same.
        return (
            prev is not None
            and prev.last_modified is not None
            and job.last_modified is not None
            and prev.last_modified - job.last_modified > 0.002
        )

    def set_poll_interval(self, seconds: float) -> None:
        """Poll at this interval from now on (event mode and its fallback); a shorter one
        applies to the wait under way, counted from its start."""
        if seconds == self.settings.poll_interval:
            return
        self.settings = replace(self.settings, poll_interval=seconds)
        self._wake.set()

    async def _sleep(self, stop: asyncio.Event, delay: float) -> None:
        """Wait `delay` seconds, or less if stopped; a new poll interval moves the end of
        the wait to where it would have been with that interval."""
        self._wake.clear()
        cycle_start = time.monotonic() + delay - self.settings.poll_interval
        deadline = time.monotonic() + delay
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            try:
                await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            if self._wake.is_set():
                self._wake.clear()
                deadline = cycle_start + self.settings.poll_interval


def phase_offset(key: str, interval: float) -> float:
    """Where in the poll interval a target polls, in [0, interval): seeded by its key, so a
    target keeps its phase across restarts and hundreds of targets spread evenly."""
    return random.Random(key).uniform(0.0, interval) % interval
