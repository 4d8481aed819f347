"""A job's whole life as data, and its observable state at any wall-clock instant.

A JobPlan is decided once, when the job is created: its steps (secondary status, real
duration, status message) and its outcome. `snapshot(plan, now)` is a pure function giving the
DescribeTrainingJob fields that change over time, so the driver only has to write what changed.
Only events at or before `now` are visible: nothing in a snapshot lies in the future.

All datetimes are naive UTC, the convention of moto's backend.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

TRAINING = "Training"
INTERRUPTED = "Interrupted"
STOPPING = "Stopping"
STARTING = "Starting"


@dataclass(frozen=True)
class Step:
    status: str  # secondary status; consecutive steps with one status share a transition entry
    seconds: float  # real duration
    message: str


@dataclass(frozen=True)
class Outcome:
    status: str  # Completed, Failed or Stopped
    secondary: str  # Completed, Failed, Stopped, MaxRuntimeExceeded, MaxWaitTimeExceeded
    message: str
    failure_reason: str | None = None


@dataclass(frozen=True)
class MetricCurve:
    name: str
    first: float
    last: float


@dataclass(frozen=True)
class WarmPool:
    keep_alive: float  # real seconds the pool stays Available after completion
    reused_after: float | None = None  # real seconds after completion when another job takes it
    reused_by: str = ""


@dataclass(frozen=True)
class JobPlan:
    name: str
    scenario: str
    region: str
    account_id: str
    created: datetime
    steps: tuple[Step, ...]
    outcome: Outcome
    static: Mapping[str, Any] = field(default_factory=dict)  # fixed describe fields, snake_case
    tags: tuple[tuple[str, str], ...] = ()
    spot_factor: float = 1.0  # billable = (training - interrupted) * factor on spot; 1 on demand
    metrics: tuple[MetricCurve, ...] = ()
    metric_interval: float = 10.0  # real seconds of training between two metric emissions
    metric_freeze: float | None = None  # training seconds after which emissions stop (stall)
    warm_pool: WarmPool | None = None
    debug_rule: str | None = None
    debug_issues: bool = False
    profiler_rule: str | None = None

    @property
    def ends(self) -> datetime:
        return self.created + timedelta(seconds=sum(s.seconds for s in self.steps))

    @property
    def settles(self) -> datetime:
        """After this instant the snapshot never changes again."""
        wp = self.warm_pool
        extra = wp.keep_alive if wp is not None and self.outcome.status == "Completed" else 0.0
        return self.ends + timedelta(seconds=extra + 1.0)


def _spans(plan: JobPlan) -> list[tuple[Step, datetime, datetime]]:
    out = []
    t = plan.created
    for s in plan.steps:
        end = t + timedelta(seconds=s.seconds)
        out.append((s, t, end))
        t = end
    return out


def _secs(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def _emission_time(spans: list[tuple[Step, datetime, datetime]], progress: float) -> datetime:
    """Wall time at which `progress` seconds of Training had been accumulated."""
    acc = 0.0
    last = spans[-1][2]
    for step, start, end in spans:
        if step.status != TRAINING:
            continue
        if acc + step.seconds >= progress:
            return start + timedelta(seconds=progress - acc)
        acc += step.seconds
        last = end
    return last


def _metric_value(plan: JobPlan, curve: MetricCurve, frac: float, k: int) -> float:
    shape = (1 - math.exp(-3.0 * frac)) / (1 - math.exp(-3.0))
    noise = random.Random(f"{plan.name}/{curve.name}/{k}").uniform(-0.015, 0.015)
    span = abs(curve.last - curve.first) or 1.0
    value = curve.first + (curve.last - curve.first) * shape + (0.0 if frac >= 1 else noise * span)
    return round(value, 5)


def _metrics(
    plan: JobPlan, spans: list[tuple[Step, datetime, datetime]], now: datetime
) -> tuple[list[dict[str, Any]] | None, datetime | None]:
    total = sum(s.seconds for s in plan.steps if s.status == TRAINING)
    done = sum(
        max(0.0, _secs(start, min(end, now)))
        for s, start, end in spans
        if s.status == TRAINING and start <= now
    )
    if not plan.metrics or total <= 0 or done <= 0:
        return None, None
    limit = done if plan.metric_freeze is None else min(done, plan.metric_freeze)
    finished_training = plan.metric_freeze is None and done >= total - 1e-6
    if finished_training:
        k, progress = math.ceil(total / plan.metric_interval), total
    else:
        k = int(limit // plan.metric_interval)
        progress = k * plan.metric_interval
    if k == 0:
        return None, None
    at = _emission_time(spans, progress)
    frac = min(1.0, progress / total)
    data = [
        {"MetricName": c.name, "Value": _metric_value(plan, c, frac, k), "Timestamp": at}
        for c in plan.metrics
    ]
    return data, at


def _rule(name: str, status: str, at: datetime, details: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "RuleConfigurationName": name,
        "RuleEvaluationStatus": status,
        "LastModifiedTime": at,
    }
    if details:
        entry["StatusDetails"] = details
    return entry


def snapshot(plan: JobPlan, now: datetime) -> tuple[dict[str, Any], datetime]:
    """The time-varying describe fields (snake_case) at `now`, and the latest event time."""
    spans = _spans(plan)
    end = plan.ends
    finished = now >= end
    events = [plan.created]
    transitions: list[dict[str, Any]] = []
    current: Step | None = None
    for step, start, _ in spans:
        if start > now:
            break
        if not transitions or transitions[-1]["Status"] != step.status:
            if transitions:
                transitions[-1]["EndTime"] = start
            transitions.append({"Status": step.status, "StartTime": start})
        transitions[-1]["StatusMessage"] = step.message
        events.append(start)
        current = step
    if finished:
        o = plan.outcome
        transitions[-1]["EndTime"] = end
        transitions.append(
            {"Status": o.secondary, "StartTime": end, "EndTime": end, "StatusMessage": o.message}
        )
        events.append(end)
        primary, secondary = o.status, o.secondary
    else:
        assert current is not None
        primary = STOPPING if current.status == STOPPING else "InProgress"
        secondary = current.status

    started = next((start for s, start, _ in spans if s.status != STARTING), None)
    if started is not None and started > now:
        started = None
    view: dict[str, Any] = {
        "training_job_status": primary,
        "secondary_status": secondary,
        "secondary_status_transitions": transitions,
        "failure_reason": plan.outcome.failure_reason if finished else None,
        "training_start_time": started,
        "training_end_time": end if finished and started is not None else None,
        "training_time_in_seconds": None,
        "billable_time_in_seconds": None,
    }
    if finished and started is not None:
        wall = _secs(started, end)
        paused = sum(s.seconds for s, a, _ in spans if s.status == INTERRUPTED and a >= started)
        view["training_time_in_seconds"] = max(1, round(wall))
        view["billable_time_in_seconds"] = max(1, round((wall - paused) * plan.spot_factor))

    metrics, emitted = _metrics(plan, spans, now)
    view["final_metric_data_list"] = metrics
    if emitted is not None:
        events.append(emitted)

    view["debug_rule_evaluation_statuses"] = None
    view["profiler_rule_evaluation_statuses"] = None
    if started is not None:
        half = _emission_time(
            spans, 0.5 * sum(s.seconds for s in plan.steps if s.status == TRAINING)
        )
        if plan.debug_rule:
            status, at, details = "InProgress", started, None
            if plan.debug_issues and now >= half:
                status, at = "IssuesFound", half
                details = (
                    f"RuleEvaluationConditionMet: Evaluation of the rule {plan.debug_rule}"
                    " at step 1200 resulted in the condition being met"
                )
            elif finished:
                status = {"Completed": "NoIssuesFound"}.get(plan.outcome.status, "Stopped")
                at = end
            view["debug_rule_evaluation_statuses"] = [_rule(plan.debug_rule, status, at, details)]
            events.append(at)
        if plan.profiler_rule:
            status = "InProgress"
            if finished:
                status = {"Completed": "NoIssuesFound"}.get(plan.outcome.status, "Stopped")
            at = end if finished else started
            view["profiler_rule_evaluation_statuses"] = [
                _rule(plan.profiler_rule, status, at, None)
            ]
            events.append(at)

    view["warm_pool_status"] = None
    wp = plan.warm_pool
    if wp is not None and started is not None:
        pool, at = _warm_pool(plan, wp, now, started, end)
        view["warm_pool_status"] = pool
        events.append(at)
    return view, max(e for e in events if e <= now)


def _warm_pool(
    plan: JobPlan, wp: WarmPool, now: datetime, started: datetime, end: datetime
) -> tuple[dict[str, Any], datetime]:
    if now < end:
        return {"Status": "InUse"}, started
    if plan.outcome.status != "Completed":
        return {"Status": "Terminated", "ResourceRetainedBillableTimeInSeconds": 0}, end
    since = _secs(end, now)
    if wp.reused_after is not None and since >= wp.reused_after:
        at = end + timedelta(seconds=wp.reused_after)
        return {
            "Status": "Reused",
            "ReusedByJob": wp.reused_by,
            "ResourceRetainedBillableTimeInSeconds": round(wp.reused_after),
        }, at
    if since >= wp.keep_alive:
        return {
            "Status": "Terminated",
            "ResourceRetainedBillableTimeInSeconds": round(wp.keep_alive),
        }, end + timedelta(seconds=wp.keep_alive)
    # Retained time grows while the pool waits; quantized so the job is not rewritten each tick.
    step = max(plan.metric_interval, 1.0)
    retained = math.floor(since / step) * step
    return {"Status": "Available", "ResourceRetainedBillableTimeInSeconds": round(retained)}, (
        end + timedelta(seconds=retained)
    )
