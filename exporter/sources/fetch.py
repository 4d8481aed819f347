"""The calls the sync engines make, as model objects: list pages, search pages, one job.

Shared by the steady-state cycle (exporter.sources.training) and the backfill (exporter.sources.backfill);
nothing here keeps state between calls.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from exporter.aws.errors import ApiError, JobNotFound, malformed
from exporter.aws.paging import pages
from exporter.model import JobSummary, TrainingJob
from exporter.parse.api import parse_summary, parse_tags, parse_training_job
from exporter.parse.prices import Prices


class SageMakerAPI(Protocol):
    region: str
    account_id: str
    @property
    def attempts(self) -> int: ...
    describe_slots: asyncio.Semaphore

    async def resolve_account(self) -> str: ...
    async def list_training_jobs(self, **params: Any) -> Mapping[str, Any]: ...
    async def describe_training_job(self, name: str) -> Mapping[str, Any]: ...
    async def list_tags(self, arn: str) -> list[Mapping[str, Any]]: ...
    async def search_training_jobs(self, **params: Any) -> Mapping[str, Any]: ...
    def describe_rate(self) -> float: ...


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
    # Search records of jobs changed more recently than this may lag the job (the search
    # index is eventually consistent): the backfill describes those instead.
    search_margin: float = 600.0
    search: bool = True
    prices: Prices | None = None  # None: no --price-file nor --price-list-api, no cost

    def wants(self, name: str) -> bool:
        if self.include and not any(p.search(name) for p in self.include):
            return False
        return not any(p.search(name) for p in self.exclude)


@dataclass(slots=True)
class CycleResult:
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


async def list_pages(api: SageMakerAPI, **params: Any) -> AsyncIterator[list[JobSummary]]:
    """ListTrainingJobs, a page at a time (newest first: the API sorts by CreationTime)."""
    async for items in pages(
        api.list_training_jobs, "ListTrainingJobs", "TrainingJobSummaries", params
    ):
        yield [s for s in map(parse_summary, items) if s is not None]


async def list_all(api: SageMakerAPI, **params: Any) -> list[JobSummary]:
    return [s async for page in list_pages(api, **params) for s in page]


def iso(epoch: float) -> str:
    """A Search filter timestamp (ISO 8601, UTC)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def search_pages(
    api: SageMakerAPI, filters: list[dict[str, str]], tag_labels: tuple[str, ...]
) -> AsyncIterator[list[TrainingJob]]:
    """Search(Resource=TrainingJob), newest change first, 100 whole records a call.

    A record carries the job's tags, so --tag-labels costs no ListTags call here."""
    params = {
        "SearchExpression": {"Filters": filters, "Operator": "And"},
        "SortBy": "LastModifiedTime",
        "SortOrder": "Descending",
    }
    async for results in pages(api.search_training_jobs, "Search", "Results", params):
        jobs = []
        for item in results:
            record = item.get("TrainingJob") if isinstance(item, Mapping) else None
            if not isinstance(record, Mapping):
                continue
            tags = tuple(kv for kv in parse_tags(record.get("Tags")) if kv[0] in tag_labels)
            job = parse_training_job(record, tags)
            if job is not None and job.status:
                jobs.append(job)
        yield jobs


@dataclass(frozen=True, slots=True)
class Fetched:
    """The outcome of describing one job: the job, or gone, or failed (retry later)."""

    job: TrainingJob | None
    gone: bool = False
    tags_ok: bool = True


FAILED = Fetched(None)
GONE = Fetched(None, gone=True)


async def fetch_job(
    api: SageMakerAPI,
    name: str,
    prev: TrainingJob | None,
    tag_labels: tuple[str, ...],
    need_tags: bool,
    result: CycleResult,
) -> Fetched:
    """DescribeTrainingJob (and ListTags when tags are wanted and not known yet)."""
    async with api.describe_slots:
        try:
            raw = await api.describe_training_job(name)
        except JobNotFound:
            return GONE
        except ApiError as err:
            result.fail(err)
            return FAILED
        tags = prev.tags if prev else ()
        job = parse_training_job(raw, tags)
        if job is None or not job.status:
            # A garbled body parses to {}: not "the job is gone", just a bad answer.
            result.fail(malformed("DescribeTrainingJob", "TrainingJobName/TrainingJobStatus"))
            return FAILED
        if not tag_labels or not (prev is None or need_tags):
            return Fetched(job)
        try:
            # Only the tags --tag-labels exports are kept: the rest would be memory spent
            # on every job for nothing.
            tags = tuple(
                kv for kv in parse_tags(await api.list_tags(job.arn)) if kv[0] in tag_labels
            )
        except ApiError as err:
            result.fail(err)
            return Fetched(job, tags_ok=False)
        return Fetched(parse_training_job(raw, tags) or job)


def matches(summary: JobSummary, job: TrainingJob) -> bool:
    """Whether the stored job is what the listing says it is now. moto's summaries carry
    no SecondaryStatus, so an empty one matches any."""
    return (
        summary.status == job.status
        and summary.last_modified == job.last_modified
        and (not summary.secondary_status or summary.secondary_status == job.secondary_status)
    )
