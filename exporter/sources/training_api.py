"""The training-job calls, as model objects: list pages, search pages, one job.

Shared by the training-job poller (exporter.sources.training) and its backfill
(exporter.sources.backfill); nothing here keeps state between calls.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from exporter.aws.errors import ApiError, JobNotFound, malformed
from exporter.aws.paging import pages
from exporter.model import ACTIVE_STATUSES, JobSummary, TrainingJob
from exporter.parse.api import parse_summary, parse_tags, parse_training_job
from exporter.sources.listing import Api, CycleResult, Fetched, PollSettings


class SageMakerAPI(Api, Protocol):
    """What the training-job poller needs of aws.sagemaker.SageMakerTarget."""

    async def list_training_jobs(self, **params: Any) -> Mapping[str, Any]: ...
    async def describe_training_job(self, name: str) -> Mapping[str, Any]: ...
    async def list_tags(self, arn: str) -> list[Mapping[str, Any]]: ...
    async def search_training_jobs(self, **params: Any) -> Mapping[str, Any]: ...
    def describe_rate(self) -> float: ...


@dataclass(frozen=True, slots=True)
class SyncSettings(PollSettings):
    """The training-job poller's settings: the engine's, plus its own."""

    refresh_interval: float = 300.0
    # Search records of jobs changed more recently than this may lag the job (the search
    # index is eventually consistent): the backfill describes those instead.
    search_margin: float = 600.0
    search: bool = True


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


FAILED: Fetched[TrainingJob] = Fetched(None)
GONE: Fetched[TrainingJob] = Fetched(None, gone=True)


async def fetch_job(
    api: SageMakerAPI,
    name: str,
    prev: TrainingJob | None,
    tag_labels: tuple[str, ...],
    need_tags: bool,
    result: CycleResult,
) -> Fetched[TrainingJob]:
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


def ended(job: JobSummary | TrainingJob) -> float | None:
    """When a job ended, for the retention: None while it runs (always kept); a finished job
    without TrainingEndTime ended when it last changed, or when it was created."""
    if job.status in ACTIVE_STATUSES:
        return None
    return job.training_end or job.last_modified or job.created


def matches(summary: JobSummary, job: TrainingJob) -> bool:
    """Whether the stored job is what the listing says it is now. moto's summaries carry
    no SecondaryStatus, so an empty one matches any."""
    return (
        summary.status == job.status
        and summary.last_modified == job.last_modified
        and (not summary.secondary_status or summary.secondary_status == job.secondary_status)
    )
