"""The tuning-job metric table: every family of a hyperparameter tuning job, as data.

The same Family type as every table (exporter/metrics/family.py); the identity labels `tuning_job`, `region`,
`account_id` are added by the renderer. The `tuning_job` label of
`sagemaker_training_job_info` joins a tuning job to its training jobs.
"""

from __future__ import annotations

from collections.abc import Iterable

from exporter.metrics.family import Family, Prefixed, RenderContext, Sample, Table
from exporter.model import (
    TUNING_OBJECTIVE_COUNTERS,
    TUNING_STATUSES,
    TUNING_TRAINING_JOB_COUNTERS,
    TuningJob,
)

TUNING_IDENTITY_LABELS = ("tuning_job", "region", "account_id")


def _status(job: TuningJob, ctx: RenderContext) -> Iterable[Sample]:
    for s in TUNING_STATUSES:
        yield ((("status", s),), 1 if job.status == s else 0)
    if job.status not in TUNING_STATUSES:
        yield ((("status", "Other"),), 1)


def _counters(counts: tuple[tuple[str, float], ...], known: tuple[str, ...]) -> Iterable[Sample]:
    if not counts:
        return
    values = dict(counts)
    # Every known status, so a rate or an alert works from the first sample; statuses AWS
    # adds later are left out rather than growing the label set.
    for status in known:
        yield ((("status", status),), values.get(status, 0))


def _best(job: TuningJob, ctx: RenderContext) -> Iterable[Sample]:
    # Only the metric as a label: the value's series stays one line over time even as the
    # best training job changes (that one is on _best_training_job_info).
    if job.best_objective_value is not None:
        yield ((("metric", job.objective_metric),), job.best_objective_value)


def _best_job(job: TuningJob, ctx: RenderContext) -> Iterable[Sample]:
    if job.best_training_job:
        yield ((("training_job", job.best_training_job),), 1)


def _info(job: TuningJob, ctx: RenderContext) -> Iterable[Sample]:
    yield (
        (
            ("strategy", job.strategy),
            ("objective_metric", job.objective_metric),
            ("objective_type", job.objective_type),
        ),
        1,
    )


_P = Prefixed[TuningJob]("sagemaker_tuning_job_")
_gauge, _scalar, _field = _P.gauge, _P.scalar, _P.field


# fmt: off
TUNING_FAMILIES: tuple[Family[TuningJob], ...] = (
    _gauge("info", "Tuning job configuration; value is always 1.", _info,
           "strategy", "objective_metric", "objective_type"),
    _gauge("status", "HyperParameterTuningJobStatus as a one-hot state set.", _status, "status"),
    _gauge("training_jobs", "Training jobs of the tuning job by status (TrainingJobStatusCounters).",
           lambda j, c: _counters(j.training_jobs, TUNING_TRAINING_JOB_COUNTERS), "status"),
    _gauge("objectives", "Objective evaluations by status (ObjectiveStatusCounters).",
           lambda j, c: _counters(j.objectives, TUNING_OBJECTIVE_COUNTERS), "status"),
    _gauge("best_objective_value",
           "Objective metric value of the best training job so far.",
           _best, "metric"),
    _gauge("best_training_job_info", "The best training job so far; value is always 1.",
           _best_job, "training_job"),
    _field("max_training_jobs", "ResourceLimits.MaxNumberOfTrainingJobs.", "max_training_jobs"),
    _field("max_parallel_training_jobs", "ResourceLimits.MaxParallelTrainingJobs.", "max_parallel_training_jobs"),
    _field("max_runtime_seconds", "ResourceLimits.MaxRuntimeInSeconds.", "max_runtime_seconds"),
    _field("consumed_runtime_seconds", "ConsumedResources.RuntimeInSeconds.", "consumed_runtime_seconds"),
    _field("created_timestamp_seconds", "CreationTime as Unix time.", "created"),
    _field("last_modified_timestamp_seconds", "LastModifiedTime as Unix time.", "last_modified"),
    _field("end_timestamp_seconds", "HyperParameterTuningEndTime as Unix time.", "ended"),
)
# fmt: on

TUNING_JOBS: Table[TuningJob] = Table(TUNING_IDENTITY_LABELS, TUNING_FAMILIES, lambda job: job.name)
