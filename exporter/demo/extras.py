"""What the demo shows since issue 12: ProgressInfo and MLflow on the LLM fine-tunes, and a
hyperparameter tuning job in moto for every group of trials sharing a TuningJobArn.

`snapshot` wraps plan.snapshot (pure): the nlp team's jobs report ProgressInfo (epochs and
steps, advancing with their Training time and frozen when their metrics freeze, so the
stalled job's ETA grows) and MlflowDetails. `DemoTuning` keeps one tuning job per
(target, tuning job name) equal to its trials: counters, status and the best objective.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Protocol

from exporter.demo import plan as plan_mod
from exporter.demo.moto_backend import TuningJobStore
from exporter.demo.plan import TRAINING, JobPlan

STEPS_PER_EPOCH = 1000
PROGRESS_TEAM = "nlp"  # its jobs are LLM fine-tunes: the ones that report ProgressInfo


def _epochs(plan: JobPlan) -> int:
    hp = plan.static.get("hyper_parameters") or {}
    try:
        return max(1, int(hp.get("epochs", 3)))
    except ValueError:
        return 3


def progress_info(plan: JobPlan, now: datetime) -> dict[str, int] | None:
    """ProgressInfo at `now`, quantized to the job's metric emissions (a job is rewritten
    only when something visible changed)."""
    spans, t = [], plan.created
    for s in plan.steps:
        spans.append((s, t, t + timedelta(seconds=s.seconds)))
        t += timedelta(seconds=s.seconds)
    total = sum(s.seconds for s in plan.steps if s.status == TRAINING)
    done = sum(
        max(0.0, (min(end, now) - start).total_seconds())
        for s, start, end in spans
        if s.status == TRAINING and start <= now
    )
    if total <= 0 or done <= 0:
        return None
    if plan.metric_freeze is not None:
        done = min(done, plan.metric_freeze)
    done = math.floor(done / plan.metric_interval) * plan.metric_interval
    max_epoch = _epochs(plan)
    steps = int(min(1.0, done / total) * max_epoch * STEPS_PER_EPOCH)
    epoch, step = divmod(steps, STEPS_PER_EPOCH)
    return {
        "CurrentEpoch": epoch,
        "MaxEpoch": max_epoch,
        "CurrentStep": step,
        "TotalStepCountPerEpoch": STEPS_PER_EPOCH,
    }


def snapshot(plan: JobPlan, now: datetime) -> tuple[dict[str, Any], datetime]:
    view, last = plan_mod.snapshot(plan, now)
    if dict(plan.tags).get("team") == PROGRESS_TEAM:
        view["progress_info"] = progress_info(plan, now)
        view["mlflow_details"] = {
            "MlflowExperimentId": str(100 + len(plan.name) % 7),
            "MlflowRunId": plan.name[-8:],
        }
        view["retry_strategy"] = {"MaximumRetryAttempts": 2}
    return view, last


class Tracked(Protocol):
    plan: JobPlan
    view: dict[str, Any]


_COUNTER = {
    "InProgress": "InProgress",
    "Stopping": "InProgress",
    "Completed": "Completed",
    "Failed": "NonRetryableError",
    "Stopped": "Stopped",
}
_OBJECTIVE = {
    "InProgress": "Pending",
    "Stopping": "Pending",
    "Completed": "Succeeded",
    "Failed": "Failed",
    "Stopped": "Failed",
}


def tuning_fields(trials: list[Tracked]) -> tuple[dict[str, Any], str]:
    """A tuning job's describe fields from its trials' views, and its objective metric."""
    metric = next(
        (m.name for m in trials[0].plan.metrics if m.name.startswith("validation:")),
        trials[0].plan.metrics[0].name if trials[0].plan.metrics else "objective",
    )
    counters = dict.fromkeys(
        ("Completed", "InProgress", "RetryableError", "NonRetryableError", "Stopped"), 0
    )
    objectives = dict.fromkeys(("Succeeded", "Pending", "Failed"), 0)
    best: tuple[float, str] | None = None
    ends: list[datetime] = []
    for t in trials:
        status = t.view.get("training_job_status", "InProgress")
        counters[_COUNTER.get(status, "InProgress")] += 1
        objectives[_OBJECTIVE.get(status, "Pending")] += 1
        if status == "Completed":
            for m in t.view.get("final_metric_data_list") or []:
                if m["MetricName"] == metric and (best is None or m["Value"] > best[0]):
                    best = (m["Value"], t.plan.name)
        end = t.view.get("training_end_time")
        if end is not None:
            ends.append(end)
    running = counters["InProgress"] > 0
    fields: dict[str, Any] = {
        "hyper_parameter_tuning_job_status": "InProgress" if running else "Completed",
        "creation_time": min(t.plan.created for t in trials),
        "hyper_parameter_tuning_end_time": None if running or not ends else max(ends),
        "training_job_status_counters": counters,
        "objective_status_counters": objectives,
        "best_training_job": None,
        "OverallBestTrainingJob": None,
        "tuning_job_completion_details": None,
        "consumed_resources": None,
    }
    if best is not None:
        fields["best_training_job"] = {
            "TrainingJobName": best[1],
            "TrainingJobStatus": "Completed",
            "TrainingJobArn": f"arn:aws:sagemaker:::training-job/{best[1]}",
            "CreationTime": min(t.plan.created for t in trials),
            "TunedHyperParameters": {},
            "FinalHyperParameterTuningJobObjectiveMetric": {
                "Type": "Maximize",
                "MetricName": metric,
                "Value": best[0],
            },
        }
    return fields, metric


class DemoTuning:
    """One moto tuning job per (account, region, tuning job name) of the tracked trials."""

    def __init__(self) -> None:
        self._stores: dict[tuple[str, str], TuningJobStore] = {}
        self._written: dict[tuple[str, str, str], dict[str, Any]] = {}

    def update(self, tracked: Iterable[Tracked], now: datetime) -> None:
        groups: dict[tuple[str, str, str], list[Tracked]] = {}
        for t in tracked:
            arn = t.plan.static.get("tuning_job_arn")
            if arn:
                key = (t.plan.account_id, t.plan.region, str(arn).rpartition("/")[2])
                groups.setdefault(key, []).append(t)
        for key, trials in groups.items():
            fields, metric = tuning_fields(trials)
            if self._written.get(key) == fields:
                continue
            account, region, name = key
            store = self._stores.setdefault((account, region), TuningJobStore(account, region))
            config = {
                "Strategy": "Bayesian",
                "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": metric},
                "ResourceLimits": {
                    "MaxNumberOfTrainingJobs": max(20, len(trials)),
                    "MaxParallelTrainingJobs": 4,
                },
            }
            first = trials[0].plan.static
            definition = {
                "AlgorithmSpecification": first.get("algorithm_specification"),
                "RoleArn": first.get("role_arn"),
                "OutputDataConfig": first.get("output_data_config"),
                "ResourceConfig": first.get("resource_config"),
                "StoppingCondition": first.get("stopping_condition"),
            }
            store.upsert(name, config, definition, fields, now)
            self._written[key] = fields

    def remove(self) -> None:
        for account, region, name in self._written:
            self._stores[(account, region)].delete(name)
        self._written.clear()
