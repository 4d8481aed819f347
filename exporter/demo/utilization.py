"""Per-host utilisation the demo publishes to CloudWatch for its running jobs (pure).

SageMaker publishes 1-minute datapoints per host (namespace /aws/sagemaker/TrainingJobs,
dimension Host = <job>/algo-<n>, CPU and GPU as 100 x the device count); the demo does the
same through moto's put_metric_data. Most jobs look busy; the "stalled" scenario's hosts
idle their GPUs with memory nearly full and the disk filling, so the utilisation alerts have
something to page about.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime
from typing import Any

NAMESPACE = "/aws/sagemaker/TrainingJobs"
#: Device counts of the demo's instance types, as EC2 (and moto) report them.
DEVICES: dict[str, tuple[int, int]] = {  # type -> (vCPUs, GPUs)
    "ml.m5.xlarge": (4, 0),
    "ml.c5.4xlarge": (16, 0),
    "ml.g5.2xlarge": (8, 1),
    "ml.g5.12xlarge": (48, 4),
    "ml.p3.2xlarge": (8, 1),
    "ml.p4d.24xlarge": (96, 8),
    "ml.trn1.32xlarge": (128, 0),
}
#: Phases in which a job's hosts exist and publish.
PUBLISHING = frozenset({"Downloading", "Training", "Uploading", "Stopping"})
# (low, high) per resource, as a share of the devices: busy by default, the stall idles.
BUSY = {
    "cpu": (0.3, 0.8),
    "memory": (0.4, 0.75),
    "disk": (0.1, 0.45),
    "gpu": (0.7, 0.97),
    "gpu_memory": (0.5, 0.9),
}
STALLED = {
    "cpu": (0.02, 0.06),
    "memory": (0.96, 0.985),
    "disk": (0.91, 0.95),
    "gpu": (0.0, 0.04),
    "gpu_memory": (0.3, 0.35),
}
METRICS = {
    "cpu": "CPUUtilization",
    "memory": "MemoryUtilization",
    "disk": "DiskUtilization",
    "gpu": "GPUUtilization",
    "gpu_memory": "GPUMemoryUtilization",
}


def hosts(static: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(algo-<n>, instance type) of a job, numbered over its instance groups in order (the
    demo's own numbering; the exporter does not rely on it)."""
    rc = static.get("resource_config") or {}
    groups = rc.get("InstanceGroups") or [
        {"InstanceType": rc.get("InstanceType", ""), "InstanceCount": rc.get("InstanceCount", 1)}
    ]
    out: list[tuple[str, str]] = []
    for g in groups:
        out += [("", str(g["InstanceType"]))] * int(g["InstanceCount"])
    return [(f"algo-{i}", t) for i, (_, t) in enumerate(out, start=1)]


def datapoints(
    name: str,
    scenario: str,
    static: Mapping[str, Any],
    view: Mapping[str, Any],
    at: datetime,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """put_metric_data MetricData for one job at `at`; none unless its hosts are up."""
    if view.get("secondary_status") not in PUBLISHING:
        return []
    ranges = STALLED if scenario == "stalled" else BUSY
    out = []
    for host, itype in hosts(static):
        vcpus, gpus = DEVICES.get(itype, (0, 0))
        for resource, metric in METRICS.items():
            scale = {"cpu": vcpus, "gpu": gpus, "gpu_memory": gpus}.get(resource, 1)
            if scale == 0:
                continue  # no such device: SageMaker publishes no such metric
            low, high = ranges[resource]
            out.append(
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "Host", "Value": f"{name}/{host}"}],
                    "Timestamp": at,
                    "Value": round(100 * scale * rng.uniform(low, high), 2),
                    "Unit": "Percent",
                }
            )
    return out
