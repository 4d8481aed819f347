"""The CloudWatch source: per-host utilisation of running training jobs (--cloudwatch).

One source per (account, region), with its own cadence and its own failure: it reads the
jobs the SageMaker poller keeps in the training-job store, asks CloudWatch for their hosts'
newest datapoints, and serves them joined with the job's identity labels. A CloudWatch failure is
counted and logged, the last good samples stay served, and the SageMaker target stays up.

Cost: CloudWatch bills GetMetricData per metric requested, not per datapoint. So each
(host, metric) is one query whose window covers everything since that host's previous
fetch (plus a margin for late datapoints), up to 500 queries a call, and a process-wide
hourly budget caps the metrics requested; when it binds, the hosts fetched least recently
go first, so every job is still seen, only less often.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from exporter.aws.errors import ApiError
from exporter.aws.paging import collect
from exporter.aws.services import ServiceClients
from exporter.aws.session import AwsSettings
from exporter.cadence import Cadence, every, until
from exporter.metrics.cloudwatch_self import OPERATIONS, CloudWatchMetrics
from exporter.metrics.family import RenderContext, Table
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.metrics.utilization import (
    HOSTS,
    MAX_QUERIES,
    Devices,
    Host,
    HostSample,
    HostSamples,
    Query,
    ec2_type,
    job_hosts,
    metric_queries,
    newest_points,
    parse_instance_type,
    ratio,
    render_hosts,
    resources_for,
    wants_hosts,
)
from exporter.model import Target, TrainingJob
from exporter.store.body import Generated, Section
from exporter.store.objects import ObjectStore
from exporter.store.snapshot import SnapshotStore


class Clients(Protocol):
    """What the source needs of aws.services.ServiceClients."""

    def init_operations(self, account_id: str, operations: tuple[str, ...]) -> None: ...

    async def call(
        self, service: str, operation: str, method: str, **params: Any
    ) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class CloudWatchSettings:
    interval: float = 300.0
    late: float = 300.0  # re-read this much before the previous fetch: datapoints arrive late
    first_lookback: float = 600.0  # a host never fetched: its newest point is within this
    max_lookback: float = 3 * 3600.0  # 500 queries x 180 points stays under 100,800 a call
    final_delay: float = 120.0  # wait after a job ends before its last fetch (late points)


class MetricBudget:
    """At most `per_hour` metrics requested in any sliding hour, all targets together
    (0: no cap). Owned by the wiring and shared by every target's source."""

    def __init__(self, per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self._clock = clock
        self._spent: collections.deque[tuple[float, int]] = collections.deque()
        self._total = 0

    def available(self) -> int | None:
        if self.per_hour <= 0:
            return None
        horizon = self._clock() - 3600
        while self._spent and self._spent[0][0] <= horizon:
            self._total -= self._spent.popleft()[1]
        return max(0, self.per_hour - self._total)

    def spend(self, n: int) -> None:
        if n > 0:
            self._spent.append((self._clock(), n))
            self._total += n


class DeviceCatalog:
    """vCPU/GPU counts per instance type, from EC2 DescribeInstanceTypes, cached for the
    process (the same in every region and account). A type EC2 does not know is cached as
    unknown; a failed call is retried on the next cycle."""

    def __init__(self) -> None:
        self._known: dict[str, Devices | None] = {}
        self._log = structlog.get_logger("cloudwatch")
        # Targets resolve concurrently: one asks, the others wait and find the answer cached.
        self._lock = asyncio.Lock()

    def has(self, instance_type: str) -> bool:
        return instance_type in self._known

    def get(self, instance_type: str) -> Devices | None:
        return self._known.get(instance_type)

    async def resolve(self, clients: Clients, types: Iterable[str]) -> None:
        async with self._lock:
            await self._resolve(clients, types)

    async def _resolve(self, clients: Clients, types: Iterable[str]) -> None:
        failed: dict[str, str] = {}
        for itype in sorted(set(types) - set(self._known)):
            try:
                # One type a call: one unknown type fails a whole multi-type call.
                page = await clients.call(
                    "ec2",
                    "DescribeInstanceTypes",
                    "describe_instance_types",
                    InstanceTypes=[ec2_type(itype)],
                )
            except ApiError as err:
                if err.code in ("InvalidInstanceType", "InvalidParameterValue"):
                    self._known[itype] = None
                    self._log.warning("instance type unknown to EC2", instance_type=itype)
                else:
                    failed[itype] = err.code
                continue
            infos = page.get("InstanceTypes") or []
            self._known[itype] = parse_instance_type(infos[0]) if infos else None
            if self._known[itype] is None:
                self._log.warning("no vCPU count for instance type", instance_type=itype)
        if failed:
            # Once per cycle; the types are asked again next cycle.
            self._log.warning("DescribeInstanceTypes failed", errors=failed)


@dataclass(slots=True)
class CycleResult:
    ok: bool = True
    requested: int = 0
    skipped: int = 0
    hosts: int = 0
    samples: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class CloudWatchSource:
    """Fetches per-host utilisation of one (account, region)'s jobs into a SnapshotStore."""

    def __init__(
        self,
        clients: Clients,
        jobs: ObjectStore[TrainingJob],
        target_key: str,
        region: str,
        account_id: Callable[[], str],
        out: SnapshotStore,
        metrics: CloudWatchMetrics,
        budget: MetricBudget,
        catalog: DeviceCatalog,
        settings: CloudWatchSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clients, self.jobs, self.key = clients, jobs, target_key
        self.region, self.account_id = region, account_id
        self.out, self.metrics, self.budget, self.catalog = out, metrics, budget, catalog
        self.settings, self.clock = settings, clock
        self._fetched: dict[Host, float] = {}  # when each host was last fetched
        self._samples: dict[tuple[Host, str], HostSample] = {}
        self._watched: set[str] = set()  # jobs fetched while running: each gets a last fetch
        self._unknown: set[Host] = set()  # hosts already counted as device_count_unknown
        self._initialized = ""
        self._log = structlog.get_logger("cloudwatch").bind(region=region)

    # -- planning ------------------------------------------------------------------------
    def _plan(self, now: float) -> tuple[list[TrainingJob], list[TrainingJob], set[str]]:
        """(running jobs to fetch, ended jobs due their last fetch, jobs whose series stay)."""
        running, final, keep = [], [], set()
        # running() and get() of the few watched jobs: finished jobs are kept packed, and
        # unpacking all of them every cycle would cost ~20 us a job.
        for job in self.jobs.running(self.key):
            keep.add(job.name)
            if wants_hosts(job):
                running.append(job)
        for name in sorted(self._watched - keep):
            ended_job = self.jobs.get(self.key, name)
            if ended_job is not None and ended_job.is_terminal:
                keep.add(name)
                ended = ended_job.finished_at or now
                if now - ended >= self.settings.final_delay:
                    final.append(ended_job)
        return running, final, keep

    def _queries(self, jobs: Iterable[TrainingJob], account: str) -> list[list[Query]]:
        """Queries grouped by host, for the budget to take whole hosts."""
        out = []
        for job in jobs:
            for host in job_hosts(job):
                known = bool(host.instance_type) and self.catalog.has(host.instance_type)
                devices = self.catalog.get(host.instance_type) if known else None
                # No count can be had: count it once per host, never guess one.
                unknowable = devices is None and (known or not host.instance_type)
                if unknowable and host not in self._unknown:
                    self._unknown.add(host)
                    self.metrics.warnings.labels(self.region, account, "device_count_unknown").inc()
                out.append([Query(host, r) for r in resources_for(devices)])
        return out

    # -- one cycle -----------------------------------------------------------------------
    async def poll_once(self) -> CycleResult:
        result = CycleResult()
        account = self.account_id()
        if not account:
            return result  # the SageMaker poller has not resolved the account yet
        if self._initialized != account:
            self.metrics.init_target(self.region, account)
            self.clients.init_operations(account, OPERATIONS)
            self._initialized = account
        now = self.clock()
        running, final, keep = self._plan(now)
        types = {h.instance_type for j in running + final for h in job_hosts(j) if h.instance_type}
        await self.catalog.resolve(self.clients, types)
        # Last fetches first (a last chance), then the hosts fetched least recently.
        final_groups = self._queries(final, account)
        groups = sorted(
            self._queries(running, account), key=lambda g: self._fetched.get(g[0].host, 0.0)
        )
        groups = [g for g in final_groups + groups if g]
        allowed = self.budget.available()
        chosen: list[Query] = []
        for g in groups:
            if allowed is not None and len(chosen) + len(g) > allowed:
                result.skipped += len(g)
                continue
            chosen.extend(g)
        if result.skipped:
            self.metrics.warnings.labels(self.region, account, "budget_exhausted").inc(
                result.skipped
            )
        # Reserved now, before any await: targets run concurrently and share the budget.
        self.budget.spend(len(chosen))
        # A job without any host to ask about (no instance count) counts as fetched.
        fetched_jobs = {j.name for j in running + final if not job_hosts(j)}
        for start in range(0, len(chosen), MAX_QUERIES):
            batch = chosen[start : start + MAX_QUERIES]
            try:
                await self._fetch(batch, now, account, result)
            except ApiError as err:
                result.ok = False
                key = f"{err.operation}:{err.code}"
                result.errors[key] = result.errors.get(key, 0) + 1
                break  # throttled or denied: the next batches would fare no better
            fetched_jobs |= {q.host.job for q in batch}
        self._watched |= {j.name for j in running if j.name in fetched_jobs}
        self._watched -= {j.name for j in final if j.name in fetched_jobs}
        self._watched &= {j.name for j in self.jobs.stored(self.key)}
        self._samples = {k: s for k, s in self._samples.items() if k[0].job in keep}
        self._fetched = {h: t for h, t in self._fetched.items() if h.job in keep}
        ctx = RenderContext(self.region, account, now)
        self.out.replace(self.key, render_hosts(self._samples.values(), ctx, self.out.table))
        self._finish(result, account, len({q.host for q in chosen}))
        return result

    async def _fetch(
        self, batch: list[Query], now: float, account: str, result: CycleResult
    ) -> None:
        s = self.settings
        since = min(self._fetched.get(q.host, now - s.first_lookback) for q in batch)
        start = max(since - s.late, now - s.max_lookback)
        params: dict[str, Any] = {
            "MetricDataQueries": metric_queries(batch),
            "StartTime": dt.datetime.fromtimestamp(start, dt.UTC),
            # The current minute too: its datapoint may already be there.
            "EndTime": dt.datetime.fromtimestamp(now + 60, dt.UTC),
            "ScanBy": "TimestampDescending",
        }
        calls = 0

        async def call(**req: Any) -> Mapping[str, Any]:
            nonlocal calls
            if calls:
                self.budget.spend(len(batch))  # the first page was reserved by the cycle
            calls += 1
            # Counted before the call: a failed or retried call may still be billed.
            self.metrics.requested.labels(self.region, account).inc(len(batch))
            result.requested += len(batch)
            return await self.clients.call("cloudwatch", "GetMetricData", "get_metric_data", **req)

        results: list[Mapping[str, Any]] = await collect(
            call, "GetMetricData", "MetricDataResults", params, page_size=None, required=False
        )
        for index, (ts, percent) in newest_points(results).items():
            if index >= len(batch):
                continue
            q = batch[index]
            devices = self.catalog.get(q.host.instance_type) if q.host.instance_type else None
            value = ratio(q.resource, percent, devices)
            key = (q.host, q.resource.name)
            old = self._samples.get(key)
            if value is not None and (old is None or ts >= old.timestamp):
                self._samples[key] = HostSample(q.host, q.resource.name, value, ts)
        for q in batch:
            self._fetched[q.host] = now

    def _finish(self, result: CycleResult, account: str, hosts: int) -> None:
        result.hosts, result.samples = hosts, len(self._samples)
        m = self.metrics
        m.up.labels(self.region, account).set(1 if result.ok else 0)
        m.cycles.labels(self.region, account, "success" if result.ok else "failure").inc()
        fields = dict(
            account_id=account,
            hosts=hosts,
            requested=result.requested,
            skipped=result.skipped,
            samples=result.samples,
        )
        if result.ok:
            m.last_success.labels(self.region, account).set(time.time())
            self._log.info("cloudwatch", **fields)
        else:
            self._log.warning("cloudwatch failed", errors=result.errors, **fields)

    async def run(self, stop: asyncio.Event, ready: Callable[[], bool]) -> None:
        """Fetch every interval until `stop`, keeping cadence; start once the SageMaker
        poller has synced the target (before that there are no jobs to ask about)."""
        await until(stop, ready)

        async def cycle() -> None:
            await self.poll_once()

        await every(
            stop, Cadence(self.settings.interval), cycle, self._log, "cloudwatch cycle crashed"
        )


async def start(
    stack: AsyncExitStack,
    targets: list[tuple[Target, Any]],
    aws: AwsSettings,
    self_metrics: SelfMetrics,
    jobs: ObjectStore[TrainingJob],
    settings: CloudWatchSettings,
    budget_per_hour: int,
    loader: Any,
    hosts: Table[HostSamples] = HOSTS,
) -> tuple[list[tuple[CloudWatchSource, Any]], list[Section]]:
    """One source per (target, its training-job poller), sharing one budget, one device
    catalog, one snapshot store and one set of self-metrics: (the sources with their
    pollers, the body sections they add)."""
    out, metrics = SnapshotStore(hosts), CloudWatchMetrics()
    budget, catalog = MetricBudget(budget_per_hour), DeviceCatalog()
    sources = []
    for target, poller in targets:

        def account(poller: Any = poller) -> str:
            return str(poller.account_id)

        clients = await stack.enter_async_context(
            ServiceClients(target, aws, self_metrics, ("cloudwatch", "ec2"), account, loader)
        )
        source = CloudWatchSource(
            clients,
            jobs,
            target.key,
            target.region,
            account,
            out,
            metrics,
            budget,
            catalog,
            settings,
        )
        sources.append((source, poller))
    return sources, [out, Generated(metrics.exposition)]
