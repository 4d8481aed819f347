"""The exporter's own metrics: API cost, poll health, staleness, process.

Held in a private prometheus_client registry (no global state), rendered after the job
families on every scrape. Per-target series start at zero so rates work from the first
scrape.
"""

from __future__ import annotations

import asyncio
import platform

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from exporter import __version__
from exporter.metrics.text import registry_text
from exporter.model import TERMINAL_STATUSES

OUTCOMES = ("ok", "throttled", "client_error", "server_error", "network_error")
OPERATIONS = ("ListTrainingJobs", "DescribeTrainingJob", "ListTags", "Search")
EVENT_OUTCOMES = ("applied", "stale", "ignored", "malformed", "deferred")
#: Started at zero by the tuning-job source (exporter/sources/tuning.py) for its targets.
TUNING_OPERATIONS = ("ListHyperParameterTuningJobs", "DescribeHyperParameterTuningJob")


class SelfMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=r)
        self.build_info = Gauge(
            "sagemaker_exporter_build_info",
            "Exporter build; value is always 1.",
            ["version", "python_version"],
            registry=r,
        )
        self.build_info.labels(__version__, platform.python_version()).set(1)
        self.api_requests = Counter(
            "sagemaker_exporter_api_requests",
            "AWS API requests (every HTTP attempt, retries included) by outcome.",
            ["operation", "region", "account_id", "outcome"],
            registry=r,
        )
        self.api_duration = Histogram(
            "sagemaker_exporter_api_request_duration_seconds",
            "AWS API call latency, retries included.",
            ["operation"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.poll_duration = Gauge(
            "sagemaker_exporter_poll_duration_seconds",
            "Duration of the last poll cycle.",
            ["region", "account_id"],
            registry=r,
        )
        self.last_success = Gauge(
            "sagemaker_exporter_last_successful_poll_timestamp_seconds",
            "When the last poll cycle that succeeded ended, as Unix time.",
            ["region", "account_id"],
            registry=r,
        )
        self.target_up = Gauge(
            "sagemaker_exporter_target_up",
            "1 if the last poll cycle of this account/region succeeded.",
            ["region", "account_id"],
            registry=r,
        )
        self.tracked_jobs = Gauge(
            "sagemaker_exporter_tracked_jobs",
            "Training jobs currently exported.",
            ["region", "account_id"],
            registry=r,
        )
        self.polls = Counter(
            "sagemaker_exporter_polls",
            "Poll cycles by result (success, failure).",
            ["region", "account_id", "result"],
            registry=r,
        )
        self.api_rate_limit = Gauge(
            "sagemaker_exporter_api_rate_limit",
            "Calls per second the exporter allows itself for this operation: discovered from "
            "throttling (the API's quota, found), capped by --list-rps/--describe-rps if set.",
            ["operation", "region", "account_id"],
            registry=r,
        )
        self.backfill_pending = Gauge(
            "sagemaker_exporter_backfill_pending_jobs",
            "Jobs listed by the initial sync (backfill) that are not on /metrics yet; "
            "0 once it is complete.",
            ["region", "account_id"],
            registry=r,
        )
        self.search_enabled = Gauge(
            "sagemaker_exporter_search_enabled",
            "1 if the backfill reads finished jobs through sagemaker:Search, 0 if it fell back "
            "to ListTrainingJobs + DescribeTrainingJob (AccessDenied).",
            ["region", "account_id"],
            registry=r,
        )
        self.finished = Counter(
            "sagemaker_training_jobs_finished",
            "Training jobs that reached a terminal status while watched.",
            ["region", "account_id", "status"],
            registry=r,
        )
        # -- event source (SQS) --------------------------------------------------------
        self.events = Counter(
            "sagemaker_exporter_events",
            "SQS messages by outcome: applied, stale (the store already held newer), "
            "ignored (not a training job state change, or no watched target), malformed, "
            "deferred (its target's account is not known yet: left for redelivery).",
            ["queue", "outcome"],
            registry=r,
        )
        self.events_up = Gauge(
            "sagemaker_exporter_events_up",
            "1 if the last receive from this SQS queue succeeded; while any queue is down "
            "the exporter polls at --poll-interval.",
            ["queue"],
            registry=r,
        )
        self.events_lag = Histogram(
            "sagemaker_exporter_event_lag_seconds",
            "From an event's time (EventBridge's, else the job's LastModifiedTime) to its "
            "application to the store.",
            ["queue"],
            buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900),
            registry=r,
        )
        self.events_receive_errors = Counter(
            "sagemaker_exporter_events_receive_errors",
            "Failed SQS receives and deletes by outcome (throttled, client_error, "
            "server_error, network_error).",
            ["queue", "outcome"],
            registry=r,
        )
        self.poll_interval = Gauge(
            "sagemaker_exporter_poll_interval_seconds",
            "The poll interval in force: --events-poll-interval while every event queue is "
            "up, else --poll-interval.",
            registry=r,
        )

        # Prices and tuning jobs (issue 12).
        self.price_table_timestamp = Gauge(
            "sagemaker_exporter_price_table_timestamp_seconds",
            "When the prices in use were valid (the price file's as_of date, or when the Price "
            "List API answered), as Unix time; time() minus it is the table's age.",
            ["source"],
            registry=r,
        )
        self.price_entries = Gauge(
            "sagemaker_exporter_price_table_entries",
            "(region, instance type) prices in the table.",
            ["source"],
            registry=r,
        )
        self.price_refreshes = Counter(
            "sagemaker_exporter_price_refreshes",
            "Price List API refreshes by result (success, failure).",
            ["result"],
            registry=r,
        )
        self.price_missing = Counter(
            "sagemaker_exporter_price_missing",
            "Warnings that a job's instance type has no price, so it has no cost series (one "
            "per region and type each time the table changes).",
            ["region", "instance_type"],
            registry=r,
        )
        self.tuning_target_up = Gauge(
            "sagemaker_exporter_tuning_target_up",
            "1 if the last tuning-job poll of this account/region succeeded.",
            ["region", "account_id"],
            registry=r,
        )
        self.tracked_tuning_jobs = Gauge(
            "sagemaker_exporter_tracked_tuning_jobs",
            "Hyperparameter tuning jobs currently exported.",
            ["region", "account_id"],
            registry=r,
        )

        # Read at scrape time, on the event loop: a task leak shows as steady growth here
        # (the soak benchmark, bench/soak.py, watches it).
        self.asyncio_tasks = Gauge(
            "sagemaker_exporter_asyncio_tasks",
            "asyncio tasks alive in the exporter's event loop when scraped.",
            registry=r,
        )
        self.asyncio_tasks.set_function(_asyncio_tasks)

    def init_queue(self, queue: str) -> None:
        for outcome in EVENT_OUTCOMES:
            self.events.labels(queue, outcome)
        for outcome in OUTCOMES[1:]:
            self.events_receive_errors.labels(queue, outcome)
        self.events_up.labels(queue).set(0)
        self.events_lag.labels(queue)

    def init_target(self, region: str, account_id: str) -> None:
        for op in OPERATIONS:
            for outcome in OUTCOMES:
                self.api_requests.labels(op, region, account_id, outcome)
        for result in ("success", "failure"):
            self.polls.labels(region, account_id, result)
        for status in sorted(TERMINAL_STATUSES):
            self.finished.labels(region, account_id, status)
        self.target_up.labels(region, account_id).set(0)
        self.tracked_jobs.labels(region, account_id).set(0)
        self.search_enabled.labels(region, account_id).set(1)

    def reference(self) -> list[tuple[str, str, tuple[str, ...], str]]:
        """(name, type, label names, help) of every metric here, for the generated docs."""
        out = []
        for metric in (
            self.build_info,
            self.api_requests,
            self.api_duration,
            self.poll_duration,
            self.last_success,
            self.target_up,
            self.tracked_jobs,
            self.polls,
            self.api_rate_limit,
            self.backfill_pending,
            self.search_enabled,
            self.finished,
            self.events,
            self.events_up,
            self.events_lag,
            self.events_receive_errors,
            self.poll_interval,
            self.price_table_timestamp,
            self.price_entries,
            self.price_refreshes,
            self.price_missing,
            self.tuning_target_up,
            self.tracked_tuning_jobs,
            self.asyncio_tasks,
        ):
            suffix = "_total" if metric._type == "counter" else ""
            out.append(
                (
                    metric._name + suffix,
                    metric._type,
                    tuple(metric._labelnames),
                    metric._documentation,
                )
            )
        return out

    def exposition(self) -> bytes:
        return registry_text(self.registry)


def _asyncio_tasks() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # rendered outside an event loop: there is no count to give
        return float("nan")
