"""What the exporter is measured against: the simple ways to do the same job.

- naive_sync: a sequential boto3 loop (list everything, describe every job, one at a time).
- ack_cycle: an ACK-controller-style poller that describes every active job every cycle.
- search_sync: the Search API (Resource=TrainingJob), 100 jobs with tags per call.
- BaselineCollector: a plain prometheus_client custom collector that builds every family
  from the job objects on every scrape.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
from botocore.config import Config
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from exporter.metrics.family import RenderContext
from exporter.metrics.training_jobs import FAMILIES, IDENTITY_LABELS, tag_label_name
from exporter.model import TrainingJob


def client(endpoint: str, *, attempts: int = 4) -> Any:
    return boto3.client(
        "sagemaker",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(
            retries={"mode": "standard", "total_max_attempts": attempts}, max_pool_connections=4
        ),
    )


def _pages(sm: Any, op: str, key: str, **params: Any) -> Iterator[list[dict[str, Any]]]:
    token = None
    while True:
        req = dict(params, MaxResults=100, **({"NextToken": token} if token else {}))
        page = getattr(sm, op)(**req)
        yield page.get(key) or []
        token = page.get("NextToken")
        if not token:
            return


def naive_sync(endpoint: str, since: float) -> dict[str, float]:
    """List jobs modified since `since`, describe each in turn; seconds and jobs."""
    sm = client(endpoint)
    start = time.monotonic()
    names = [
        s["TrainingJobName"]
        for page in _pages(
            sm, "list_training_jobs", "TrainingJobSummaries", LastModifiedTimeAfter=since
        )
        for s in page
    ]
    for name in names:
        sm.describe_training_job(TrainingJobName=name)
    return {"seconds": time.monotonic() - start, "jobs": len(names)}


def ack_cycle(endpoint: str) -> int:
    """One cycle of a poller that lists active jobs and describes every one; returns the
    API calls it made."""
    sm = client(endpoint)
    calls = 0
    names: list[str] = []
    for status in ("InProgress", "Stopping"):
        for page in _pages(sm, "list_training_jobs", "TrainingJobSummaries", StatusEquals=status):
            calls += 1
            names += [s["TrainingJobName"] for s in page]
    for name in names:
        sm.describe_training_job(TrainingJobName=name)
        calls += 1
    return calls


def search_sync(endpoint: str, since: float) -> dict[str, float]:
    """Everything describe + ListTags would give, via Search; calls, seconds, jobs."""
    sm = client(endpoint)
    start = time.monotonic()
    calls = jobs = 0
    expr = {
        "Filters": [{"Name": "LastModifiedTime", "Operator": "GreaterThan", "Value": str(since)}]
    }
    for page in _pages(
        sm,
        "search",
        "Results",
        Resource="TrainingJob",
        SearchExpression=expr,
        SortBy="LastModifiedTime",
        SortOrder="Ascending",
    ):
        calls += 1
        jobs += len(page)
    return {"calls": calls, "seconds": time.monotonic() - start, "jobs": jobs}


class BaselineCollector(Collector):
    """Builds every family from the jobs at scrape time, the textbook way."""

    def __init__(self, jobs: Iterable[TrainingJob], ctx: RenderContext) -> None:
        self.jobs = list(jobs)
        self.ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ctx = self.ctx
        for family in FAMILIES:
            extra = (
                [tag_label_name(k) for k in ctx.tag_labels]
                if family.name.endswith("_tags")
                else list(family.labels)
            )
            # prometheus_client appends the type suffix itself for counters; all are gauges
            out = GaugeMetricFamily(family.name, family.help, labels=[*IDENTITY_LABELS, *extra])
            for job in self.jobs:
                for labels, value in family.samples(job, ctx):
                    out.add_metric(
                        [job.name, ctx.region, ctx.account_id, *(v for _, v in labels)], value
                    )
            yield out
