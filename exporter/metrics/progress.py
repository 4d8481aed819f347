"""Pure helpers for the families read since issue 12: progress and retries."""

from __future__ import annotations

from exporter.model import Progress, TrainingJob


def progress_ratio(p: Progress | None) -> float | None:
    """How far along a job is, 0..1, where ProgressInfo allows it; else None.

    AWS documents CurrentEpoch and CurrentStep only as "the current epoch/step number". We
    read CurrentEpoch as epochs completed, and CurrentStep as the step within the current
    epoch while it is at most TotalStepCountPerEpoch, else as the global step count. Without
    MaxEpoch there is no ratio.
    """
    if p is None or not p.max_epochs or p.max_epochs <= 0:
        return None
    per = p.steps_per_epoch
    if p.step is not None and per and per > 0:
        done = p.step / per if p.step > per else (p.epoch or 0.0) + p.step / per
    elif p.epoch is not None:
        done = p.epoch
    else:
        return None
    return min(1.0, max(0.0, done / p.max_epochs))


def retries_seen(job: TrainingJob) -> int:
    """Times the job went back to Starting: SageMaker's RetryStrategy restarts a job after an
    InternalServerError that way. A return to Starting after a spot interruption is the
    spot resume, not a retry, and is counted as an interruption instead."""
    retries, prev = 0, ""
    for i, t in enumerate(job.transitions):
        if t.status == "Starting" and i > 0 and prev != "Interrupted":
            retries += 1
        prev = t.status
    return retries
