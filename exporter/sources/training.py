"""The training-job poller: the list/describe engine (exporter.sources.listing) run on the
TRAINING kind, plus what only training jobs have.

A target's first cycle is the backfill (exporter.sources.backfill: pipelined, Search for
what it can, committed in batches). After it, each cycle is the engine's steady cycle;
running jobs are also re-described at the slower refresh interval (final metrics,
transitions), spread so that each is refreshed about once per interval, and their
elapsed-time values re-rendered every cycle from the last description, at no API cost.
Events (exporter.sources.events) reach a target through `apply_job()`, `want_describe()`
and its identity, never through its store or client.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Collection, Mapping

from exporter.cadence import Cadence
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.model import JobSummary, TrainingJob
from exporter.parse.api import parse_summary
from exporter.parse.prices import Prices
from exporter.sources.backfill import Backfill
from exporter.sources.listing import CycleResult, Fetched, Kind, ListPoller
from exporter.sources.training_api import (
    SageMakerAPI,
    SyncSettings,
    ended,
    fetch_job,
    matches,
)
from exporter.store.objects import ObjectStore

__all__ = ["TRAINING", "CycleResult", "SageMakerAPI", "SyncSettings", "TargetSync"]


TRAINING: Kind[JobSummary, TrainingJob] = Kind(
    list_operation="ListTrainingJobs",
    items_key="TrainingJobSummaries",
    list_call=lambda api: api.list_training_jobs,
    parse_summary=parse_summary,
    name_of=lambda s: s.name,
    ended=ended,
    unchanged=matches,
)


class TargetSync(ListPoller[JobSummary, TrainingJob]):
    """Polls the training jobs of one (account, region) target into the shared store."""

    logger = "sync"

    def __init__(
        self,
        api: SageMakerAPI,
        store: ObjectStore[TrainingJob],
        metrics: SelfMetrics,
        settings: SyncSettings,
        key: str,
        cadence: Cadence | None = None,
        prices: Prices | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            TRAINING,
            api,
            store,
            metrics,
            settings,
            key,
            cadence or Cadence(30.0),
            prices,
            clock,
        )
        self.settings: SyncSettings = settings
        self.synced = False  # backfill done
        self.search = settings.search  # False once Search was denied
        self._started_at = clock()
        # Per running job only: when it was last described (finished jobs need no refresh).
        self._described_at: dict[str, float] = {}
        self._need_tags: set[str] = set()
        self._soon: set[str] = set()  # running jobs shown from Search, not described yet
        # Event mode (apply_job / want_describe): describes asked for, and their tasks.
        self._wanted: set[str] = set()
        self._wanted_tasks: set[asyncio.Task[None]] = set()

    # -- identity, for events ------------------------------------------------------------
    @property
    def account_id(self) -> str:
        return str(self.api.account_id)

    @property
    def region(self) -> str:
        return str(self.api.region)

    def get(self, name: str) -> TrainingJob | None:
        return self.store.get(self.key, name)

    def wants(self, name: str) -> bool:
        return self.settings.wants(name)

    # -- committing ---------------------------------------------------------------------
    def commit(self, staged: Mapping[str, TrainingJob | None], described: set[str]) -> None:
        """Apply describes and records to the store; no await, so a scrape sees all or none."""
        now = self.clock()
        ctx = self.render_context(now)
        for name, job in staged.items():
            if job is None:
                self.forget(name)
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

    def forget(self, name: str) -> None:
        self.store.remove(self.key, name)
        self._described_at.pop(name, None)
        self._need_tags.discard(name)
        self._soon.discard(name)

    # -- the backfill -------------------------------------------------------------------
    async def first(self, now: float, result: CycleResult) -> None:
        region, account = self.api.region, self.api.account_id
        pending = self.metrics.backfill_pending.labels(region, account)
        tracked = self.metrics.tracked_jobs.labels(region, account)
        result.backfill = True

        def progress(left: int) -> None:  # after each batch, with no await: one snapshot
            pending.set(left)
            tracked.set(self.store.count(self.key))

        bf = Backfill(
            self.api,
            self.store,
            self.key,
            self.settings,
            self.commit,
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
        self._last_reconcile = now
        self.synced = True

    # -- steady state -------------------------------------------------------------------
    def _refresh_due(self, now: float, already: set[str]) -> set[str]:
        """Running jobs to re-describe: the stalest first, spread so that each is refreshed
        about once per refresh interval instead of all at once (a budget per cycle). Jobs
        shown from Search and never described come first, as fast as the rate allows."""
        interval = self.cadence.interval
        soon = sorted(self._soon - already)
        budget = max(1, int(self.api.describe_rate() * interval / 2))
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
        budget = math.ceil(len(active) * interval / self.settings.refresh_interval)
        return picked | {n for _, n in due[: max(1, budget)]}

    async def fetch(
        self,
        name: str,
        summary: JobSummary | None,
        prev: TrainingJob | None,
        result: CycleResult,
    ) -> Fetched[TrainingJob]:
        need_tags = prev is None or name in self._need_tags
        return await fetch_job(self.api, name, prev, self.settings.tag_labels, need_tags, result)

    def described(self, name: str, got: Fetched[TrainingJob]) -> None:
        if got.tags_ok:
            self._need_tags.discard(name)
        else:
            self._need_tags.add(name)

    async def steady(self, now: float, result: CycleResult) -> None:
        todo = await self.candidates(now, result)
        # Describes that failed last cycle are retried whatever the listing says, so one
        # stubborn job cannot hold the watermark back for everyone.
        for name in self._retry | self._refresh_due(now, set(todo) | self._retry):
            todo.setdefault(name, None)
        self._retry = set()
        staged = await self.describe_all(todo, result)
        self.commit(staged, set(staged))
        self.rerender_running(now, skip=staged)

    def rerender_running(self, now: float, skip: Collection[str] = ()) -> None:
        """Running jobs' elapsed times count up to `now` with no API call."""
        ctx = self.render_context(now)
        for job in self.store.running(self.key):
            if job.name not in skip:
                self.store.upsert(self.key, job, ctx)

    # -- one cycle ---------------------------------------------------------------------
    def init_target(self) -> None:
        self.metrics.init_target(self.api.region, self.api.account_id)

    def report(self, result: CycleResult) -> None:
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

    async def run(self, stop: asyncio.Event, offset: float | None = None) -> None:
        # The first cycle runs at once (readiness waits for it); the wait after it is
        # stretched once by this target's phase, so targets then poll spread over the
        # interval instead of all together.
        if offset is None:
            offset = phase_offset(self.key, self.cadence.interval)
        await super().run(stop, offset)

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
        self.store.upsert(self.key, job, self.render_context(self.clock()))
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
        result = CycleResult()
        got = await self.fetch(name, None, prev, result)
        if got.gone:
            return  # the next poll's reconcile removes it
        if got.job is None:
            self._retry.add(name)  # the next poll cycle tries again
            self._log.warning("describe after event failed", job=name, errors=result.errors)
            return
        self.described(name, got)
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


def phase_offset(key: str, interval: float) -> float:
    """Where in the poll interval a target polls, in [0, interval): seeded by its key, so a
    target keeps its phase across restarts and hundreds of targets spread evenly."""
    return random.Random(key).uniform(0.0, interval) % interval
