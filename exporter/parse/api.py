"""Pure parsing: SageMaker API dicts -> model.

Tolerant by design: AWS adds fields, omits optional ones, and warns that status
vocabularies change. Any field of the wrong type is treated as absent; unknown status
strings pass through unchanged; nothing in a response can raise. HyperParameters and
Environment are never read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from exporter.model import (
    FinalMetric,
    InstanceGroup,
    JobSummary,
    Progress,
    RuleStatus,
    TrainingJob,
    Transition,
    TuningJob,
)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _bool(value: Any) -> bool:
    return value is True


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _count(value: Any) -> int:
    n = _num(value)
    return int(n) if n is not None and n >= 0 else 0


def to_epoch(value: Any) -> float | None:
    """A botocore timestamp (datetime, epoch number or ISO string) as epoch seconds."""
    if isinstance(value, datetime):
        try:
            return value.timestamp()
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except (ValueError, OverflowError, OSError):
            return None
    return _num(value)


def _instance_groups(rc: Mapping[str, Any]) -> tuple[InstanceGroup, ...]:
    # Keyed by (name, type): a group listed twice would make duplicate series, so the
    # counts are added up instead.
    counts: dict[tuple[str, str], int] = {}
    for g in _list(rc.get("InstanceGroups")):
        g = _map(g)
        key = (_str(g.get("InstanceGroupName")), _str(g.get("InstanceType")))
        counts[key] = counts.get(key, 0) + _count(g.get("InstanceCount"))
    if counts:
        return tuple(InstanceGroup(name, itype, n) for (name, itype), n in counts.items())
    # With InstancePreferences, SelectedInstanceType/Count say what was actually launched
    # and billed; they win over the requested InstanceType/Count.
    itype = _str(rc.get("SelectedInstanceType")) or _str(rc.get("InstanceType"))
    count = rc.get("SelectedInstanceCount", rc.get("InstanceCount"))
    if itype or count is not None:
        return (InstanceGroup(name="", instance_type=itype, count=_count(count)),)
    return ()


def _progress(value: Any) -> Progress | None:
    p = _map(value)
    progress = Progress(
        epoch=_num(p.get("CurrentEpoch")),
        max_epochs=_num(p.get("MaxEpoch")),
        step=_num(p.get("CurrentStep")),
        steps_per_epoch=_num(p.get("TotalStepCountPerEpoch")),
    )
    return None if progress == Progress() else progress


def _transitions(items: Iterable[Any]) -> tuple[Transition, ...]:
    out = []
    for t in items:
        t = _map(t)
        status = _str(t.get("Status"))
        if not status:
            continue
        out.append(
            Transition(
                status=status,
                start=to_epoch(t.get("StartTime")),
                end=to_epoch(t.get("EndTime")),
            )
        )
    return tuple(out)


def _final_metrics(items: Iterable[Any]) -> tuple[FinalMetric, ...]:
    by_name: dict[str, FinalMetric] = {}
    for m in items:
        m = _map(m)
        name, value = _str(m.get("MetricName")), _num(m.get("Value"))
        if name and value is not None:
            # A name reported twice would make duplicate series; the last one wins.
            by_name[name] = FinalMetric(name, value, to_epoch(m.get("Timestamp")))
    return tuple(by_name.values())


def _rules(resp: Mapping[str, Any]) -> tuple[RuleStatus, ...]:
    # A rule listed twice would make duplicate series; the last entry wins.
    out: dict[tuple[str, str], RuleStatus] = {}
    for key, rule_type in (
        ("DebugRuleEvaluationStatuses", "debugger"),
        ("ProfilerRuleEvaluationStatuses", "profiler"),
    ):
        for r in _list(resp.get(key)):
            r = _map(r)
            name = _str(r.get("RuleConfigurationName"))
            if name:
                status = _str(r.get("RuleEvaluationStatus"))
                out[(name, rule_type)] = RuleStatus(name, rule_type, status)
    return tuple(out.values())


def _tags(items: Iterable[Any]) -> tuple[tuple[str, str], ...]:
    out = []
    for t in items:
        t = _map(t)
        key = _str(t.get("Key"))
        if key:
            out.append((key, _str(t.get("Value"))))
    return tuple(out)


def parse_tags(response: Any) -> tuple[tuple[str, str], ...]:
    """ListTags response (or a Search record's Tags list) -> (key, value) pairs."""
    if isinstance(response, list):
        return _tags(response)
    return _tags(_list(_map(response).get("Tags")))


def parse_training_job(response: Any, tags: tuple[tuple[str, str], ...] = ()) -> TrainingJob | None:
    """DescribeTrainingJob response -> TrainingJob; None if it names no job."""
    r = _map(response)
    name = _str(r.get("TrainingJobName"))
    if not name:
        return None
    algo = _map(r.get("AlgorithmSpecification"))
    rc = _map(r.get("ResourceConfig"))
    stop = _map(r.get("StoppingCondition"))
    vpc = _map(r.get("VpcConfig"))
    warm = _map(r.get("WarmPoolStatus"))
    groups = _instance_groups(rc)
    itype = ",".join(sorted({g.instance_type for g in groups if g.instance_type}))
    return TrainingJob(
        name=name,
        arn=_str(r.get("TrainingJobArn")),
        status=_str(r.get("TrainingJobStatus")),
        secondary_status=_str(r.get("SecondaryStatus")),
        failure_reason=_str(r.get("FailureReason")),
        tuning_job_arn=_str(r.get("TuningJobArn")),
        automl_job_arn=_str(r.get("AutoMLJobArn")),
        training_image=_str(algo.get("TrainingImage")),
        algorithm_name=_str(algo.get("AlgorithmName")),
        input_mode=_str(algo.get("TrainingInputMode")),
        instance_type=itype,
        instance_groups=groups,
        volume_size_gb=_num(rc.get("VolumeSizeInGB")),
        volume_kms=bool(_str(rc.get("VolumeKmsKeyId"))),
        output_kms=bool(_str(_map(r.get("OutputDataConfig")).get("KmsKeyId"))),
        vpc=bool(_list(vpc.get("Subnets"))),
        network_isolation=_bool(r.get("EnableNetworkIsolation")),
        inter_container_encryption=_bool(r.get("EnableInterContainerTrafficEncryption")),
        managed_spot=_bool(r.get("EnableManagedSpotTraining")),
        max_runtime_seconds=_num(stop.get("MaxRuntimeInSeconds")),
        max_wait_seconds=_num(stop.get("MaxWaitTimeInSeconds")),
        max_pending_seconds=_num(stop.get("MaxPendingTimeInSeconds")),
        created=to_epoch(r.get("CreationTime")),
        training_start=to_epoch(r.get("TrainingStartTime")),
        training_end=to_epoch(r.get("TrainingEndTime")),
        last_modified=to_epoch(r.get("LastModifiedTime")),
        training_time_seconds=_num(r.get("TrainingTimeInSeconds")),
        billable_time_seconds=_num(r.get("BillableTimeInSeconds")),
        transitions=_transitions(_list(r.get("SecondaryStatusTransitions"))),
        final_metrics=_final_metrics(_list(r.get("FinalMetricDataList"))),
        rules=_rules(r),
        warm_pool_status=_str(warm.get("Status")),
        warm_pool_retained_billable_seconds=_num(warm.get("ResourceRetainedBillableTimeInSeconds")),
        tags=tags or _tags(_list(r.get("Tags"))),
        progress=_progress(r.get("ProgressInfo")),
        training_plan_arn=_str(rc.get("TrainingPlanArn")),
        max_retry_attempts=_num(_map(r.get("RetryStrategy")).get("MaximumRetryAttempts")),
        keep_alive_seconds=_num(rc.get("KeepAlivePeriodInSeconds")),
        billable_token_count=_num(r.get("BillableTokenCount")),
        mlflow_experiment_id=_str(_map(r.get("MlflowDetails")).get("MlflowExperimentId")),
        mlflow_run_id=_str(_map(r.get("MlflowDetails")).get("MlflowRunId")),
    )


def parse_summary(item: Any) -> JobSummary | None:
    """One TrainingJobSummaries entry -> JobSummary; None if it names no job."""
    s = _map(item)
    name = _str(s.get("TrainingJobName"))
    if not name:
        return None
    return JobSummary(
        name=name,
        status=_str(s.get("TrainingJobStatus")),
        secondary_status=_str(s.get("SecondaryStatus")),
        last_modified=to_epoch(s.get("LastModifiedTime")),
        created=to_epoch(s.get("CreationTime")),
        training_end=to_epoch(s.get("TrainingEndTime")),
    )


def _counters(value: Any) -> tuple[tuple[str, float], ...]:
    out = []
    for key, n in _map(value).items():
        count = _num(n)
        if isinstance(key, str) and key and count is not None:
            out.append((key, count))
    return tuple(sorted(out))


def parse_tuning_job(item: Any, described: Any = None) -> TuningJob | None:
    """A HyperParameterTuningJobSummaries entry (or a Describe response: it carries the same
    fields) -> TuningJob, with the Describe-only fields from `described` when given."""
    s = _map(item)
    name = _str(s.get("HyperParameterTuningJobName"))
    if not name:
        return None
    limits = _map(s.get("ResourceLimits"))
    if not limits:  # a Describe response keeps them under the config
        limits = _map(_map(s.get("HyperParameterTuningJobConfig")).get("ResourceLimits"))
    d = _map(described)
    config = _map(d.get("HyperParameterTuningJobConfig"))
    objective = _map(config.get("HyperParameterTuningJobObjective"))
    best = _map(d.get("BestTrainingJob"))
    final = _map(best.get("FinalHyperParameterTuningJobObjectiveMetric"))
    return TuningJob(
        name=name,
        arn=_str(s.get("HyperParameterTuningJobArn")),
        status=_str(s.get("HyperParameterTuningJobStatus")),
        strategy=_str(s.get("Strategy")) or _str(config.get("Strategy")),
        created=to_epoch(s.get("CreationTime")),
        last_modified=to_epoch(s.get("LastModifiedTime")),
        ended=to_epoch(s.get("HyperParameterTuningEndTime")),
        training_jobs=_counters(s.get("TrainingJobStatusCounters")),
        objectives=_counters(s.get("ObjectiveStatusCounters")),
        max_training_jobs=_num(limits.get("MaxNumberOfTrainingJobs")),
        max_parallel_training_jobs=_num(limits.get("MaxParallelTrainingJobs")),
        max_runtime_seconds=_num(limits.get("MaxRuntimeInSeconds")),
        objective_metric=_str(objective.get("MetricName")) or _str(final.get("MetricName")),
        objective_type=_str(objective.get("Type")) or _str(final.get("Type")),
        best_training_job=_str(best.get("TrainingJobName")),
        best_objective_value=_num(final.get("Value")),
        consumed_runtime_seconds=_num(_map(d.get("ConsumedResources")).get("RuntimeInSeconds")),
    )
