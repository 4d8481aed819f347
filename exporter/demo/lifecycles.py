"""Scenario lifecycles: the steps a job goes through and how it ends.

Durations are nominal (what a real job takes) times `scale` (real seconds per nominal second:
1/speed for live jobs, 1 for jobs that finished before the demo started). Scenarios whose
point is a long wall-clock wait (stuck in Starting, close to a limit, stalled metrics) are
backdated: they report an `age`, the real seconds between their CreationTime and now, so the
alert-worthy condition holds from the first poll without anyone waiting for it. The sweep
trials are backdated too, and end a fixed number of real seconds after the demo starts
whatever its speed, so a poller watches the whole burst end.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from exporter.demo import catalog as c
from exporter.demo.plan import INTERRUPTED, STARTING, STOPPING, TRAINING, Outcome, Step

MIN = 60.0
HOUR = 3600.0

SCENARIOS = (
    "completed",
    "failed-client",
    "failed-algorithm",
    "failed-capacity",
    "capacity-wait",
    "spot-completed",
    "spot-max-wait",
    "max-runtime",
    "near-max-runtime",
    "stalled",
    "user-stopped",
    "tuning-trial",
    "sweep-trial",
    "sweep-data-bug",
)


@dataclass(frozen=True)
class Life:
    steps: tuple[Step, ...]
    outcome: Outcome
    age: float = 0.0  # real seconds from CreationTime to now for a live job
    spot: bool = False
    max_runtime: int = 86400
    max_wait: int | None = None
    metric_interval: float | None = None  # None: 5 nominal minutes
    metric_freeze: float | None = None


@dataclass(frozen=True)
class Ctx:
    rng: random.Random
    scale: float
    reason_fmt: dict[str, str]  # substitutions for failure reasons (team, account, ...)

    def n(self, lo_min: float, hi_min: float) -> float:
        """A nominal duration in minutes, returned as scaled real seconds."""
        return self.rng.uniform(lo_min, hi_min) * MIN * self.scale

    def reason(self, choices: tuple[str, ...]) -> str:
        return self.rng.choice(choices).format(**self.reason_fmt)


def _start(x: Ctx) -> list[Step]:
    return [
        Step(STARTING, x.n(0.5, 2), c.MSG_LAUNCHING),
        Step(STARTING, x.n(1, 3), c.MSG_PREPARING),
        Step("Downloading", x.n(1, 5), c.MSG_DOWNLOADING),
        Step(TRAINING, x.n(0.5, 2), c.MSG_IMAGE),
    ]


def _train(x: Ctx, lo: float = 20, hi: float = 120) -> list[Step]:
    return [Step(TRAINING, x.n(lo, hi), c.MSG_TRAINING)]


def _finish(x: Ctx) -> list[Step]:
    return [Step("Uploading", x.n(1, 3), c.MSG_UPLOADING)]


def _stopping(x: Ctx) -> Step:
    return Step(STOPPING, x.n(1, 4), c.MSG_STOPPING)


DONE = Outcome("Completed", "Completed", c.MSG_COMPLETED)
STOPPED = Outcome("Stopped", "Stopped", c.MSG_STOPPED)


def _failed(reason: str) -> Outcome:
    return Outcome("Failed", "Failed", c.MSG_FAILED, reason)


def completed(x: Ctx) -> Life:
    return Life((*_start(x), *_train(x), *_finish(x)), DONE)


def failed_client(x: Ctx) -> Life:
    steps = [*_start(x)][:3]  # dies while downloading its input
    return Life(tuple(steps), _failed(x.reason(c.CLIENT_ERRORS)))


def failed_algorithm(x: Ctx) -> Life:
    return Life((*_start(x), *_train(x, 5, 60)), _failed(x.reason(c.ALGORITHM_ERRORS)))


def failed_capacity(x: Ctx) -> Life:
    steps = (
        Step(STARTING, x.n(0.5, 2), c.MSG_LAUNCHING),
        Step(STARTING, x.n(5, 20), c.MSG_CAPACITY),
    )
    return Life(steps, _failed(x.reason(c.CAPACITY_ERRORS)))


def capacity_wait(x: Ctx) -> Life:
    """Stuck in Starting on EC2 capacity for over 30 real minutes, then gives up or proceeds."""
    launch = x.rng.uniform(1, 3) * MIN
    waited = x.rng.uniform(31, 50) * MIN
    hold = x.n(180, 360)
    steps = [
        Step(STARTING, launch, c.MSG_LAUNCHING),
        Step(STARTING, waited - launch + hold, c.MSG_CAPACITY),
    ]
    if x.rng.random() < 0.5:
        return Life(tuple(steps), _failed(x.reason(c.CAPACITY_ERRORS)), age=waited)
    rest = _start(x)[1:]
    return Life((*steps, *rest, *_train(x), *_finish(x)), DONE, age=waited)


def _spot_training(x: Ctx, chunks: int) -> list[Step]:
    out = [Step(TRAINING, x.n(10, 40), c.MSG_TRAINING)]
    for _ in range(chunks - 1):
        out += [
            Step(INTERRUPTED, x.n(5, 30), c.MSG_INTERRUPTED),
            Step(TRAINING, x.n(10, 40), c.MSG_RESUMED),
        ]
    return out


def spot_completed(x: Ctx) -> Life:
    steps = (*_start(x), *_spot_training(x, x.rng.choice((2, 3))), *_finish(x))
    return Life(steps, DONE, spot=True, max_runtime=int(6 * HOUR), max_wait=int(12 * HOUR))


def spot_max_wait(x: Ctx) -> Life:
    """Spot job that spends so long Interrupted that MaxWaitTimeInSeconds stops it."""
    runtime = int(x.rng.choice((2, 3, 4)) * HOUR)
    wait = runtime + int(x.rng.choice((2, 4)) * HOUR)
    head = [
        Step(STARTING, 4 * MIN, c.MSG_PREPARING),
        Step("Downloading", 3 * MIN, c.MSG_DOWNLOADING),
        Step(TRAINING, 0.4 * runtime, c.MSG_TRAINING),
        Step(INTERRUPTED, 0.3 * (wait - runtime), c.MSG_INTERRUPTED),
        Step(TRAINING, 0.3 * runtime, c.MSG_RESUMED),
    ]
    used = sum(s.seconds for s in head)
    remaining = min(x.n(30, 120), 0.05 * wait)
    steps = (*head, Step(INTERRUPTED, wait - used, c.MSG_INTERRUPTED), _stopping(x))
    outcome = Outcome("Stopped", "MaxWaitTimeExceeded", c.MSG_MAX_WAIT)
    return Life(steps, outcome, age=wait - remaining, spot=True, max_runtime=runtime, max_wait=wait)


def _limit_head(x: Ctx, runtime: float, end_frac: float) -> tuple[list[Step], float]:
    """Starting/Downloading, then Training up to `end_frac` of MaxRuntime after it began."""
    starting, downloading = x.rng.uniform(3, 8) * MIN, x.rng.uniform(2, 10) * MIN
    steps = [
        Step(STARTING, starting, c.MSG_PREPARING),
        Step("Downloading", downloading, c.MSG_DOWNLOADING),
        Step(TRAINING, end_frac * runtime - downloading, c.MSG_TRAINING),
    ]
    return steps, starting


def max_runtime(x: Ctx) -> Life:
    runtime = x.rng.choice((4, 8, 12, 24)) * HOUR
    steps, starting = _limit_head(x, runtime, 1.0)
    remaining = min(x.n(60, 240), 0.08 * runtime)
    outcome = Outcome("Stopped", "MaxRuntimeExceeded", c.MSG_MAX_RUNTIME)
    return Life(
        (*steps, _stopping(x)),
        outcome,
        age=starting + runtime - remaining,
        max_runtime=int(runtime),
    )


def near_max_runtime(x: Ctx) -> Life:
    """Completes at 94-98% of MaxRuntimeInSeconds; above 90% for its whole visible life.

    A day or more of training: on 8 instances that is well over the per-job budget alert's
    100 instance-hours.
    """
    runtime = x.rng.choice((24, 48)) * HOUR
    end_frac = x.rng.uniform(0.94, 0.98)
    steps, starting = _limit_head(x, runtime, end_frac)
    remaining = min(x.n(120, 300), (end_frac - 0.905) * runtime)
    return Life(
        (*steps, *_finish(x)),
        DONE,
        age=starting + end_frac * runtime - remaining,
        max_runtime=int(runtime),
    )


def stalled(x: Ctx) -> Life:
    """Training for 1.5-2 h whose metrics stopped 62-80 real minutes ago (the stall alert
    wants both over an hour); eventually stopped by its owner."""
    image = 2 * MIN
    trained = x.rng.uniform(90, 120) * MIN
    stale = x.rng.uniform(62, 80) * MIN
    # Long enough (12-18 real minutes at the default speed) to outlast the alert's `for: 10m`.
    hold = x.n(360, 540)
    head = [
        Step(STARTING, 4 * MIN, c.MSG_PREPARING),
        Step("Downloading", 3 * MIN, c.MSG_DOWNLOADING),
        Step(TRAINING, image, c.MSG_IMAGE),
        Step(TRAINING, trained + hold, c.MSG_TRAINING),
    ]
    return Life(
        (*head, _stopping(x)),
        STOPPED,
        age=9 * MIN + trained,
        metric_interval=60.0,
        metric_freeze=image + trained - stale,
    )


def user_stopped(x: Ctx) -> Life:
    return Life((*_start(x), *_train(x, 10, 40), _stopping(x)), STOPPED)


def tuning_trial(x: Ctx) -> Life:
    roll = x.rng.random()
    if roll < 0.15:
        return failed_algorithm(x)
    if roll < 0.3:  # the tuner's early stopping
        return Life((*_start(x), *_train(x, 5, 20), _stopping(x)), STOPPED)
    return Life((*_start(x), *_train(x, 15, 45), *_finish(x)), DONE)


# Real seconds after the demo starts within which the sweep's trials end: after the exporter
# has polled them running and Prometheus has scraped its counter at least once (the shipped
# config scrapes every 30 s), so increase() sees every end; early enough that the failure-rate
# alert can fire within the first minutes.
SWEEP_ENDS = (35.0, 65.0)


def _sweep(x: Ctx, upload: float) -> tuple[list[Step], float]:
    """A trial of a sweep launched 33-35 real minutes ago, Training until `upload` real
    seconds before it ends; durations are real whatever the speed. Returns steps and age."""
    age = x.rng.uniform(33, 35) * MIN
    ends_in = x.rng.uniform(*SWEEP_ENDS)
    starting, downloading = x.rng.uniform(2, 4) * MIN, x.rng.uniform(1, 3) * MIN
    image = x.rng.uniform(0.5, 1) * MIN
    training = age + ends_in - starting - downloading - image - upload
    steps = [
        Step(STARTING, starting, c.MSG_PREPARING),
        Step("Downloading", downloading, c.MSG_DOWNLOADING),
        Step(TRAINING, image, c.MSG_IMAGE),
        Step(TRAINING, training, c.MSG_TRAINING),
    ]
    return steps, age


def sweep_trial(x: Ctx) -> Life:
    """A trial of the sweep that never reads the corrupt shard: completes in the burst."""
    upload = x.rng.uniform(5, 15)
    steps, age = _sweep(x, upload)
    return Life(
        (*steps, Step("Uploading", upload, c.MSG_UPLOADING)), DONE, age=age, metric_interval=MIN
    )


def sweep_data_bug(x: Ctx) -> Life:
    """A trial of the same sweep that hits the corrupt validation shard and fails."""
    steps, age = _sweep(x, 0.0)
    return Life(
        tuple(steps), _failed(c.DATA_BUG_ERROR.format(**x.reason_fmt)), age=age, metric_interval=MIN
    )


BUILDERS: dict[str, Callable[[Ctx], Life]] = {
    "completed": completed,
    "failed-client": failed_client,
    "failed-algorithm": failed_algorithm,
    "failed-capacity": failed_capacity,
    "capacity-wait": capacity_wait,
    "spot-completed": spot_completed,
    "spot-max-wait": spot_max_wait,
    "max-runtime": max_runtime,
    "near-max-runtime": near_max_runtime,
    "stalled": stalled,
    "user-stopped": user_stopped,
    "tuning-trial": tuning_trial,
    "sweep-trial": sweep_trial,
    "sweep-data-bug": sweep_data_bug,
}
assert tuple(BUILDERS) == SCENARIOS

# Relative frequency of live arrivals. Backdated scenarios are rare: each lives several real
# minutes and would otherwise crowd the fleet. The sweep is only in the initial fleet.
ARRIVAL_WEIGHTS: dict[str, float] = {
    "completed": 34,
    "failed-client": 4,
    "failed-algorithm": 5,
    "failed-capacity": 3,
    "capacity-wait": 1.5,
    "spot-completed": 10,
    "spot-max-wait": 1,
    "max-runtime": 1,
    "near-max-runtime": 1,
    "stalled": 0.5,
    "user-stopped": 5,
    "tuning-trial": 14,
}
