"""Synthetic SageMaker training jobs for the fake server: generation and state changes.

Every job is a DescribeTrainingJob response body (JSON-ready: timestamps are epoch seconds)
plus its tags. Generation is deterministic from (seed, index, now), so two fakes built with
the same arguments serve byte-identical jobs.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from fake_aws.fields import optional_fields

# Planted in HyperParameters and Environment of every job so exporter tests can prove
# that secret values never reach /metrics or logs.
CANARY_SECRET = "canary-s3cr3t-7f3a9c-DO-NOT-EXPORT"

Doc = dict[str, Any]


@dataclass(frozen=True)
class Family:
    prefix: str
    image: str
    metrics: tuple[str, ...]
    hyper: tuple[tuple[str, str], ...]


_DLC = "763104351884.dkr.ecr.{region}.amazonaws.com"
FAMILIES = (
    Family(
        "xgboost-churn",
        "683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:1.7-1",
        ("validation:auc", "train:auc", "validation:logloss"),
        (("eta", "0.2"), ("max_depth", "6"), ("num_round", "300")),
    ),
    Family(
        "pytorch-llm-finetune",
        _DLC + "/pytorch-training:2.3.0-gpu-py311-cu121-ubuntu20.04-sagemaker",
        ("train:loss", "validation:loss", "validation:perplexity"),
        (("epochs", "3"), ("lr", "2e-5"), ("per_device_batch_size", "8")),
    ),
    Family(
        "tf-resnet50",
        _DLC + "/tensorflow-training:2.14.1-gpu-py310",
        ("train:accuracy", "validation:accuracy", "validation:top_5_accuracy"),
        (("epochs", "90"), ("batch_size", "256"), ("optimizer", "sgd")),
    ),
    Family(
        "hf-bert-ner",
        _DLC + "/huggingface-pytorch-training:2.1.0-transformers4.36.0-gpu-py310-cu121",
        ("eval_loss", "eval_f1"),
        (("model_name_or_path", "bert-base-cased"), ("num_train_epochs", "5")),
    ),
    Family(
        "sklearn-fraud",
        "{account}.dkr.ecr.{region}.amazonaws.com/fraud-trainer:2024.05",
        ("validation:precision", "validation:recall"),
        (("n_estimators", "500"), ("class_weight", "balanced")),
    ),
)
INSTANCE_TYPES = (
    "ml.m5.xlarge",
    "ml.m5.4xlarge",
    "ml.c5.2xlarge",
    "ml.g5.2xlarge",
    "ml.g5.12xlarge",
    "ml.p3.2xlarge",
    "ml.p4d.24xlarge",
    "ml.trn1.32xlarge",
)
TEAMS = ("ml-platform", "search", "ads", "fraud", "recsys")
FAILURES = (
    (
        "Starting",
        "CapacityError: Unable to provision requested ML compute capacity. "
        "Please retry using a different ML instance type.",
    ),
    (
        "Downloading",
        "ClientError: Data download failed:Failed to download data. "
        "AccessDenied (403): Access Denied",
    ),
    (
        "Training",
        "AlgorithmError: ExecuteUserScriptError:\nExitCode 1\nErrorMessage "
        '"RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"',
    ),
    ("Training", "InternalServerError: We encountered an internal error. Please try again."),
    ("Training", "Training job failed unexpectedly"),
)
MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Interrupted": "Spot instance interrupted, waiting for capacity",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job stopped: MaxRuntimeInSeconds reached",
    "MaxWaitTimeExceeded": "Training job stopped: MaxWaitTimeInSeconds reached",
}
_TERMINAL = frozenset({"Completed", "Failed", "Stopped"})


@dataclass
class FakeJob:
    doc: Doc
    tags: list[dict[str, str]]
    spot: bool
    # cached JSON of doc; describe is the hot path of every benchmark
    _encoded: bytes | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return str(self.doc["TrainingJobName"])

    @property
    def status(self) -> str:
        return str(self.doc["TrainingJobStatus"])

    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = json.dumps(self.doc, separators=(",", ":")).encode()
        return self._encoded

    def touch(self) -> None:
        self._encoded = None


def _ts(value: float) -> float:
    return round(value, 3)


def _transitions(steps: list[tuple[str, float]], start: float, open_last: bool) -> list[Doc]:
    out: list[Doc] = []
    t = start
    for i, (status, duration) in enumerate(steps):
        entry: Doc = {"Status": status, "StartTime": _ts(t), "StatusMessage": MESSAGES[status]}
        last = i == len(steps) - 1
        if not (last and open_last):
            entry["EndTime"] = _ts(t + duration)
        out.append(entry)
        t += duration
    return out


def _plan(rng: random.Random, outcome: str, spot: bool) -> tuple[list[tuple[str, float]], str]:
    """Secondary-status steps with durations, plus the failure reason if any."""
    steps: list[tuple[str, float]] = [("Starting", rng.uniform(60, 420))]
    reason = ""
    if outcome == "Failed":
        stage, reason = FAILURES[rng.randrange(len(FAILURES))]
        if stage != "Starting":
            steps.append(("Downloading", rng.uniform(10, 240)))
        if stage == "Training":
            steps.append(("Training", rng.uniform(60, 5000)))
        steps.append(("Failed", 0.0))
        return steps, reason
    steps.append(("Downloading", rng.uniform(10, 300)))
    steps.append(("Training", rng.uniform(300, 12000)))
    if spot and rng.random() < 0.35:
        for _ in range(rng.randint(1, 3)):
            steps.append(("Interrupted", rng.uniform(60, 900)))
            steps.append(("Training", rng.uniform(300, 6000)))
    if outcome == "Completed":
        steps += [("Uploading", rng.uniform(5, 120)), ("Completed", 0.0)]
    elif outcome == "Stopped":
        last = rng.choice(
            (
                "Stopped",
                "Stopped",
                "MaxRuntimeExceeded",
                "MaxWaitTimeExceeded" if spot else "Stopped",
            )
        )
        if last == "Stopped":
            steps.append(("Stopping", rng.uniform(5, 60)))
        steps.append((last, 0.0))
    return steps, reason


def _resource_config(rng: random.Random, keep_alive: bool, kms: str) -> Doc:
    cfg: Doc = {"VolumeSizeInGB": rng.choice((30, 50, 100, 200, 500))}
    if rng.random() < 0.1:
        cfg["InstanceGroups"] = [
            {
                "InstanceType": "ml.p4d.24xlarge",
                "InstanceCount": rng.randint(1, 4),
                "InstanceGroupName": "gpu-workers",
            },
            {
                "InstanceType": "ml.c5.4xlarge",
                "InstanceCount": rng.randint(1, 8),
                "InstanceGroupName": "data-loaders",
            },
        ]
    else:
        cfg["InstanceType"] = rng.choice(INSTANCE_TYPES)
        cfg["InstanceCount"] = rng.choice((1, 1, 1, 2, 4, 8))
    if rng.random() < 0.3:
        cfg["VolumeKmsKeyId"] = f"{kms}:key/1a2b3c4d-volume"
    if keep_alive:
        cfg["KeepAlivePeriodInSeconds"] = rng.choice((600, 1800, 3600))
    return cfg


def _rules(
    rng: random.Random, prefix: str, arn_base: str, name: str, done: bool, t: float
) -> list[Doc]:
    names = ("LossNotDecreasing", "Overfit") if prefix == "Debug" else ("ProfilerReport",)
    states = ("NoIssuesFound", "NoIssuesFound", "IssuesFound", "Error") if done else ("InProgress",)
    return [
        {
            "RuleConfigurationName": rule,
            "RuleEvaluationJobArn": f"{arn_base}:processing-job/{name[:40]}-{rule.lower()}",
            "RuleEvaluationStatus": rng.choice(states),
            "LastModifiedTime": _ts(t),
        }
        for rule in names
    ]


def make_job(
    index: int,
    seed: int,
    now: float,
    region: str,
    account_id: str,
    outcome: str,
    created: float | None = None,
) -> FakeJob:
    """One job; outcome is a TrainingJobStatus, or a secondary status for in-progress jobs."""
    rng = random.Random(seed * 1_000_003 + index)
    fam = FAMILIES[rng.randrange(len(FAMILIES))]
    spot = rng.random() < 0.3
    in_progress = outcome not in _TERMINAL
    steps, reason = _plan(rng, "Completed" if in_progress else outcome, spot)
    if in_progress:
        # cut the plan at the wanted current stage ("Stopping" is appended after Training)
        want = "Training" if outcome == "Stopping" else outcome
        cut = next((i for i, (s, _) in enumerate(steps) if s == want), 0)
        steps = steps[: cut + 1]
        if outcome == "Stopping":
            steps.append(("Stopping", 30.0))
    total = sum(d for _, d in steps)
    if created is None:
        age = (
            rng.uniform(total + 60, total + 6 * 3600)
            if in_progress
            else rng.uniform(total + 120, 7 * 86400)
        )
        created = now - age
    name = f"{fam.prefix}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(created))}-{index:05d}"
    arn_base = f"arn:aws:sagemaker:{region}:{account_id}"
    trans = _transitions(steps, created, open_last=in_progress)
    keep_alive = rng.random() < 0.15
    doc: Doc = {
        "TrainingJobName": name,
        "TrainingJobArn": f"{arn_base}:training-job/{name.lower()}",
        "ModelArtifacts": {
            "S3ModelArtifacts": f"s3://ml-artifacts-{account_id}/{name}/output/model.tar.gz"
        },
        "TrainingJobStatus": ("Stopping" if outcome == "Stopping" else "InProgress")
        if in_progress
        else outcome,
        "SecondaryStatus": steps[-1][0],
        "HyperParameters": {**dict(fam.hyper), "wandb_api_key": CANARY_SECRET},
        "AlgorithmSpecification": _algorithm(rng, fam, region, account_id),
        "RoleArn": f"arn:aws:iam::{account_id}:role/SageMakerExecutionRole-{rng.choice(TEAMS)}",
        "InputDataConfig": [
            {
                "ChannelName": ch,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://ml-data-{account_id}/{fam.prefix}/{ch}/",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": "text/csv",
                "CompressionType": "None",
                "RecordWrapperType": "None",
            }
            for ch in ("train", "validation")
        ],
        "OutputDataConfig": {
            "S3OutputPath": f"s3://ml-artifacts-{account_id}/",
            "CompressionType": "GZIP",
        },
        "ResourceConfig": _resource_config(rng, keep_alive, f"arn:aws:kms:{region}:{account_id}"),
        "StoppingCondition": {"MaxRuntimeInSeconds": rng.choice((86400, 172800, 432000))},
        "CreationTime": _ts(created),
        "LastModifiedTime": trans[-1]["StartTime"]
        if in_progress
        else _ts(created + total + rng.uniform(1, 30)),
        "SecondaryStatusTransitions": trans,
        "EnableNetworkIsolation": rng.random() < 0.2,
        "EnableInterContainerTrafficEncryption": rng.random() < 0.2,
        "EnableManagedSpotTraining": spot,
        "Environment": {"HF_TOKEN": CANARY_SECRET, "NCCL_DEBUG": "WARN"},
    }
    if rng.random() < 0.3:
        doc["OutputDataConfig"]["KmsKeyId"] = f"arn:aws:kms:{region}:{account_id}:key/out-key"
    if rng.random() < 0.1:
        doc["TuningJobArn"] = f"{arn_base}:hyper-parameter-tuning-job/{fam.prefix[:20]}-hpo"
    elif rng.random() < 0.03:
        doc["AutoMLJobArn"] = f"{arn_base}:automl-job/{fam.prefix[:20]}-automl"
    if rng.random() < 0.3:
        doc["VpcConfig"] = {
            "SecurityGroupIds": ["sg-0a1b2c3d4e5f"],
            "Subnets": ["subnet-0aa11bb22", "subnet-0cc33dd44"],
        }
    if spot:
        doc["StoppingCondition"]["MaxWaitTimeInSeconds"] = (
            2 * doc["StoppingCondition"]["MaxRuntimeInSeconds"]
        )
        doc["CheckpointConfig"] = {
            "S3Uri": f"s3://ml-artifacts-{account_id}/{name}/checkpoints",
            "LocalPath": "/opt/ml/checkpoints",
        }
    if rng.random() < 0.2:
        doc["StoppingCondition"]["MaxPendingTimeInSeconds"] = 7200
    if reason:
        doc["FailureReason"] = reason
    if len(trans) > 1 and trans[1]["Status"] not in _TERMINAL:  # started once Starting ended
        doc["TrainingStartTime"] = trans[1]["StartTime"]
    if not in_progress and "TrainingStartTime" in doc:
        finish(doc, trans[-1]["StartTime"], spot, rng, fam.metrics)
    elif in_progress and outcome == "Training" and rng.random() < 0.5:
        doc["FinalMetricDataList"] = _metrics(rng, fam.metrics, doc["LastModifiedTime"])
    if rng.random() < 0.2:
        doc["DebugHookConfig"] = {"S3OutputPath": f"s3://ml-artifacts-{account_id}/debug/"}
        doc["DebugRuleEvaluationStatuses"] = _rules(
            rng, "Debug", arn_base, name, not in_progress, doc["LastModifiedTime"]
        )
    if rng.random() < 0.2:
        doc["ProfilerConfig"] = {
            "S3OutputPath": f"s3://ml-artifacts-{account_id}/profiler/",
            "ProfilingIntervalInMilliseconds": 500,
        }
        doc["ProfilerRuleEvaluationStatuses"] = _rules(
            rng, "Profiler", arn_base, name, not in_progress, doc["LastModifiedTime"]
        )
        doc["ProfilingStatus"] = "Enabled"
    if rng.random() < 0.15:
        doc["RetryStrategy"] = {"MaximumRetryAttempts": rng.randint(1, 3)}
    if rng.random() < 0.1:
        doc["ExperimentConfig"] = {"ExperimentName": fam.prefix, "TrialName": f"{name}-trial"}
    doc["InfraCheckConfig"] = {"EnableInfraCheck": rng.random() < 0.1}
    doc["RemoteDebugConfig"] = {"EnableRemoteDebug": False}
    optional_fields(rng, doc, in_progress, outcome)
    return FakeJob(doc=doc, tags=_tags(rng, fam), spot=spot)


def _algorithm(rng: random.Random, fam: Family, region: str, account_id: str) -> Doc:
    spec: Doc = {
        "TrainingInputMode": rng.choice(("File", "File", "Pipe", "FastFile")),
        "MetricDefinitions": [{"Name": m, "Regex": f"{m}=([0-9\\.]+)"} for m in fam.metrics],
        "EnableSageMakerMetricsTimeSeries": rng.random() < 0.5,
    }
    if rng.random() < 0.05:  # Marketplace algorithm: a name, no image
        spec["AlgorithmName"] = f"arn:aws:sagemaker:{region}:865070037744:algorithm/autogluon"
    else:
        spec["TrainingImage"] = fam.image.format(region=region, account=account_id)
    return spec


def _metrics(rng: random.Random, names: tuple[str, ...], t: float) -> list[Doc]:
    return [
        {"MetricName": m, "Value": round(rng.uniform(0.05, 0.99), 6), "Timestamp": _ts(t)}
        for m in names
    ]


def _tags(rng: random.Random, fam: Family) -> list[dict[str, str]]:
    if rng.random() < 0.1:
        return []
    tags = [
        {"Key": "team", "Value": rng.choice(TEAMS)},
        {"Key": "project", "Value": fam.prefix.split("-", 1)[1]},
        {"Key": "env", "Value": rng.choice(("prod", "staging", "dev"))},
    ]
    if rng.random() < 0.5:
        tags.append({"Key": "cost-center", "Value": f"cc-{rng.randint(1000, 9999)}"})
    return tags


def finish(
    doc: Doc, end: float, spot: bool, rng: random.Random, metrics: tuple[str, ...] | None = None
) -> None:
    """Fill the fields a job gets when it ends (after training started)."""
    start = float(doc["TrainingStartTime"])
    doc["TrainingEndTime"] = _ts(end)
    training = max(1, int(end - start))
    doc["TrainingTimeInSeconds"] = training
    interrupted = sum(
        float(t.get("EndTime", end)) - float(t["StartTime"])
        for t in doc["SecondaryStatusTransitions"]
        if t["Status"] == "Interrupted"
    )
    billable = training - int(interrupted)
    if spot:  # spot capacity is billed at a discount folded into billable time
        billable = int(billable * rng.uniform(0.3, 0.9))
    doc["BillableTimeInSeconds"] = max(1, billable)
    if metrics is None:
        metrics = tuple(m["Name"] for m in doc["AlgorithmSpecification"]["MetricDefinitions"])
    if doc["TrainingJobStatus"] != "Failed" or rng.random() < 0.3:
        doc["FinalMetricDataList"] = _metrics(rng, metrics, end)
    keep_alive = doc["ResourceConfig"].get("KeepAlivePeriodInSeconds")
    if keep_alive:
        state = rng.choice(("Available", "Terminated", "Reused", "InUse"))
        retained = rng.randint(0, keep_alive)
        doc["WarmPoolStatus"] = {"Status": state, "ResourceRetainedBillableTimeInSeconds": retained}


# In-progress state machine: current secondary status -> next one (Training has branches).
_NEXT = {
    "Starting": "Downloading",
    "Downloading": "Training",
    "Interrupted": "Training",
    "Uploading": "Completed",
    "Stopping": "Stopped",
}


def advance(job: FakeJob, now: float, rng: random.Random) -> bool:
    """Move an in-progress job one secondary status forward; True once it has ended."""
    doc = job.doc
    current = str(doc["SecondaryStatus"])
    nxt = _NEXT.get(current)
    if current == "Training":
        roll = rng.random()
        nxt = (
            "Interrupted" if job.spot and roll < 0.15 else "Failed" if roll < 0.22 else "Uploading"
        )
    if nxt is None:  # an unexpected state: end it rather than loop forever
        nxt = "Stopped"
    now = max(now, float(doc["LastModifiedTime"]) + 0.001)
    trans = doc["SecondaryStatusTransitions"]
    trans[-1]["EndTime"] = _ts(now)
    trans.append({"Status": nxt, "StartTime": _ts(now), "StatusMessage": MESSAGES[nxt]})
    doc["SecondaryStatus"] = nxt
    doc["LastModifiedTime"] = _ts(now)
    if current == "Starting":
        doc["TrainingStartTime"] = _ts(now)
    ended = nxt in _TERMINAL
    if ended:
        trans[-1]["EndTime"] = _ts(now)
        doc["TrainingJobStatus"] = nxt
        if nxt == "Failed":
            doc["FailureReason"] = FAILURES[2][1]
        finish(doc, now, job.spot, rng)
        for key in ("DebugRuleEvaluationStatuses", "ProfilerRuleEvaluationStatuses"):
            for rule in doc.get(key, ()):
                rule["RuleEvaluationStatus"] = "NoIssuesFound"
                rule["LastModifiedTime"] = _ts(now)
    job.touch()
    return ended


def summary(doc: Doc) -> Doc:
    """The ListTrainingJobs view of a job."""
    out = {
        k: doc[k]
        for k in (
            "TrainingJobName",
            "TrainingJobArn",
            "CreationTime",
            "LastModifiedTime",
            "TrainingJobStatus",
            "SecondaryStatus",
        )
    }
    for k in ("TrainingEndTime", "WarmPoolStatus"):
        if k in doc:
            out[k] = doc[k]
    return out


def generate(
    count: int, in_progress: int, seed: int, now: float, region: str, account_id: str
) -> list[FakeJob]:
    """count jobs, in_progress of them running; sorted by CreationTime ascending."""
    if not 0 <= in_progress <= count:
        raise ValueError("in_progress must be between 0 and count")
    rng = random.Random(seed)
    running = set(rng.sample(range(count), in_progress))
    jobs = []
    for i in range(count):
        if i in running:
            outcome = rng.choices(
                ("Starting", "Downloading", "Training", "Uploading", "Stopping"),
                weights=(15, 10, 65, 8, 2),
            )[0]
        else:
            outcome = rng.choices(("Completed", "Failed", "Stopped"), weights=(80, 12, 8))[0]
        jobs.append(make_job(i, seed, now, region, account_id, outcome))
    jobs.sort(key=lambda j: (j.doc["CreationTime"], j.name))
    return jobs
