"""The tuning-job source: keep the tuning store equal to what SageMaker says, per target.

ListHyperParameterTuningJobs summaries already carry the status, the counters and the
limits, so the list feeds most families; a tuning job is described only when it is new or
its summary changed, for what the list lacks (best training job and its objective value,
the objective's metric and direction). Same change detection (LastModifiedTime watermark
with overlap, plus a periodic re-list of the running ones) and the same retention as
training jobs. Its own task and its own failure: a failing tuning-job poll marks only
`sagemaker_exporter_tuning_target_up` down, never the training-job target.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from exporter.aws.errors import ApiError, JobNotFound
from exporter.metrics.selfmetrics import OUTCOMES, TUNING_OPERATIONS, SelfMetrics
from exporter.model import TuningJob
from exporter.parse.api import parse_tuning_job
from exporter.store.tuning import TuningStore

MAX_PAGES = 1000


class TuningAPI(Protocol):
    region: str
    account_id: str

    async def resolve_account(self) -> str: ...
    async def list_tuning_jobs(self, **params: Any) -> Mapping[str, Any]: ...
    async def describe_tuning_job(self, name: str) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class TuningSettings:
    poll_interval: float = 30.0
    retention: float = 86400.0
    reconcile_interval: float = 600.0
    overlap: float = 60.0


@dataclass(slots=True)
class TuningCycle:
    ok: bool = True
    listed: int = 0
    described: int = 0
    removed: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def fail(self, err: ApiError) -> None:
        self.ok = False
        key = f"{err.operation}:{err.code}"
        self.errors[key] = self.errors.get(key, 0) + 1


class TuningSync:
    """Polls the tuning jobs of one (account, region) target into the tuning store."""

    def __init__(
        self,
        api: TuningAPI,
        store: TuningStore,
        metrics: SelfMetrics,
        settings: TuningSettings,
        key: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api, self.store, self.metrics, self.settings = api, store, metrics, settings
        self.key, self.clock = key, clock
        self._known: dict[str, Any] = {}  # name -> the summary's change key last described
        self._watermark: float | None = None
        self._last_reconcile = 0.0
        self._initialized = False
        self._log = structlog.get_logger("tuning").bind(region=api.region)

    async def _list(self, **params: Any) -> list[tuple[TuningJob, Any]]:
        out: list[tuple[TuningJob, Any]] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            req = dict(params, MaxResults=100)
            if token:
                req["NextToken"] = token
            page = await self.api.list_tuning_jobs(**req)
            items = page.get("HyperParameterTuningJobSummaries")
            if not isinstance(items, list):
                raise ApiError(
                    "ListHyperParameterTuningJobs",
                    "server_error",
                    "MalformedResponse",
                    "response has no HyperParameterTuningJobSummaries",
                )
            for item in items:
                job = parse_tuning_job(item)
                if job is not None:
                    out.append((job, item))
            token = page.get("NextToken") or None
            if not token:
                break
        return out

    def _retained(self, job: TuningJob, now: float) -> bool:
        ended = job.finished_at
        return ended is None or ended >= now - self.settings.retention

    async def poll_once(self) -> TuningCycle:
        result = TuningCycle()
        now = self.clock()
        try:
            if not self.api.account_id:
                await self.api.resolve_account()
            region, account = self.api.region, self.api.account_id
            if not self._initialized:
                for op in TUNING_OPERATIONS:
                    for outcome in OUTCOMES:
                        self.metrics.api_requests.labels(op, region, account, outcome)
                self._initialized = True
            after = (
                self._watermark - self.settings.overlap
                if self._watermark is not None
                else now - self.settings.retention - self.settings.overlap
            )
            lists = [self._list(LastModifiedTimeAfter=after)]
            reconcile = now - self._last_reconcile >= self.settings.reconcile_interval
            if reconcile:
                lists.append(self._list(StatusEquals="InProgress"))
                lists.append(self._list(StatusEquals="Stopping"))
            pages = await asyncio.gather(*lists)
        except ApiError as err:
            result.fail(err)
            return self._finish(result)
        listed = {job.name: (job, item) for page in pages for job, item in page}
        result.listed = len(listed)
        if reconcile:
            running = {job.name for page in pages[1:] for job, _ in page}
            for job in list(self.store.jobs(self.key)):
                # Believed running but no longer listed as running: look at it again.
                if not job.is_terminal and job.name not in running and job.name not in listed:
                    listed[job.name] = (job, None)
        failed = False
        for name, (summary, item) in sorted(listed.items()):
            unchanged = item is not None and self._known.get(name) == summary.change_key
            if not self._retained(summary, now) or unchanged:
                continue
            try:
                described = await self.api.describe_tuning_job(name)
            except JobNotFound:
                self._forget(name)
                result.removed += 1
                continue
            except ApiError as err:
                result.fail(err)
                failed = True
                continue
            # The summary when we have one (it is what the change key came from), else the
            # description, which carries the same fields.
            fresh = parse_tuning_job(item if item is not None else described, described)
            if fresh is None:
                continue
            result.described += 1
            self._known[name] = fresh.change_key if item is None else summary.change_key
            self.store.upsert(self.key, fresh, region, account)
        horizon = now - self.settings.retention
        for job in list(self.store.jobs(self.key)):
            if job.finished_at is not None and job.finished_at < horizon:
                self._forget(job.name)
        if not failed:
            self._watermark = now
        if reconcile:
            self._last_reconcile = now
        return self._finish(result)

    def _forget(self, name: str) -> None:
        self.store.remove(self.key, name)
        self._known.pop(name, None)

    def _finish(self, result: TuningCycle) -> TuningCycle:
        region, account = self.api.region, self.api.account_id
        if account:
            self.metrics.tuning_target_up.labels(region, account).set(1 if result.ok else 0)
            self.metrics.tracked_tuning_jobs.labels(region, account).set(self.store.count(self.key))
        if not result.ok:
            self._log.warning("tuning poll failed", account_id=account, errors=result.errors)
        return result

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            began = time.monotonic()
            try:
                await self.poll_once()
            except Exception:  # the daemon must never die because the API misbehaved
                self._log.exception("tuning poll crashed")
            delay = max(0.0, self.settings.poll_interval - (time.monotonic() - began))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
