"""The tuning-job source: the list/describe engine (exporter.sources.listing) run on the
TUNING kind.

ListHyperParameterTuningJobs summaries already carry the status, the counters and the
limits, so the list feeds most families; a tuning job is described only when it is new or
its summary changed, for what the list lacks (best training job and its objective value,
the objective's metric and direction). Its own task and its own failure: a failing
tuning-job poll marks only `sagemaker_exporter_tuning_target_up` down, never the
training-job target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exporter.aws.errors import ApiError, JobNotFound
from exporter.metrics.selfmetrics import OUTCOMES, TUNING_OPERATIONS
from exporter.model import TuningJob
from exporter.parse.api import parse_tuning_job
from exporter.sources.listing import CycleResult, Fetched, Kind, ListPoller

#: A listed tuning job: parsed, and the summary item its Describe is merged with.
Listed = tuple[TuningJob, Mapping[str, Any]]


def _listed(item: Any) -> Listed | None:
    job = parse_tuning_job(item)
    return (job, item) if job is not None else None


TUNING: Kind[Listed, TuningJob] = Kind(
    list_operation="ListHyperParameterTuningJobs",
    items_key="HyperParameterTuningJobSummaries",
    list_call=lambda api: api.list_tuning_jobs,
    parse_summary=_listed,
    name_of=lambda s: s[0].name,
    ended=lambda s: s[0].finished_at,
    unchanged=lambda s, stored: s[0].change_key == stored.change_key,
)


class TuningSync(ListPoller[Listed, TuningJob]):
    """Polls the tuning jobs of one (account, region) target into the tuning store."""

    logger = "tuning"
    crashed = "tuning poll crashed"

    async def fetch(
        self, name: str, summary: Listed | None, prev: TuningJob | None, result: CycleResult
    ) -> Fetched[TuningJob]:
        async with self.api.describe_slots:
            try:
                described = await self.api.describe_tuning_job(name)
            except JobNotFound:
                return Fetched(None, gone=True)
            except ApiError as err:
                result.fail(err)
                return Fetched(None)
        # The summary when we have one (it is what the change key came from), else the
        # description, which carries the same fields.
        return Fetched(parse_tuning_job(summary[1] if summary else described, described))

    def init_target(self) -> None:
        region, account = self.api.region, self.api.account_id
        for op in TUNING_OPERATIONS:
            for outcome in OUTCOMES:
                self.metrics.api_requests.labels(op, region, account, outcome)

    def report(self, result: CycleResult) -> None:
        region, account = self.api.region, self.api.account_id
        if account:
            self.metrics.tuning_target_up.labels(region, account).set(1 if result.ok else 0)
            self.metrics.tracked_tuning_jobs.labels(region, account).set(self.store.count(self.key))
        if not result.ok:
            self._log.warning("tuning poll failed", account_id=account, errors=result.errors)
