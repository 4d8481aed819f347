"""The metric table: every per-job family declared as data, kube-state-metrics style.

Each family is a name, a type, a help text, its extra label names (for the docs) and one
function of (job, context) that yields (extra labels, value) samples. The identity labels
`training_job`, `region`, `account_id` are added by the renderer, never here. A missing
optional field yields no sample, never a fake zero.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from exporter.metrics.family import Family, Prefixed, RenderContext, Sample, Table, running_only
from exporter.metrics.progress import progress_ratio, retries_seen
from exporter.metrics.text import render
from exporter.model import KNOWN_STATUSES, TrainingJob
from exporter.parse.prices import estimated_cost, hourly_rate

IDENTITY_LABELS = ("training_job", "region", "account_id")
FAILURE_REASON_MAX = 200
_CATEGORY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def _tf(flag: bool) -> str:
    return "true" if flag else "false"


def failure_category(reason: str) -> str:
    """The prefix before the first colon (ClientError, AlgorithmError, ...), else Other."""
    head, sep, _ = reason.partition(":")
    head = head.strip()
    return head if sep and _CATEGORY_RE.match(head) else "Other"


def sanitize_label_name(key: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
    return name if name and not name[0].isdigit() else f"_{name}"


def tag_label_name(key: str) -> str:
    return "tag_" + sanitize_label_name(key).lower()


def _active_elapsed(job: TrainingJob, ctx: RenderContext) -> float | None:
    if job.training_start is None:
        return None
    return max(0.0, ctx.now - job.training_start)


def training_seconds(job: TrainingJob, ctx: RenderContext) -> float | None:
    if job.is_active:
        return _active_elapsed(job, ctx)
    return job.training_time_seconds


def billable_seconds(job: TrainingJob, ctx: RenderContext) -> float | None:
    if job.is_active:
        # A running spot job's billable time is unknown until it ends, and so is that of a
        # job not known to be on-demand (seen only through an event so far): no guess.
        return None if job.managed_spot is not False else _active_elapsed(job, ctx)
    return job.billable_time_seconds


def _info(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    yield (
        (
            ("instance_type", job.instance_type),
            ("training_image", job.training_image),
            ("algorithm_name", job.algorithm_name),
            ("input_mode", job.input_mode),
            ("tuning_job", job.tuning_job_arn.rpartition("/")[2]),
            ("automl_job", job.automl_job_arn.rpartition("/")[2]),
            ("managed_spot", "" if job.managed_spot is None else _tf(job.managed_spot)),
            ("training_plan", job.training_plan_arn.rpartition("/")[2]),
        ),
        1,
    )


def _finished(job: TrainingJob) -> bool:
    return job.is_terminal


def _lean(job: TrainingJob, ctx: RenderContext) -> bool:
    """Is the job served lean: finished, and not --finished-series full? (The renderer asks
    the table the same for the families; these ask it for the samples within one.)"""
    return ctx.lean(_finished(job))


def _status(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    if _lean(job, ctx):
        # A finished job's status never changes again: its one true state, not four zeros.
        yield ((("status", job.status),), 1)
        return
    for s in KNOWN_STATUSES:
        yield ((("status", s),), 1 if job.status == s else 0)
    if job.status not in KNOWN_STATUSES:
        # Bounded: any status AWS adds later lands in one extra state, not a new series each.
        yield ((("status", "Other"),), 1)


def _secondary(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    # A finished job's secondary status says something only where it differs from its
    # status (MaxRuntimeExceeded, MaxWaitTimeExceeded, Interrupted...), not Completed twice.
    if job.secondary_status and not (_lean(job, ctx) and job.secondary_status == job.status):
        yield ((("secondary_status", job.secondary_status),), 1)


def phase_durations(job: TrainingJob, now: float, terminal: bool = True) -> dict[str, float]:
    """Seconds spent per secondary status; repeated phases (spot resumes) are summed.

    The open phase of a running job counts up to `now`; an open phase of a finished job
    (the terminal one) ends when the job ended. Without `terminal`, a finished job's last
    phase (Completed, Failed, MaxRuntimeExceeded...: the state it ended in) is left out.
    """
    stop = now if job.is_active else (job.training_end or job.last_modified or now)
    out: dict[str, float] = {}
    transitions = job.transitions
    ended_in = transitions[-1].status if transitions else None
    if not terminal and job.is_terminal and ended_in == job.secondary_status:
        transitions = transitions[:-1]
    for t in transitions:
        if t.start is None:
            continue
        end = t.end if t.end is not None else max(stop, t.start)
        out[t.status] = out.get(t.status, 0.0) + max(0.0, end - t.start)
    return out


def _phases(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    # Transition times are milliseconds apart; their float differences are not
    # (121.63100004196167): milliseconds are all there is, and shorter to send.
    # The terminal phase of a finished job (Completed, Failed, MaxRuntimeExceeded...) has
    # no duration worth a series: secondary_status says which it is.
    for phase, seconds in phase_durations(job, ctx.now, not _lean(job, ctx)).items():
        yield ((("phase", phase),), round(seconds, 3))


def billable_instance_seconds(job: TrainingJob, ctx: RenderContext) -> float | None:
    billable = billable_seconds(job, ctx)
    if billable is None or not job.instance_groups:
        return None
    return billable * job.total_instances


def spot_savings_ratio(job: TrainingJob, ctx: RenderContext) -> float | None:
    t, b = job.training_time_seconds, job.billable_time_seconds
    if job.managed_spot and job.is_terminal and t and b is not None:
        return 1.0 - b / t
    return None


def _instances(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    for g in job.instance_groups:
        yield ((("instance_type", g.instance_type), ("instance_group", g.name)), g.count)


def _final_metric(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    for m in job.final_metrics:
        yield ((("metric", m.name),), m.value)


def _final_metric_ts(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    for m in job.final_metrics:
        if m.timestamp is not None:
            yield ((("metric", m.name),), m.timestamp)


def _failure(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    if job.status == "Failed":
        reason = job.failure_reason
        yield (
            (
                ("category", failure_category(reason)),
                ("reason", reason[:FAILURE_REASON_MAX]),
            ),
            1,
        )


def _rules(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    for r in job.rules:
        yield ((("rule", r.rule), ("rule_type", r.rule_type), ("status", r.status)), 1)


def _warm_pool(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    if job.warm_pool_status:
        yield ((("status", job.warm_pool_status),), 1)


def _security(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    yield (
        (
            ("network_isolation", _tf(job.network_isolation)),
            ("inter_container_encryption", _tf(job.inter_container_encryption)),
            ("vpc", _tf(job.vpc)),
            ("volume_kms", _tf(job.volume_kms)),
            ("output_kms", _tf(job.output_kms)),
        ),
        1,
    )


def _tag_pairs(job: TrainingJob, ctx: RenderContext) -> tuple[tuple[str, str], ...]:
    values = dict(job.tags)
    return tuple((tag_label_name(k), values.get(k, "")) for k in ctx.tag_labels)


def _by_tags(family: Family[TrainingJob]) -> Family[TrainingJob]:
    """The family with the --tag-labels keys as labels too: cost, billable time, status and
    failures by team are then one `sum by (tag_team)`, no join against _tags. A tag key adds
    no series, only its label to each of these samples (the alerts aggregate it away, so a
    tag that arrives after the job does not page again)."""
    inner = family.samples

    def samples(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
        if not ctx.tag_labels:
            yield from inner(job, ctx)
            return
        tags = _tag_pairs(job, ctx)
        for labels, value in inner(job, ctx):
            yield (labels + tags, value)

    return dataclasses.replace(family, labels=(*family.labels, "tag_<key>"), samples=samples)


def _tags(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    if ctx.tag_labels:
        yield (_tag_pairs(job, ctx), 1)


def _interruptions(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    n = sum(1 for t in job.transitions if t.status == "Interrupted")
    # A finished spot job that was never interrupted has nothing to tell.
    if n or (job.managed_spot and not _lean(job, ctx)):
        yield ((), n)


def _last_modified(job: TrainingJob, ctx: RenderContext) -> float | None:
    # A finished job's end is training_end_timestamp_seconds; the alerts fall back to this
    # one only where a failed job has no TrainingEndTime.
    if _lean(job, ctx) and job.training_end is not None:
        return None
    return job.last_modified


def _mlflow(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    if job.mlflow_experiment_id or job.mlflow_run_id:
        yield ((("experiment_id", job.mlflow_experiment_id), ("run_id", job.mlflow_run_id)), 1)


def _progress(job: TrainingJob, attr: str) -> float | None:
    value: float | None = getattr(job.progress, attr) if job.progress else None
    return value


def _retries(job: TrainingJob, ctx: RenderContext) -> float | None:
    n = retries_seen(job)
    return n if job.max_retry_attempts is not None or n else None


_P = Prefixed[TrainingJob]("sagemaker_training_job_")
gauge, scalar, field = _P.gauge, _P.scalar, _P.field

# fmt: off
FAMILIES: tuple[Family[TrainingJob], ...] = (
    gauge("info", "Training job configuration; value is always 1.", _info,
          "instance_type", "training_image", "algorithm_name", "input_mode", "tuning_job",
          "automl_job", "managed_spot", "training_plan"),
    _by_tags(gauge("status", "TrainingJobStatus as a one-hot state set (a finished job: its "
                   "final status only).", _status, "status")),
    gauge("secondary_status", "Current SecondaryStatus; value is always 1.", _secondary,
          "secondary_status"),
    gauge("phase_duration_seconds",
          "Seconds spent in each secondary status; the current one counts up to the last poll "
          "(a finished job's terminal one is left out).",
          _phases, "phase"),
    running_only(scalar("secondary_status_start_timestamp_seconds",
           "When the current secondary status began (the last transition's StartTime).",
           lambda j, c: j.transitions[-1].start if j.transitions else None)),
    running_only(field("created_timestamp_seconds", "CreationTime as Unix time.", "created")),
    running_only(field("training_start_timestamp_seconds", "TrainingStartTime as Unix time.",
                       "training_start")),
    field("training_end_timestamp_seconds", "TrainingEndTime as Unix time.", "training_end"),
    scalar("last_modified_timestamp_seconds", "LastModifiedTime as Unix time.", _last_modified),
    scalar("training_seconds",
           "TrainingTimeInSeconds once finished; elapsed since TrainingStartTime while running.",
           training_seconds),
    _by_tags(scalar("billable_seconds",
           "BillableTimeInSeconds once finished; elapsed while an on-demand job runs.",
           billable_seconds)),
    running_only(scalar("billable_instance_seconds",
           "Billable seconds times the total instance count: the instance-time AWS bills.",
           billable_instance_seconds)),
    scalar("spot_savings_ratio", "1 - billable/training seconds of a finished managed spot job.",
           spot_savings_ratio),
    gauge("instances", 'Instance count per instance group (instance_group="" without groups); '
          "instance_type on _info joins the groups' types with commas.", _instances,
          "instance_type", "instance_group"),
    running_only(scalar("volume_size_bytes", "ML storage volume size per instance.",
           lambda j, c: None if j.volume_size_gb is None else j.volume_size_gb * 1024**3)),
    running_only(field("max_runtime_seconds", "StoppingCondition.MaxRuntimeInSeconds.",
                       "max_runtime_seconds")),
    running_only(field("max_wait_seconds", "StoppingCondition.MaxWaitTimeInSeconds (spot).",
                       "max_wait_seconds")),
    running_only(field("max_pending_seconds", "StoppingCondition.MaxPendingTimeInSeconds.",
                       "max_pending_seconds")),
    gauge("final_metric", "Latest value of each metric in FinalMetricDataList.", _final_metric,
          "metric"),
    running_only(gauge("final_metric_timestamp_seconds",
          "Timestamp of each metric in FinalMetricDataList as Unix time.", _final_metric_ts,
          "metric")),
    _by_tags(gauge("failure_info",
          "Why a failed job failed: category (prefix of FailureReason) and reason; value 1.",
          _failure, "category", "reason")),
    gauge("rule_evaluation_status",
          "Debugger and profiler rule evaluation status; value is always 1.", _rules,
          "rule", "rule_type", "status"),
    gauge("warm_pool_status", "Warm pool status; value is always 1.", _warm_pool, "status"),
    field("warm_pool_retained_billable_seconds",
           "Billable seconds of warm pool instances retained after the job.", "warm_pool_retained_billable_seconds"),
    running_only(gauge("security_info", "Isolation and encryption settings; value is always 1.",
                       _security, "network_isolation", "inter_container_encryption", "vpc",
                       "volume_kms", "output_kms")),
    gauge("tags", "Tags selected by --tag-labels, as tag_<key> labels; value 1.", _tags,
          "tag_<key>"),
    gauge("interruptions", "Spot interruptions seen in SecondaryStatusTransitions.",
          _interruptions),
    # Cost, progress, retries, warm pool and MLflow.
    _by_tags(scalar("estimated_cost_dollars",
           "On-demand USD of the billed instance-seconds (each group at its type's price, warm "
           "pool included); absent without a price for every type.",
           lambda j, c: estimated_cost(j, billable_seconds(j, c), c.prices, c.region))),
    running_only(scalar("hourly_cost_dollars",
           "On-demand USD per hour of the job's instances (its billing rate while it runs; an "
           "upper bound for spot).",
           lambda j, c: hourly_rate(j, c.prices, c.region))),
    field("billable_tokens", "BillableTokenCount of a serverless job (billed by tokens).", "billable_token_count"),
    running_only(scalar("progress_epoch", "ProgressInfo.CurrentEpoch.",
                        lambda j, c: _progress(j, "epoch"))),
    running_only(scalar("progress_max_epochs", "ProgressInfo.MaxEpoch.",
           lambda j, c: _progress(j, "max_epochs"))),
    running_only(scalar("progress_step", "ProgressInfo.CurrentStep.",
                        lambda j, c: _progress(j, "step"))),
    running_only(scalar("progress_steps_per_epoch", "ProgressInfo.TotalStepCountPerEpoch.",
           lambda j, c: _progress(j, "steps_per_epoch"))),
    running_only(scalar("progress_ratio",
           "How far along the job is, 0..1, from ProgressInfo (epochs, refined by steps).",
           lambda j, c: progress_ratio(j.progress))),
    running_only(field("max_retry_attempts", "RetryStrategy.MaximumRetryAttempts.",
                       "max_retry_attempts")),
    running_only(scalar("retries",
                        "Times the job went back to Starting (not after a spot interruption).",
                        _retries)),
    running_only(field("keep_alive_period_seconds",
                       "ResourceConfig.KeepAlivePeriodInSeconds (warm pool).", "keep_alive_seconds")),
    gauge("mlflow_info", "MLflow experiment and run of the job (MlflowDetails); value 1.",
          _mlflow, "experiment_id", "run_id"),
)
# fmt: on

TRAINING_JOBS: Table[TrainingJob] = Table(
    IDENTITY_LABELS, FAMILIES, lambda job: job.name, is_finished=_finished
)


def render_job(job: TrainingJob, ctx: RenderContext) -> tuple[bytes, ...]:
    """One chunk per entry of FAMILIES (b"" where the job has no sample)."""
    return render(TRAINING_JOBS, job, ctx)
