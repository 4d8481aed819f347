"""The fleet present when the demo starts: every status and every showcase case at once.

The first poll after start() sees InProgress, Completed, Failed, Stopping and Stopped jobs,
every terminal flavour finished recently, one job finished more than 24 h ago (so retention
drops it), and the backdated live cases that alerts need. Showcase jobs are spread
round-robin over the targets, so both regions and both accounts get a mix.

One target also runs a hyperparameter sweep whose trials all end 35-65 real seconds after the
start, most of them on the same corrupt data shard: a burst of failures in one account and
region, watched as it happens, for the fleet failure-rate alert.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from exporter.demo.jobs import LIVE, Features, Placement
from exporter.demo.lifecycles import HOUR, MIN

SWEEP_TRIALS = 14


@dataclass(frozen=True)
class Seeded:
    target: int  # index into the environment's targets
    scenario: str
    placement: Placement
    features: Features


def _ended(rng: random.Random, lo_min: float, hi_min: float) -> Placement:
    return Placement("ended", rng.uniform(lo_min, hi_min) * MIN)


def initial_fleet(rng: random.Random, n_targets: int) -> list[Seeded]:
    f = Features
    showcase: list[tuple[str, Placement, Features]] = [
        (
            "completed",
            Placement("ended", rng.uniform(26, 40) * HOUR),
            f(layout="single", instance="ml.m5.xlarge"),
        ),
        (
            "completed",
            _ended(rng, 2, 6),
            f(warm_pool="terminated", layout="single", instance="ml.g5.2xlarge"),
        ),
        ("failed-client", _ended(rng, 20, 90), f(vpc=True, kms=True, workload="tabular-gbm")),
        (
            "failed-algorithm",
            _ended(rng, 30, 120),
            f(debug_issues=True, layout="multi", instance="ml.g5.12xlarge"),
        ),
        ("failed-capacity", _ended(rng, 15, 60), f(layout="multi")),
        ("user-stopped", _ended(rng, 60, 240), f()),
        ("max-runtime", _ended(rng, 60, 360), f(layout="groups")),
        ("spot-max-wait", _ended(rng, 60, 360), f(layout="single")),
        ("spot-completed", _ended(rng, 30, 180), f(profiler=True, debug_issues=False)),
        ("completed", _ended(rng, 60, 180), f(warm_pool="reused", isolation=True)),
        ("completed", _ended(rng, 120, 300), f(warm_pool="terminated", automl=True)),
        ("capacity-wait", LIVE, f(layout="multi", instance="ml.p4d.24xlarge")),
        (
            "stalled",
            LIVE,
            f(layout="multi", debug_issues=True, instance="ml.p4d.24xlarge", encryption=True),
        ),
        # 8 instances for about a day: also over the per-job instance-hour budget.
        (
            "near-max-runtime",
            LIVE,
            f(profiler=True, kms=True, instance="ml.trn1.32xlarge", layout="multi", instances=8),
        ),
        ("max-runtime", LIVE, f(vpc=True, isolation=True, instance="ml.c5.4xlarge")),
        ("spot-max-wait", LIVE, f()),
        ("spot-completed", Placement("step", 0.0, "Interrupted"), f()),
        # realtime: its Stopping step lasts real minutes, so the first poll surely sees it.
        ("user-stopped", Placement("step", 2.0, "Stopping", realtime=True), f()),
        (
            "completed",
            Placement("progress", rng.uniform(0.3, 0.6)),
            f(warm_pool="terminated", layout="groups"),
        ),
        ("completed", Placement("step", 0.5, "Uploading"), f(layout="multi")),
        ("capacity-wait", LIVE, f()),
    ]
    out = [Seeded(i % n_targets, s, p, feat) for i, (s, p, feat) in enumerate(showcase)]
    # Trials of one tuning job: same workload, same target, so they share a TuningJobArn.
    trials = f(workload="resnet50-finetune")
    tuner = len(out) % n_targets
    out += [Seeded(tuner, "tuning-trial", _ended(rng, 10, 300), trials) for _ in range(4)]
    out += [
        Seeded(tuner, "tuning-trial", Placement("progress", rng.uniform(0.1, 0.8)), trials)
        for _ in range(2)
    ]
    # The sweep: 14 trials, 8 of which fail on the data bug (57 %, so the target stays above
    # the alert's 25 % even with its other jobs finishing alongside).
    sweep = f(workload="xgb-ctr", instance="ml.c5.4xlarge", layout="single", warm_pool="none")
    swept = (tuner + 1) % n_targets
    out += [
        Seeded(swept, "sweep-data-bug" if i % 7 in (0, 2, 3, 5) else "sweep-trial", LIVE, sweep)
        for i in range(SWEEP_TRIALS)
    ]
    failures = ("failed-client", "failed-algorithm", "failed-capacity")
    for t in range(n_targets):
        out += [
            Seeded(t, "completed", Placement("progress", rng.uniform(0.05, 0.95)), f()),
            Seeded(t, "completed", Placement("progress", rng.uniform(0.05, 0.95)), f()),
            Seeded(t, "completed", _ended(rng, 10, 360), f()),
            Seeded(t, failures[t % 3], _ended(rng, 10, 360), f()),
            Seeded(t, "user-stopped", _ended(rng, 10, 360), f()),
        ]
    return out
