"""Optional fields of generated jobs (ProgressInfo, MLflow, reserved capacity), kept apart
from the generator so data.py stays one concern."""

from __future__ import annotations

import random
from typing import Any

Doc = dict[str, Any]


def optional_fields(rng: random.Random, doc: Doc, in_progress: bool, outcome: str) -> None:
    """ProgressInfo, MLflow, reserved capacity: drawn after everything else, so every field
    above stays what it was for a given seed."""
    reports = (in_progress and outcome == "Training") or doc["TrainingJobStatus"] == "Completed"
    if reports and rng.random() < 0.5:
        max_epoch, per = rng.choice((3, 10, 30)), rng.choice((500, 1200))
        done = rng.random() if in_progress else 1.0
        epoch, step = divmod(int(done * max_epoch * per), per)
        doc["ProgressInfo"] = {
            "CurrentEpoch": epoch,
            "MaxEpoch": max_epoch,
            "CurrentStep": step,
            "TotalStepCountPerEpoch": per,
        }
    if rng.random() < 0.1:
        doc["MlflowDetails"] = {
            "MlflowExperimentId": str(rng.randint(1, 40)),
            "MlflowRunId": f"{rng.getrandbits(64):016x}",
        }
    if rng.random() < 0.05:
        arn = doc["TrainingJobArn"].split(":training-job/")[0]
        doc["ResourceConfig"]["TrainingPlanArn"] = f"{arn}:training-plan/reserved-gpus"
