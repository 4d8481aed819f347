"""Hyperparameter tuning jobs for the fake server: ListHyperParameterTuningJobs and
DescribeHyperParameterTuningJob (pure request dict -> response dict).

The fake starts with none, as an account that never tuned anything: the exporter's tuning
source then costs one list call per cycle and succeeds, so benchmarks and fault tests of the
training-job path see no tuning noise. Tests add jobs with `TuningJobs.add`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from fake_aws.ops import NOT_FOUND, ApiError

Doc = dict[str, Any]
_SUMMARY_KEYS = (
    "HyperParameterTuningJobName",
    "HyperParameterTuningJobArn",
    "HyperParameterTuningJobStatus",
    "CreationTime",
    "HyperParameterTuningEndTime",
    "LastModifiedTime",
    "TrainingJobStatusCounters",
    "ObjectiveStatusCounters",
)


def summary(doc: Doc) -> Doc:
    out = {k: doc[k] for k in _SUMMARY_KEYS if k in doc}
    config = doc.get("HyperParameterTuningJobConfig", {})
    out["Strategy"] = config.get("Strategy", "Bayesian")
    if "ResourceLimits" in config:
        out["ResourceLimits"] = config["ResourceLimits"]
    return out


@dataclass
class TuningJobs:
    """Describe bodies by name (epoch-second timestamps), listed by CreationTime."""

    jobs: dict[str, Doc] = field(default_factory=dict)

    def add(self, doc: Doc) -> None:
        self.jobs[str(doc["HyperParameterTuningJobName"])] = copy.deepcopy(doc)

    def describe(self, params: Doc) -> Doc:
        name = str(params.get("HyperParameterTuningJobName", ""))
        if name not in self.jobs:
            raise ApiError("ResourceNotFound", NOT_FOUND)
        return self.jobs[name]

    def list(self, params: Doc) -> Doc:
        after = params.get("LastModifiedTimeAfter")
        status = params.get("StatusEquals")
        rows = sorted(
            self.jobs.values(), key=lambda d: (d["CreationTime"], d["HyperParameterTuningJobName"])
        )
        rows = [
            d
            for d in rows
            if (after is None or d["LastModifiedTime"] > float(after))
            and (status is None or d["HyperParameterTuningJobStatus"] == status)
        ]
        size = min(int(params.get("MaxResults") or 100), 100)
        start = int(params.get("NextToken") or 0)
        out: Doc = {
            "HyperParameterTuningJobSummaries": [summary(d) for d in rows[start : start + size]]
        }
        if start + size < len(rows):
            out["NextToken"] = str(start + size)
        return out
