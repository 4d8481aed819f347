"""`sagemaker-exporter --demo` as a real process: what a newcomer sees on /metrics.

Every scenario of the simulated fleet is asserted by what /metrics shows, never by
reading the driver's internals.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlparse

import pytest
import requests

from tests.support.exporter_proc import ExporterProcess
from tests.support.exposition import Samples, find, parse_exposition

J = "sagemaker_training_job_"
CANARY = "DEMO-SECRET-CANARY"


class Demo(ExporterProcess):
    def __init__(self, *args: str) -> None:
        super().__init__(
            "--demo", *args, env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        )
        self.url = "http://" + self.address
        self.moto_url = self.event("demo started")["endpoint_url"]

    def scrape(self) -> tuple[str, Samples]:
        text = requests.get(self.url + "/metrics", timeout=10).text
        return text, parse_exposition(text)

    def wait_for(self, done: Callable[[Samples], bool], timeout: float) -> tuple[str, Samples]:
        deadline = time.monotonic() + timeout
        while True:
            text, m = self.scrape()
            if done(m) or time.monotonic() > deadline:
                return text, m
            time.sleep(0.5)


@pytest.fixture
def demo() -> Iterator[Demo]:
    d = Demo(
        "--demo-speed",
        "120",
        "--demo-seed",
        "7",
        "--poll-interval",
        "1s",
        "--tag-labels",
        "team,project",
    )
    yield d
    d.kill()


def labels_of(m: Samples, name: str, **want: str) -> list[dict[str, str]]:
    return [dict(lbl) for lbl, v in find(m, name, **want).items() if v == 1]


def values(m: Samples, name: str, **want: str) -> list[tuple[dict[str, str], float]]:
    return [(dict(lbl), v) for lbl, v in find(m, name, **want).items()]


def scenarios(m: Samples) -> dict[str, bool]:
    """Each scenario the demo promises, judged from the exposition alone."""
    status = {lbl["status"] for lbl in labels_of(m, J + "status")}
    secondary = {lbl["secondary_status"] for lbl in labels_of(m, J + "secondary_status")}
    started = {lbl["training_job"] for lbl, _ in values(m, J + "training_start_timestamp_seconds")}
    failed = {lbl["training_job"] for lbl in labels_of(m, J + "status", status="Failed")}
    categories = {lbl["category"] for lbl in labels_of(m, J + "failure_info")}
    starting = {
        lbl["training_job"]
        for lbl in labels_of(m, J + "secondary_status", secondary_status="Starting")
    }
    long_starting = {
        lbl["training_job"]
        for lbl, v in values(m, J + "phase_duration_seconds", phase="Starting")
        if v > 1800
    }
    max_runtime = {lbl["training_job"]: v for lbl, v in values(m, J + "max_runtime_seconds")}
    running = {lbl["training_job"] for lbl in labels_of(m, J + "status", status="InProgress")}
    near_limit = [
        lbl
        for lbl, v in values(m, J + "training_seconds")
        if lbl["training_job"] in running
        and lbl["training_job"] in max_runtime
        and v > 0.9 * max_runtime[lbl["training_job"]]
    ]
    groups = {lbl["instance_group"] for lbl, _ in values(m, J + "instances")}
    return {
        "every primary status": status
        >= {"InProgress", "Completed", "Failed", "Stopping", "Stopped"},
        "four or more secondary statuses": len(secondary) >= 4,
        # (Completed is a finished job's terminal phase: no duration series of its own.)
        "normal path phases": {"Starting", "Downloading", "Training", "Uploading"}
        <= {lbl["phase"] for lbl, _ in values(m, J + "phase_duration_seconds")},
        "final metrics while training": any(
            lbl["training_job"] in running for lbl, _ in values(m, J + "final_metric")
        ),
        "final metrics at completion": any(
            lbl["training_job"]
            in {x["training_job"] for x in labels_of(m, J + "status", status="Completed")}
            for lbl, _ in values(m, J + "final_metric")
        ),
        "failure categories": categories >= {"ClientError", "AlgorithmError", "CapacityError"},
        "failed without a start time": bool(failed - started),
        "capacity wait over 30 min": bool(starting & long_starting),
        "spot savings": any(v > 0 for _, v in values(m, J + "spot_savings_ratio")),
        "spot interruption": any(v >= 1 for _, v in values(m, J + "interruptions")),
        "MaxWaitTimeExceeded": "MaxWaitTimeExceeded" in secondary,
        "MaxRuntimeExceeded": "MaxRuntimeExceeded" in secondary,
        "running near max runtime": bool(near_limit),
        "multi-instance": any(v > 1 for _, v in values(m, J + "instances")),
        "heterogeneous instance groups": len(groups - {""}) >= 2,
        "several instance types": len(
            {lbl["instance_type"] for lbl, _ in values(m, J + "instances")}
        )
        >= 3,
        "tuning job": any(lbl["tuning_job"] for lbl in labels_of(m, J + "info")),
        "warm pool": bool(labels_of(m, J + "warm_pool_status")),
        "debugger IssuesFound": bool(
            labels_of(m, J + "rule_evaluation_status", status="IssuesFound")
        ),
        "tags": any(lbl.get("tag_team") for lbl in labels_of(m, J + "tags")),
        "two regions": len({lbl["region"] for lbl in labels_of(m, J + "info")}) >= 2,
        "two accounts": len({lbl["account_id"] for lbl in labels_of(m, J + "info")}) >= 2,
    }


def test_demo_shows_every_scenario_and_stops_cleanly(demo: Demo, promtool: str) -> None:
    landing = requests.get(demo.url + "/", timeout=5).text
    assert "Demo mode" in landing and 'href="/metrics"' in landing
    assert "Event mode" in landing  # the demo publishes its changes as events
    text, m = demo.wait_for(lambda m: all(scenarios(m).values()), timeout=90)
    missing = [name for name, ok in scenarios(m).items() if not ok]
    assert not missing, f"scenarios not seen on /metrics: {missing}"
    assert CANARY not in text
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr

    code, took, log = demo.stop()
    assert code == 0, log[-2000:]
    assert took < 10
    assert CANARY not in log
    # Neither the exporter's port nor the embedded moto server's port is left behind.
    for url in (demo.url, demo.moto_url):
        u = urlparse(url)
        with pytest.raises(OSError), socket.create_connection((u.hostname, u.port), timeout=2):
            pass


def fleet_identity(m: Samples) -> set[tuple[str, ...]]:
    """What the seed decides about the initial fleet: names and configuration."""
    return {
        (
            lbl["training_job"],
            lbl["region"],
            lbl["account_id"],
            lbl["instance_type"],
            lbl["managed_spot"],
        )
        for lbl in labels_of(m, J + "info")
    }


def first_fleet(*args: str) -> set[tuple[str, ...]]:
    d = Demo("--poll-interval", "1s", *args)
    try:
        d.wait_ready()
        # The initial fleet is seeded before the first poll; later arrivals depend on timing.
        _, m = d.scrape()
        return fleet_identity(m)
    finally:
        d.kill()


def test_same_seed_same_fleet() -> None:
    a, b = first_fleet("--demo-seed", "3"), first_fleet("--demo-seed", "3")
    c = first_fleet("--demo-seed", "4")
    assert len(a) >= 20
    # Jobs that arrived between start and the scrape may differ; the seeded fleet must not.
    common = a & b
    assert len(common) >= 0.9 * min(len(a), len(b)), a ^ b
    assert {x[0] for x in a} != {x[0] for x in c}
