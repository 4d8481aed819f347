"""The training-job model: what the exporter keeps of a DescribeTrainingJob response.

Plain frozen dataclasses with no boto types, so that parsing and rendering are pure and
testable without a network. Times are float epoch seconds. Every optional field may be
absent (None or empty): a job that failed in Starting has no start time, no billable time.
HyperParameters and Environment are deliberately not part of the model: they may hold
secrets, and what is never kept can never leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class JobStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


#: The one-hot state set of `sagemaker_training_job_status`, in exposition order.
KNOWN_STATUSES: tuple[str, ...] = tuple(s.value for s in JobStatus)
TERMINAL_STATUSES: frozenset[str] = frozenset({"Completed", "Failed", "Stopped"})
#: Statuses in which the job still consumes time (elapsed values count up to the poll).
ACTIVE_STATUSES: frozenset[str] = frozenset({"InProgress", "Stopping"})


@dataclass(frozen=True, slots=True)
class Transition:
    # StatusMessage is not kept: nothing exports it, and at thousands of jobs the text adds up.
    status: str
    start: float | None
    end: float | None


@dataclass(frozen=True, slots=True)
class InstanceGroup:
    name: str  # "" for a job without instance groups
    instance_type: str
    count: int


@dataclass(frozen=True, slots=True)
class FinalMetric:
    name: str
    value: float
    timestamp: float | None


@dataclass(frozen=True, slots=True)
class RuleStatus:
    rule: str
    rule_type: str  # "debugger" or "profiler"
    status: str


@dataclass(frozen=True, slots=True)
class Progress:
    """ProgressInfo (serverless training jobs); each field may be absent."""

    epoch: float | None = None
    max_epochs: float | None = None
    step: float | None = None
    steps_per_epoch: float | None = None


@dataclass(frozen=True, slots=True)
class TrainingJob:
    name: str
    arn: str = ""
    status: str = ""
    secondary_status: str = ""
    failure_reason: str = ""
    tuning_job_arn: str = ""
    automl_job_arn: str = ""
    training_image: str = ""
    algorithm_name: str = ""
    input_mode: str = ""
    instance_type: str = ""  # ResourceConfig.InstanceType, or the groups' types joined by ","
    instance_groups: tuple[InstanceGroup, ...] = ()
    volume_size_gb: float | None = None
    volume_kms: bool = False
    output_kms: bool = False
    vpc: bool = False
    network_isolation: bool = False
    inter_container_encryption: bool = False
    #: None: not known yet (a state-change event carries no EnableManagedSpotTraining).
    managed_spot: bool | None = False
    max_runtime_seconds: float | None = None
    max_wait_seconds: float | None = None
    max_pending_seconds: float | None = None
    created: float | None = None
    training_start: float | None = None
    training_end: float | None = None
    last_modified: float | None = None
    training_time_seconds: float | None = None
    billable_time_seconds: float | None = None
    transitions: tuple[Transition, ...] = ()
    final_metrics: tuple[FinalMetric, ...] = ()
    rules: tuple[RuleStatus, ...] = ()
    warm_pool_status: str = ""
    warm_pool_retained_billable_seconds: float | None = None
    tags: tuple[tuple[str, str], ...] = field(default=())
    # Fields read since issue 12 (cost, progress, reserved capacity, retries, MLflow).
    progress: Progress | None = None
    training_plan_arn: str = ""
    max_retry_attempts: float | None = None
    keep_alive_seconds: float | None = None
    billable_token_count: float | None = None
    mlflow_experiment_id: str = ""
    mlflow_run_id: str = ""

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def total_instances(self) -> int:
        return sum(g.count for g in self.instance_groups)

    @property
    def finished_at(self) -> float | None:
        """When the job ended, for retention: the end time, else the last change."""
        if not self.is_terminal:
            return None
        return self.training_end or self.last_modified or self.created


@dataclass(frozen=True, slots=True)
class JobSummary:
    """One row of ListTrainingJobs: enough to tell whether a job changed."""

    name: str
    status: str
    secondary_status: str
    last_modified: float | None
    created: float | None
    training_end: float | None

    @property
    def change_key(self) -> tuple[str, str, float | None]:
        return (self.status, self.secondary_status, self.last_modified)


@dataclass(frozen=True, slots=True)
class Target:
    """One (account, region) the exporter polls."""

    region: str
    role_arn: str | None = None
    external_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.role_arn or 'default'}@{self.region}"


@dataclass(frozen=True, slots=True)
class TuningJob:
    """A hyperparameter tuning job: a ListHyperParameterTuningJobs summary, plus what only
    DescribeHyperParameterTuningJob says (best training job, objective)."""

    name: str
    arn: str = ""
    status: str = ""
    strategy: str = ""
    created: float | None = None
    last_modified: float | None = None
    ended: float | None = None
    #: TrainingJobStatusCounters and ObjectiveStatusCounters as (status, count) pairs.
    training_jobs: tuple[tuple[str, float], ...] = ()
    objectives: tuple[tuple[str, float], ...] = ()
    max_training_jobs: float | None = None
    max_parallel_training_jobs: float | None = None
    max_runtime_seconds: float | None = None
    # From Describe only:
    objective_metric: str = ""
    objective_type: str = ""  # Minimize or Maximize
    best_training_job: str = ""
    best_objective_value: float | None = None
    consumed_runtime_seconds: float | None = None

    @property
    def change_key(self) -> tuple[str, float | None, tuple[tuple[str, float], ...]]:
        return (self.status, self.last_modified, self.training_jobs + self.objectives)

    @property
    def is_terminal(self) -> bool:
        return self.status in TUNING_TERMINAL_STATUSES

    @property
    def is_active(self) -> bool:
        """Not finished: re-listed by the reconcile, kept in the store's hot segments."""
        return not self.is_terminal

    @property
    def finished_at(self) -> float | None:
        if not self.is_terminal:
            return None
        return self.ended or self.last_modified or self.created


TUNING_STATUSES: tuple[str, ...] = (
    "InProgress",
    "Completed",
    "Failed",
    "Stopping",
    "Stopped",
    "Deleting",
    "DeleteFailed",
)
TUNING_TERMINAL_STATUSES: frozenset[str] = frozenset({"Completed", "Failed", "Stopped"})
TUNING_TRAINING_JOB_COUNTERS: tuple[str, ...] = (
    "Completed",
    "InProgress",
    "RetryableError",
    "NonRetryableError",
    "Stopped",
)
TUNING_OBJECTIVE_COUNTERS: tuple[str, ...] = ("Succeeded", "Pending", "Failed")
