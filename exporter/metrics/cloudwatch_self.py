"""The CloudWatch source's own metrics.

Kept apart from selfmetrics.py: the source has its own health (a CloudWatch failure never
marks the SageMaker target down).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from exporter.metrics.text import registry_text

#: Operations the CloudWatch source calls, for sagemaker_exporter_api_requests_total.
OPERATIONS = ("GetMetricData", "DescribeInstanceTypes")
WARNINGS = ("device_count_unknown", "budget_exhausted")


class CloudWatchMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requested = Counter(
            "sagemaker_exporter_cloudwatch_metrics_requested",
            "CloudWatch metrics requested with GetMetricData (what CloudWatch bills): the "
            "queries of every call, failed calls included.",
            ["region", "account_id"],
            registry=r,
        )
        self.up = Gauge(
            "sagemaker_exporter_cloudwatch_up",
            "1 if the last CloudWatch cycle of this account/region succeeded "
            "(independent of sagemaker_exporter_target_up).",
            ["region", "account_id"],
            registry=r,
        )
        self.last_success = Gauge(
            "sagemaker_exporter_cloudwatch_last_success_timestamp_seconds",
            "When the last CloudWatch cycle that succeeded ended, as Unix time.",
            ["region", "account_id"],
            registry=r,
        )
        self.cycles = Counter(
            "sagemaker_exporter_cloudwatch_cycles",
            "CloudWatch cycles by result (success, failure).",
            ["region", "account_id", "result"],
            registry=r,
        )
        self.warnings = Counter(
            "sagemaker_exporter_cloudwatch_warnings",
            "Hosts without a vCPU/GPU count (no cpu/gpu series; reason device_count_unknown, "
            "once per host) and metrics skipped by --cloudwatch-budget (budget_exhausted).",
            ["region", "account_id", "reason"],
            registry=r,
        )

    def init_target(self, region: str, account_id: str) -> None:
        # `up` stays absent until the first cycle ends: a 0 while the first cycle runs
        # would read as a failure.
        self.requested.labels(region, account_id)
        for result in ("success", "failure"):
            self.cycles.labels(region, account_id, result)
        for reason in WARNINGS:
            self.warnings.labels(region, account_id, reason)

    def reference(self) -> list[tuple[str, str, tuple[str, ...], str]]:
        out = []
        for m in (self.requested, self.up, self.last_success, self.cycles, self.warnings):
            suffix = "_total" if m._type == "counter" else ""
            out.append((m._name + suffix, m._type, tuple(m._labelnames), m._documentation))
        return out

    def exposition(self) -> bytes:
        return registry_text(self.registry)
