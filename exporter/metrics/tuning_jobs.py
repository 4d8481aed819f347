"""The tuning-job metric table: every family of a hyperparameter tuning job, as data.

Same shape as families.py (a name, a type, a help text, extra label names and one function
of (job, now) that yields samples); the identity labels `tuning_job`, `region`,
`account_id` are added by the renderer. The `tuning_job` label of
`sagemaker_training_job_info` joins a tuning job to its training jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from exporter.model import (
    TUNING_OBJECTIVE_COUNTERS,
    TUNING_STATUSES,
    TUNING_TRAINING_JOB_COUNTERS,
    TuningJob,
)

Labels = tuple[tuple[str, str], ...]
Sample = tuple[Labels, float]

TUNING_IDENTITY_LABELS = ("tuning_job", "region", "account_id")


@dataclass(frozen=True, slots=True)
class TuningFamily:
    name: str
    type: str
    help: str
    labels: tuple[str, ...]
    samples: Callable[[TuningJob], Iterable[Sample]]


def _status(job: TuningJob) -> Iterable[Sample]:
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


def _best(job: TuningJob) -> Iterable[Sample]:
    # Only the metric as a label: the value's series stays one line over time even as the
    # best training job changes (that one is on _best_training_job_info).
    if job.best_objective_value is not None:
        yield ((("metric", job.objective_metric),), job.best_objective_value)


def _best_job(job: TuningJob) -> Iterable[Sample]:
    if job.best_training_job:
        yield ((("training_job", job.best_training_job),), 1)


def _info(job: TuningJob) -> Iterable[Sample]:
    yield (
        (
            ("strategy", job.strategy),
            ("objective_metric", job.objective_metric),
            ("objective_type", job.objective_type),
        ),
        1,
    )


def _one(value: float | None) -> Iterable[Sample]:
    if value is not None:
        yield ((), value)


P = "sagemaker_tuning_job_"


def _gauge(
    name: str, help: str, samples: Callable[[TuningJob], Iterable[Sample]], *labels: str
) -> TuningFamily:
    return TuningFamily(P + name, "gauge", help, labels, samples)


def _scalar(name: str, help: str, get: Callable[[TuningJob], float | None]) -> TuningFamily:
    return TuningFamily(P + name, "gauge", help, (), lambda j: _one(get(j)))


# fmt: off
TUNING_FAMILIES: tuple[TuningFamily, ...] = (
    _gauge("info", "Tuning job configuration; value is always 1.", _info,
           "strategy", "objective_metric", "objective_type"),
    _gauge("status", "HyperParameterTuningJobStatus as a one-hot state set.", _status, "status"),
    _gauge("training_jobs", "Training jobs of the tuning job by status (TrainingJobStatusCounters).",
           lambda j: _counters(j.training_jobs, TUNING_TRAINING_JOB_COUNTERS), "status"),
    _gauge("objectives", "Objective evaluations by status (ObjectiveStatusCounters).",
           lambda j: _counters(j.objectives, TUNING_OBJECTIVE_COUNTERS), "status"),
    _gauge("best_objective_value",
           "Objective metric value of the best training job so far.",
           _best, "metric"),
    _gauge("best_training_job_info", "The best training job so far; value is always 1.",
           _best_job, "training_job"),
    _scalar("max_training_jobs", "ResourceLimits.MaxNumberOfTrainingJobs.",
            lambda j: j.max_training_jobs),
    _scalar("max_parallel_training_jobs", "ResourceLimits.MaxParallelTrainingJobs.",
            lambda j: j.max_parallel_training_jobs),
    _scalar("max_runtime_seconds", "ResourceLimits.MaxRuntimeInSeconds.",
            lambda j: j.max_runtime_seconds),
    _scalar("consumed_runtime_seconds", "ConsumedResources.RuntimeInSeconds.",
            lambda j: j.consumed_runtime_seconds),
    _scalar("created_timestamp_seconds", "CreationTime as Unix time.", lambda j: j.created),
    _scalar("last_modified_timestamp_seconds", "LastModifiedTime as Unix time.",
            lambda j: j.last_modified),
    _scalar("end_timestamp_seconds", "HyperParameterTuningEndTime as Unix time.",
            lambda j: j.ended),
)
# fmt: on
