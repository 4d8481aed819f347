"""Training jobs for store and scrape tests: two targets' render contexts and a job whose
samples change with every draw."""

from __future__ import annotations

import random

from exporter.metrics.family import RenderContext
from exporter.model import FinalMetric, InstanceGroup, RuleStatus, TrainingJob, Transition

CTXS = {
    t: RenderContext("us-east-1", acct, 1_800_000_000.0, ("team",))
    for t, acct in (("a", "111111111111"), ("b", "222222222222"))
}


def rich(name: str, status: str, rng: random.Random) -> TrainingJob:
    """A job whose samples change with every draw, in most families."""
    return TrainingJob(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:1:training-job/{name}",
        status=status,
        secondary_status=rng.choice(["Training", "Uploading", "Completed"]),
        failure_reason="AlgorithmError: boom" if status == "Failed" else "",
        training_image="1.dkr.ecr.us-east-1.amazonaws.com/img:1",
        instance_type="ml.m5.xlarge",
        instance_groups=(InstanceGroup("", "ml.m5.xlarge", rng.randint(1, 4)),),
        created=1.0,
        training_start=2.0 + rng.random(),
        last_modified=3.0,
        training_end=None if status in ("InProgress", "Stopping") else 50.0,
        transitions=(Transition("Starting", 1.0, 2.0), Transition("Training", 2.0, None)),
        final_metrics=(FinalMetric("validation:auc", rng.random(), 40.0),),
        rules=(RuleStatus("LossNotDecreasing", "debugger", "NoIssuesFound"),),
        tags=(("team", rng.choice(["x", "y"])),),
    )
