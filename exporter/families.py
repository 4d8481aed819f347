"""The metric table: every per-job family declared as data, kube-state-metrics style.

Each family is a name, a type, a help text, its extra label names (for the docs) and one
function of (job, context) that yields (extra labels, value) samples. The identity labels
`training_job`, `region`, `account_id` are added by the renderer, never here. A missing
optional field yields no sample, never a fake zero.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .model import KNOWN_STATUSES, TrainingJob

Labels = tuple[tuple[str, str], ...]
Sample = tuple[Labels, float]

IDENTITY_LABELS = ("training_job", "region", "account_id")
FAILURE_REASON_MAX = 200
_CATEGORY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What a job's samples depend on besides the job: where it runs and when we looked."""

    region: str
    account_id: str
    now: float
    tag_labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    type: str
    help: str
    labels: tuple[str, ...]
    samples: Callable[[TrainingJob, RenderContext], Iterable[Sample]]


def _tf(flag: bool) -> str:
    return "true" if flag else "false"


def _one(value: float | None) -> Iterable[Sample]:
    if value is not None:
        yield ((), value)


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
        # A running spot job's billable time is unknown until it ends: no guess.
        return None if job.managed_spot else _active_elapsed(job, ctx)
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
            ("managed_spot", _tf(job.managed_spot)),
        ),
        1,
    )


def _status(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    for s in KNOWN_STATUSES:
        yield ((("status", s),), 1 if job.status == s else 0)
    if job.status not in KNOWN_STATUSES:
        # Bounded: any status AWS adds later lands in one extra state, not a new series each.
        yield ((("status", "Other"),), 1)


def _secondary(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    if job.secondary_status:
        yield ((("secondary_status", job.secondary_status),), 1)


def phase_durations(job: TrainingJob, now: float) -> dict[str, float]:
    """Seconds spent per secondary status; repeated phases (spot resumes) are summed.

    The open phase of a running job counts up to `now`; an open phase of a finished job
    (the terminal one) ends when the job ended.
    """
    stop = now if job.is_active else (job.training_end or job.last_modified or now)
    out: dict[str, float] = {}
    for t in job.transitions:
        if t.start is None:
            continue
        end = t.end if t.end is not None else max(stop, t.start)
        out[t.status] = out.get(t.status, 0.0) + max(0.0, end - t.start)
    return out


def _phases(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    for phase, seconds in phase_durations(job, ctx.now).items():
        yield ((("phase", phase),), seconds)


def _billable_instance(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    billable = billable_seconds(job, ctx)
    if billable is not None and job.instance_groups:
        yield ((), billable * job.total_instances)


def _spot_savings(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    t, b = job.training_time_seconds, job.billable_time_seconds
    if job.managed_spot and job.is_terminal and t and b is not None:
        yield ((), 1.0 - b / t)


def _instances(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    for g in job.instance_groups:
        yield ((("instance_type", g.instance_type), ("instance_group", g.name)), g.count)


def _volume(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    if job.volume_size_gb is not None:
        yield ((), job.volume_size_gb * 1024**3)


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


def _tags(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    if not ctx.tag_labels:
        return
    values = dict(job.tags)
    yield (tuple((tag_label_name(k), values.get(k, "")) for k in ctx.tag_labels), 1)


def _interruptions(job: TrainingJob, ctx: RenderContext) -> Iterable[Sample]:
    if job.managed_spot or any(t.status == "Interrupted" for t in job.transitions):
        yield ((), sum(1 for t in job.transitions if t.status == "Interrupted"))


P = "sagemaker_training_job_"
G = "gauge"

FAMILIES: tuple[Family, ...] = (
    Family(
        P + "info",
        G,
        "Training job configuration; value is always 1.",
        (
            "instance_type",
            "training_image",
            "algorithm_name",
            "input_mode",
            "tuning_job",
            "automl_job",
            "managed_spot",
        ),
        _info,
    ),
    Family(P + "status", G, "TrainingJobStatus as a one-hot state set.", ("status",), _status),
    Family(
        P + "secondary_status",
        G,
        "Current SecondaryStatus; value is always 1.",
        ("secondary_status",),
        _secondary,
    ),
    Family(
        P + "phase_duration_seconds",
        G,
        "Seconds spent in each secondary status; the current one counts up to the last poll.",
        ("phase",),
        _phases,
    ),
    Family(
        P + "created_timestamp_seconds",
        G,
        "CreationTime as Unix time.",
        (),
        lambda j, c: _one(j.created),
    ),
    Family(
        P + "training_start_timestamp_seconds",
        G,
        "TrainingStartTime as Unix time.",
        (),
        lambda j, c: _one(j.training_start),
    ),
    Family(
        P + "training_end_timestamp_seconds",
        G,
        "TrainingEndTime as Unix time.",
        (),
        lambda j, c: _one(j.training_end),
    ),
    Family(
        P + "last_modified_timestamp_seconds",
        G,
        "LastModifiedTime as Unix time.",
        (),
        lambda j, c: _one(j.last_modified),
    ),
    Family(
        P + "training_seconds",
        G,
        "TrainingTimeInSeconds once finished; elapsed since TrainingStartTime while running.",
        (),
        lambda j, c: _one(training_seconds(j, c)),
    ),
    Family(
        P + "billable_seconds",
        G,
        "BillableTimeInSeconds once finished; elapsed while an on-demand job runs.",
        (),
        lambda j, c: _one(billable_seconds(j, c)),
    ),
    Family(
        P + "billable_instance_seconds",
        G,
        "Billable seconds times the total instance count: the instance-time AWS bills.",
        (),
        _billable_instance,
    ),
    Family(
        P + "spot_savings_ratio",
        G,
        "1 - billable/training seconds of a finished managed spot job.",
        (),
        _spot_savings,
    ),
    Family(
        P + "instances",
        G,
        'Instance count per instance group (instance_group="" without groups).',
        ("instance_type", "instance_group"),
        _instances,
    ),
    Family(P + "volume_size_bytes", G, "ML storage volume size per instance.", (), _volume),
    Family(
        P + "max_runtime_seconds",
        G,
        "StoppingCondition.MaxRuntimeInSeconds.",
        (),
        lambda j, c: _one(j.max_runtime_seconds),
    ),
    Family(
        P + "max_wait_seconds",
        G,
        "StoppingCondition.MaxWaitTimeInSeconds (spot).",
        (),
        lambda j, c: _one(j.max_wait_seconds),
    ),
    Family(
        P + "max_pending_seconds",
        G,
        "StoppingCondition.MaxPendingTimeInSeconds.",
        (),
        lambda j, c: _one(j.max_pending_seconds),
    ),
    Family(
        P + "final_metric",
        G,
        "Latest value of each metric in FinalMetricDataList.",
        ("metric",),
        _final_metric,
    ),
    Family(
        P + "final_metric_timestamp_seconds",
        G,
        "Timestamp of each metric in FinalMetricDataList as Unix time.",
        ("metric",),
        _final_metric_ts,
    ),
    Family(
        P + "failure_info",
        G,
        "Why a failed job failed: category (prefix of FailureReason) and reason; value 1.",
        ("category", "reason"),
        _failure,
    ),
    Family(
        P + "rule_evaluation_status",
        G,
        "Debugger and profiler rule evaluation status; value is always 1.",
        ("rule", "rule_type", "status"),
        _rules,
    ),
    Family(
        P + "warm_pool_status", G, "Warm pool status; value is always 1.", ("status",), _warm_pool
    ),
    Family(
        P + "warm_pool_retained_billable_seconds",
        G,
        "Billable seconds of warm pool instances retained after the job.",
        (),
        lambda j, c: _one(j.warm_pool_retained_billable_seconds),
    ),
    Family(
        P + "security_info",
        G,
        "Isolation and encryption settings; value is always 1.",
        ("network_isolation", "inter_container_encryption", "vpc", "volume_kms", "output_kms"),
        _security,
    ),
    Family(
        P + "tags",
        G,
        "Tags selected by --tag-labels, as tag_<key> labels; value 1.",
        ("tag_<key>",),
        _tags,
    ),
    Family(
        P + "interruptions",
        G,
        "Spot interruptions seen in SecondaryStatusTransitions.",
        (),
        _interruptions,
    ),
)
