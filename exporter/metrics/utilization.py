"""Per-host utilisation of training jobs, from CloudWatch: pure planning, parsing, rendering.

SageMaker publishes each training host's utilisation to CloudWatch (namespace
`/aws/sagemaker/TrainingJobs`, dimension `Host` = `<job>/algo-<n>`, 1-minute, Percent). CPU
and GPU values run to 100 x the device count, so they are divided by the host's vCPUs or
GPUs (from EC2 DescribeInstanceTypes) to give a 0..1 ratio; memory and disk are already
0..100. Nothing here does I/O: exporter/sources/cloudwatch.py calls AWS and keeps state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from exporter.metrics.family import Prefixed, RenderContext, Sample, Table
from exporter.metrics.text import render
from exporter.model import TrainingJob

NAMESPACE = "/aws/sagemaker/TrainingJobs"
PERIOD = 60  # SageMaker publishes 1-minute data
MAX_QUERIES = 500  # GetMetricData's limit per call


@dataclass(frozen=True, slots=True)
class Resource:
    name: str  # the `resource` label
    metric: str  # the CloudWatch metric name
    device: str  # "" (already 0..100), "cpu" or "gpu": the device count it is divided by


RESOURCES: tuple[Resource, ...] = (
    Resource("cpu", "CPUUtilization", "cpu"),
    Resource("memory", "MemoryUtilization", ""),
    Resource("disk", "DiskUtilization", ""),
    Resource("gpu", "GPUUtilization", "gpu"),
    # Documented for endpoints as 0..100 x the GPU count, like GPUUtilization; assumed the
    # same for training hosts, whose page gives no range.
    Resource("gpu_memory", "GPUMemoryUtilization", "gpu"),
)
RESOURCE_NAMES = tuple(r.name for r in RESOURCES)

#: Secondary statuses in which a job has no hosts publishing: querying them costs money
#: for nothing (before instances exist, or while a spot job waits for capacity).
NO_HOST_PHASES = frozenset(
    {"", "Starting", "Pending", "LaunchingMLInstances", "PreparingTrainingStack", "Interrupted"}
)


@dataclass(frozen=True, slots=True)
class Devices:
    """Device counts of one instance type; 0 GPUs for a type without GPUs."""

    vcpus: int
    gpus: int


def parse_instance_type(info: Mapping[str, Any]) -> Devices | None:
    """One InstanceTypes entry of DescribeInstanceTypes -> device counts (None: no vCPU count)."""
    vcpus = (info.get("VCpuInfo") or {}).get("DefaultVCpus")
    if not isinstance(vcpus, int) or vcpus <= 0:
        return None
    gpus = sum(int(g.get("Count") or 0) for g in (info.get("GpuInfo") or {}).get("Gpus") or [])
    return Devices(vcpus, gpus)


def ec2_type(instance_type: str) -> str:
    """SageMaker's ml.p4d.24xlarge is EC2's p4d.24xlarge."""
    return instance_type.removeprefix("ml.")


@dataclass(frozen=True, slots=True)
class Host:
    job: str
    host: str  # algo-<n>
    instance_type: str  # "" when it cannot be known (instance groups of different types)

    @property
    def dimension(self) -> str:
        return f"{self.job}/{self.host}"


def job_hosts(job: TrainingJob) -> tuple[Host, ...]:
    """The job's hosts algo-1..algo-N, N the total instance count over its groups.

    Which host belongs to which instance group is not in DescribeTrainingJob (SageMaker
    need not number a group's hosts contiguously), so a host's type is known only when all
    groups share one type.
    """
    types = {g.instance_type for g in job.instance_groups}
    itype = types.pop() if len(types) == 1 else ""
    return tuple(Host(job.name, f"algo-{i}", itype) for i in range(1, job.total_instances + 1))


def wants_hosts(job: TrainingJob) -> bool:
    """Whether a running job's hosts are publishing now."""
    return job.is_active and job.secondary_status not in NO_HOST_PHASES


def resources_for(devices: Devices | None) -> tuple[Resource, ...]:
    """What to query for a host: memory and disk always; CPU only with a vCPU count; GPU
    only on a type known to have GPUs. An unknown count is never guessed (and not paid for)."""
    out = []
    for r in RESOURCES:
        if r.device == "cpu" and devices is None:
            continue
        if r.device == "gpu" and (devices is None or devices.gpus == 0):
            continue
        out.append(r)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Query:
    host: Host
    resource: Resource


def metric_queries(queries: Iterable[Query]) -> list[dict[str, Any]]:
    """GetMetricData MetricDataQueries; Id q<i> is the query's index in the batch."""
    return [
        {
            "Id": f"q{i}",
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": q.resource.metric,
                    "Dimensions": [{"Name": "Host", "Value": q.host.dimension}],
                },
                "Period": PERIOD,
                "Stat": "Average",
            },
            "ReturnData": True,
        }
        for i, q in enumerate(queries)
    ]


def _epoch(value: Any) -> float | None:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return float(value.timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def newest_points(results: Iterable[Mapping[str, Any]]) -> dict[int, tuple[float, float]]:
    """MetricDataResults -> {query index: (newest timestamp, its value)}; empty ones omitted.
    Pages of one call may each carry part of a query's points: pass them all."""
    out: dict[int, tuple[float, float]] = {}
    for r in results:
        rid = str(r.get("Id", ""))
        if not rid.startswith("q") or not rid[1:].isdigit():
            continue
        index = int(rid[1:])
        for ts, value in zip(r.get("Timestamps") or [], r.get("Values") or [], strict=False):
            t = _epoch(ts)
            if t is None or not isinstance(value, int | float):
                continue
            if index not in out or t > out[index][0]:
                out[index] = (t, float(value))
    return out


def ratio(resource: Resource, percent: float, devices: Devices | None) -> float | None:
    """CloudWatch percent -> 0..1 of every device of that kind on the host."""
    if resource.device == "":
        return percent / 100
    if devices is None:
        return None
    count = devices.vcpus if resource.device == "cpu" else devices.gpus
    return percent / 100 / count if count > 0 else None


@dataclass(frozen=True, slots=True)
class HostSample:
    """The newest datapoint of one (host, resource)."""

    host: Host
    resource: str
    value: float
    timestamp: float


# -- rendering -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostSamples:
    """What one host shows: its newest sample per resource, in resource order."""

    host: Host
    samples: tuple[HostSample, ...]


def _utilization(h: HostSamples, ctx: RenderContext) -> Iterable[Sample]:
    for s in h.samples:
        yield ((("resource", s.resource), ("instance_type", h.host.instance_type)), s.value)


def _newest(h: HostSamples, ctx: RenderContext) -> Iterable[Sample]:
    if h.samples:
        yield ((), max(s.timestamp for s in h.samples))


_P = Prefixed[HostSamples]("sagemaker_training_job_host_")
UTILIZATION = _P.prefix + "utilization_ratio"
TIMESTAMP = _P.prefix + "metrics_timestamp_seconds"

#: The host families; the identity labels are the job's, then `host`.
HOSTS: Table[HostSamples] = Table(
    ("training_job", "region", "account_id"),
    (
        _P.gauge(
            "utilization_ratio",
            "Newest CloudWatch utilisation of a training host (--cloudwatch), 0..1 where 1 is "
            "every device of that kind busy; resource is cpu, memory, disk, gpu or gpu_memory.",
            _utilization,
            "resource",
            "instance_type",
        ),
        _P.gauge(
            "metrics_timestamp_seconds",
            "Time of the newest CloudWatch datapoint of a training host, to tell stale from idle.",
            _newest,
        ),
    ),
    lambda h: h.host.job,
    lambda h: (("host", h.host.host),),
)


def render_hosts(
    samples: Iterable[HostSample], ctx: RenderContext, table: Table[HostSamples] = HOSTS
) -> tuple[bytes, ...]:
    """One text chunk per family of the table (no headers), hosts in (job, host) order."""
    by_host: dict[Host, list[HostSample]] = {}
    for s in sorted(samples, key=lambda s: (s.host.job, s.host.host, s.resource)):
        by_host.setdefault(s.host, []).append(s)
    chunks = [render(table, HostSamples(h, tuple(ss)), ctx) for h, ss in by_host.items()]
    return tuple(b"".join(c[i] for c in chunks) for i in range(len(table.families)))
