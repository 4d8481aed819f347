"""Family names more than one test module checks."""

from __future__ import annotations

J = "sagemaker_training_job_"

#: The cost, progress, retry and MLflow families of a training job (the fields AWS added for
#: ProgressInfo, billable tokens, retries and MLflow, and the price-based cost).
PROGRESS_AND_COST_FAMILIES = {
    J + name
    for name in (
        "estimated_cost_dollars",
        "hourly_cost_dollars",
        "billable_tokens",
        "progress_epoch",
        "progress_max_epochs",
        "progress_step",
        "progress_steps_per_epoch",
        "progress_ratio",
        "max_retry_attempts",
        "retries",
        "keep_alive_period_seconds",
        "mlflow_info",
    )
}

#: What a finished training job keeps at the default --finished-series lean: what the shipped
#: alerts, recording rules and dashboards read of a finished job (what failed and why, what
#: it cost, how long each phase took, on what, its final metrics), each only where the job
#: has it. README "What a finished job keeps" says the same.
LEAN_FINISHED_FAMILIES = {
    J + name
    for name in (
        "info",
        "status",
        "secondary_status",
        "phase_duration_seconds",
        "training_end_timestamp_seconds",
        "last_modified_timestamp_seconds",  # only without a TrainingEndTime
        "training_seconds",
        "billable_seconds",
        "spot_savings_ratio",
        "instances",
        "final_metric",
        "failure_info",
        "rule_evaluation_status",
        "warm_pool_status",
        "warm_pool_retained_billable_seconds",
        "tags",
        "interruptions",  # only when there were some
        "estimated_cost_dollars",
        "billable_tokens",
        "keep_alive_period_seconds",
        "mlflow_info",
    )
}
