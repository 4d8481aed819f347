"""Static vocabulary of the simulated fleet: workloads, instance types, messages, reasons.

Pure data, no moto. Status messages and failure reasons follow the wording SageMaker uses
(see the seeds: DescribeTrainingJob's SecondaryStatusTransitions documentation).
"""

from __future__ import annotations

from dataclasses import dataclass

# The value planted in every job's HyperParameters and Environment: the exporter must never
# show it (tests grep /metrics and logs for it).
SECRET_CANARY = "DEMO-SECRET-CANARY"

# Tag key carrying the scenario name, so a demo user (and the tests) can tell why a job
# behaves as it does.
SCENARIO_TAG = "demo-scenario"

MSG_LAUNCHING = "Launching requested ML instances"
MSG_CAPACITY = "Insufficient capacity error from EC2 while launching instances, retrying!"
MSG_PREPARING = "Preparing the instances for training"
MSG_DOWNLOADING = "Downloading input data"
MSG_IMAGE = "Downloading the training image"
MSG_TRAINING = "Training image download completed. Training in progress."
MSG_INTERRUPTED = "Spot instances were interrupted by EC2, waiting for capacity to resume"
MSG_RESUMED = "Spot capacity available again. Training resumed from the last checkpoint."
MSG_UPLOADING = "Uploading generated training model"
MSG_STOPPING = "Stopping the training job"
MSG_COMPLETED = "Training job completed"
MSG_FAILED = "Training job failed"
MSG_STOPPED = "Training job stopped"
MSG_MAX_RUNTIME = "Training job exceeded MaxRuntimeInSeconds provided"
MSG_MAX_WAIT = "Training job exceeded MaxWaitTimeInSeconds provided"

CLIENT_ERRORS = (
    "ClientError: Data download failed:Please ensure that the S3 prefix "
    "s3://demo-ml-data/{team}/train/ contains data for channel 'train'",
    "ClientError: Please ensure that the role arn:aws:iam::{account}:role/sagemaker-{team} "
    "has s3:GetObject permission on the input data",
    "ClientError: Artifact upload failed:Insufficient disk space on the training volume",
)
ALGORITHM_ERRORS = (
    'AlgorithmError: ExecuteUserScriptError: Command "/usr/local/bin/python3.10 train.py" '
    "exited with code 1: torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate "
    "2.00 GiB",
    "AlgorithmError: framework error: ValueError: Input contains NaN, infinity or a value too "
    "large for dtype('float32').",
    "AlgorithmError: ExecuteUserScriptError: NCCL error in ProcessGroupNCCL.cpp: unhandled "
    "system error, worker 3 lost connection",
)
# One shared cause for a burst of failures: a corrupt validation shard that every trial of a
# hyperparameter sweep reads at the end of its first epoch.
DATA_BUG_ERROR = (
    "AlgorithmError: ExecuteUserScriptError: ValueError: could not convert string to float: "
    "'N/A' (s3://demo-ml-{account}-{region}/{team}/validation/part-00017.csv, line 48213)"
)
CAPACITY_ERRORS = (
    "CapacityError: Unable to provision requested ML compute capacity. Please retry using a "
    "different ML instance type.",
    "CapacityError: Insufficient capacity for {instance_type} in the requested Availability "
    "Zones. Please retry later.",
)


@dataclass(frozen=True)
class Metric:
    name: str
    first: float  # value at the first emission
    last: float  # value reached at the end of training


@dataclass(frozen=True)
class Workload:
    team: str
    project: str
    model: str
    image: str  # "{region}" is substituted
    input_mode: str
    instance_types: tuple[str, ...]
    metrics: tuple[Metric, ...]
    hyper_parameters: tuple[tuple[str, str], ...]
    algorithm_name: str | None = None  # marketplace algorithm instead of an image


_ECR = "763104351884.dkr.ecr.{region}.amazonaws.com"

WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "recsys",
        "ctr-ranking",
        "xgb-ctr",
        "683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-xgboost:1.7-1",
        "File",
        ("ml.m5.xlarge", "ml.c5.4xlarge"),
        (
            Metric("train:loss", 0.69, 0.21),
            Metric("validation:auc", 0.61, 0.93),
            Metric("validation:accuracy", 0.57, 0.89),
        ),
        (
            ("max_depth", "8"),
            ("eta", "0.2"),
            ("num_round", "400"),
            ("objective", "binary:logistic"),
        ),
    ),
    Workload(
        "vision",
        "defect-detection",
        "resnet50-finetune",
        _ECR + "/pytorch-training:2.3.0-gpu-py311-cu121-ubuntu20.04-sagemaker",
        "FastFile",
        ("ml.g5.2xlarge", "ml.g5.12xlarge", "ml.p3.2xlarge"),
        (Metric("train:loss", 2.3, 0.18), Metric("validation:accuracy", 0.12, 0.94)),
        (("epochs", "30"), ("lr", "0.0003"), ("batch_size", "64")),
    ),
    Workload(
        "nlp",
        "support-assistant",
        "llama-8b-sft",
        _ECR + "/huggingface-pytorch-training:2.1.0-transformers4.36.0-gpu-py310-cu121",
        "File",
        ("ml.p4d.24xlarge", "ml.trn1.32xlarge", "ml.g5.12xlarge"),
        (Metric("train:loss", 2.9, 1.05), Metric("validation:loss", 3.0, 1.31)),
        (("epochs", "3"), ("learning_rate", "2e-5"), ("lora_r", "16")),
    ),
    Workload(
        "forecasting",
        "demand-planning",
        "deepar-demand",
        "522234722520.dkr.ecr.{region}.amazonaws.com/forecasting-deepar:1",
        "Pipe",
        ("ml.c5.4xlarge", "ml.m5.xlarge"),
        (Metric("train:loss", 1.9, 0.62), Metric("validation:accuracy", 0.41, 0.83)),
        (("context_length", "72"), ("prediction_length", "24"), ("epochs", "200")),
    ),
    Workload(
        "risk",
        "fraud-scoring",
        "tabular-gbm",
        "",
        "File",
        ("ml.m5.xlarge", "ml.c5.4xlarge"),
        (Metric("train:loss", 0.52, 0.11), Metric("validation:auc", 0.7, 0.97)),
        (("num_boost_round", "600"), ("learning_rate", "0.05")),
        algorithm_name="arn:aws:sagemaker:{region}:{account}:algorithm/fraud-gbm-v4",
    ),
)

DEBUG_RULES = ("LossNotDecreasing", "VanishingGradient", "Overfit")
PROFILER_RULE = "ProfilerReport"
RULE_IMAGE = "503895931360.dkr.ecr.{region}.amazonaws.com/sagemaker-debugger-rules:latest"
