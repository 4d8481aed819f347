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
