"""The backfill: a target's first sync, pipelined and visible as it goes.

A cold start used to list every job, then describe every job, then show them all at once:
at 10 describes/s a busy account stared at an empty page for a quarter of an hour. Here,
concurrently:

- ListTrainingJobs runs the running jobs' listings first, then every job changed within
  the retention, newest first; each page is acted on as it arrives;
- Search(Resource=TrainingJob) reads whole records, 100 a call with their tags: running
  jobs first, then finished jobs last changed more than `search_margin` ago (fresher
  records may lag the job, since Search reads an index);
- describe workers take a priority queue: running jobs first (alerts need them, and a
  Search record lacks rule statuses and progress), then finished jobs newest first that
  Search did not cover (or all of them, where Search is denied).

What arrives is committed to the store every FLUSH_SECONDS in one step with no await, so a
scrape always sees a consistent snapshot and /metrics fills while the backfill runs. The
backfill is complete, and /readyz ready, once every listed job is on /metrics with a record
that matches its listing; describes still queued then (running jobs already shown from
Search) are handed to the steady-state cycles.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from exporter.aws.errors import ApiError
from exporter.model import ACTIVE_STATUSES, JobSummary, TrainingJob
from exporter.sources.listing import CycleResult
from exporter.sources.training_api import (
    SageMakerAPI,
    SyncSettings,
    ended,
    fetch_job,
    iso,
    list_pages,
    matches,
    search_pages,
)
from exporter.store.objects import ObjectStore

FLUSH_SECONDS = 0.25
WORKERS = 64
# Describe priorities: jobs not on /metrics yet (running first), then running jobs already
# shown from a Search record (their describe adds detail, not presence).
RUNNING, FINISHED, COVERED = 0, 1, 2

Commit = Callable[[dict[str, TrainingJob | None], set[str]], None]


class Backfill:
    """One backfill run of one target; `run()` once, then read its leftovers."""

    def __init__(
        self,
        api: SageMakerAPI,
        store: ObjectStore[TrainingJob],
        key: str,
        settings: SyncSettings,
        commit: Commit,
        pending: Callable[[int], None],
        search: bool,
        log: Any,
    ) -> None:
        self.api, self.store, self.key, self.settings = api, store, key, settings
        self._commit, self._pending, self._log = commit, pending, log
        self.search = search
        self.search_denied = False
        self.listed: dict[str, JobSummary] = {}
        self.unseen: set[str] = set()  # listed, not yet on /metrics as listed
        self.deferred: list[str] = []  # finished jobs Search should cover
        self.queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
        self.queued: set[str] = set()
        self.described: set[str] = set()  # this run's describes: they win over Search
        self.staged: dict[str, TrainingJob | None] = {}
        self.retry: set[str] = set()
        self.need_tags: set[str] = set()
        self.inflight: set[str] = set()
        self._seq = 0

    # -- what is known ----------------------------------------------------------------
    def _current(self, name: str) -> TrainingJob | None:
        if name in self.staged:
            return self.staged[name]
        return self.store.get(self.key, name)

    def _covered(self, s: JobSummary) -> bool:
        job = self._current(s.name)
        if job is None:
            return False
        # A running job shown from a lagging record is refreshed by its describe anyway.
        return matches(s, job) or (s.status in ACTIVE_STATUSES and job.is_active)

    def _retained(self, job: TrainingJob | JobSummary, now: float) -> bool:
        at = ended(job)
        return at is None or at >= now - self.settings.retention

    def _enqueue(self, priority: int, name: str, again: bool = False) -> None:
        if again or name not in self.queued:
            self.queued.add(name)
            self._seq += 1
            self.queue.put_nowait((priority, self._seq, name))

    # -- the three producers ---------------------------------------------------------------
    async def _list(self, now: float, result: CycleResult) -> None:
        after = now - self.settings.retention - self.settings.overlap
        fresh = now - self.settings.search_margin
        for params in (
            {"StatusEquals": "InProgress"},
            {"StatusEquals": "Stopping"},
            {"LastModifiedTimeAfter": after},
        ):
            async for page in list_pages(self.api, **params):
                for s in page:
                    if s.name in self.listed or not self.settings.wants(s.name):
                        continue
                    if not self._retained(s, now):
                        continue
                    self.listed[s.name] = s
                    result.listed += 1
                    if not self._covered(s):
                        self.unseen.add(s.name)
                    if s.status in ACTIVE_STATUSES:
                        self._enqueue(RUNNING, s.name)
                    elif s.name not in self.unseen:
                        continue
                    elif self.search and (s.last_modified or 0.0) < fresh:
                        self.deferred.append(s.name)
                    else:
                        self._enqueue(FINISHED, s.name)

    async def _search(self, now: float, result: CycleResult) -> None:
        after = now - self.settings.retention - self.settings.overlap
        status = "TrainingJobStatus"
        queries = (
            [{"Name": status, "Operator": "In", "Value": "InProgress,Stopping"}],
            [
                {"Name": status, "Operator": "In", "Value": "Completed,Failed,Stopped"},
                {"Name": "LastModifiedTime", "Operator": "GreaterThan", "Value": iso(after)},
                {
                    "Name": "LastModifiedTime",
                    "Operator": "LessThan",
                    "Value": iso(now - self.settings.search_margin),
                },
            ],
        )
        try:
            for filters in queries:
                async for page in search_pages(self.api, filters, self.settings.tag_labels):
                    for job in page:
                        self._take_record(job, now, result)
        except ApiError as err:
            if err.access_denied:
                self.search_denied = True
                self._log.warning(
                    "search denied: backfilling with ListTrainingJobs + DescribeTrainingJob",
                    error=str(err),
                )
            else:
                result.errors[f"{err.operation}:{err.code}"] = (
                    result.errors.get(f"{err.operation}:{err.code}", 0) + 1
                )
                self._log.warning("search failed: describing instead", error=str(err))

    def _take_record(self, job: TrainingJob, now: float, result: CycleResult) -> None:
        if job.name in self.described or not self.settings.wants(job.name):
            return
        if not self._retained(job, now):
            return
        have = self._current(job.name)
        if have is not None and (have.last_modified or 0.0) >= (job.last_modified or 0.0):
            return  # what we hold is as new, and may be a fuller (described) record
        self.staged[job.name] = job
        result.searched += 1

    async def _worker(self, result: CycleResult) -> None:
        while True:
            priority, _, name = await self.queue.get()
            if priority == RUNNING and name not in self.unseen:
                # Shown from Search meanwhile: jobs not on /metrics at all go first.
                self._enqueue(COVERED, name, again=True)
                self.queue.task_done()
                continue
            self.inflight.add(name)
            try:
                await self._describe(name, result)
            finally:
                self.inflight.discard(name)
                self.queue.task_done()

    async def _describe(self, name: str, result: CycleResult) -> None:
        prev = self._current(name)
        got = await fetch_job(self.api, name, prev, self.settings.tag_labels, prev is None, result)
        if got.gone:
            self.staged[name] = None
            self.unseen.discard(name)
            result.removed += 1
        elif got.job is None:
            self.retry.add(name)
        else:
            result.described += 1
            self.described.add(name)
            self.staged[name] = got.job
            if not got.tags_ok:
                self.need_tags.add(name)

    # -- committing -------------------------------------------------------------------------
    def flush(self) -> None:
        """Commit what arrived, in one step with no await."""
        if self.staged:
            staged, self.staged = self.staged, {}
            for name, job in staged.items():
                s = self.listed.get(name)
                if (
                    job is not None
                    and s is not None
                    and name in self.unseen
                    and (matches(s, job) or (s.status in ACTIVE_STATUSES and job.is_active))
                ):
                    self.unseen.discard(name)
            self._commit(staged, self.described & staged.keys())
        self._pending(len(self.unseen))

    async def run(self, now: float, result: CycleResult) -> set[str]:
        """Backfill; returns the describes still queued (of jobs already on /metrics).
        Raises ApiError if the listing failed (what arrived until then is committed)."""
        # More workers than describe slots: the semaphore in fetch_job bounds the calls.
        workers = [asyncio.create_task(self._worker(result)) for _ in range(WORKERS)]
        searching = asyncio.create_task(self._search(now, result)) if self.search else None
        listing = asyncio.create_task(self._list(now, result))
        try:
            while not listing.done():
                await asyncio.wait([listing], timeout=FLUSH_SECONDS)
                self.flush()
            listing.result()  # raises the listing's ApiError
            if searching is not None:
                while not searching.done():
                    await asyncio.wait([searching], timeout=FLUSH_SECONDS)
                    self.flush()
            self.flush()
            for name in self.deferred:
                if not self._covered(self.listed[name]):
                    self._enqueue(FINISHED, name)
            while self.unseen and not (self.queue.empty() and not self.inflight):
                await asyncio.sleep(FLUSH_SECONDS)
                self.flush()
            # Describes queued or in flight for jobs already shown are handed on.
            leftover = set(self.inflight)
            while not self.queue.empty():
                leftover.add(self.queue.get_nowait()[2])
            return leftover
        finally:
            for task in (*workers, listing, *([searching] if searching else [])):
                task.cancel()
            for task in (*workers, listing, *([searching] if searching else [])):
                with contextlib.suppress(asyncio.CancelledError, ApiError):
                    await task
            self.flush()
