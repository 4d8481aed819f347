"""A SageMaker that outlives the exporter, for the restart and HA end-to-end tests.

The demo's simulated fleet lives inside the exporter process and dies with it, so a killed and
restarted demo exporter would watch a different world. Here SageMaker is moto's server in the
test process (tests/support/motofleet.py), with jobs put in states that fire alerts; exporters are
real `python -m exporter.cli` processes polling it, and can be killed (-9) and started again
on the same address, as systemd or a container runtime restarts them.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from tests.support.e2e_stack import Process, _stop_on_error, wait_for
from tests.support.motofleet import MotoSageMaker
from tests.support.ports import free_port

REGION = "us-east-1"

# The alerts the fleet below fires, by the job that fires each.
FLEET_ALERTS = {
    ("SageMakerTrainingJobFailed", "restart-failed"),
    ("SageMakerTrainingJobWaitingForCapacity", "restart-capacity"),
    ("SageMakerTrainingJobNearMaxRuntime", "restart-near-limit"),
    ("SageMakerTrainingJobStoppedByLimit", "restart-stopped"),
}


def make_alerting_fleet(sm: MotoSageMaker, now: float) -> None:
    """Jobs that keep their alerts true for the next half hour at least."""
    sm.create("restart-failed")
    sm.set(
        "restart-failed",
        training_job_status="Failed",
        secondary_status="Failed",
        creation_time=now - 1500,
        training_start_time=now - 1200,
        training_end_time=now - 600,
        failure_reason="AlgorithmError: exit code 1",
        secondary_status_transitions=sm.transitions(
            ("Training", now - 1200, now - 600, "Training in progress."),
            ("Failed", now - 600, None, "Training job failed"),
        ),
    )
    sm.create("restart-capacity", instance_type="ml.p5.48xlarge")
    sm.set(
        "restart-capacity",
        training_job_status="InProgress",
        secondary_status="Starting",
        creation_time=now - 2500,
        training_start_time=None,
        training_end_time=None,
        secondary_status_transitions=sm.transitions(
            ("Starting", now - 2400, None, "Insufficient capacity, retrying"),
        ),
    )
    sm.create("restart-near-limit", StoppingCondition={"MaxRuntimeInSeconds": 4000})
    sm.set(
        "restart-near-limit",
        training_job_status="InProgress",
        secondary_status="Training",
        creation_time=now - 3800,
        training_start_time=now - 3700,
        training_end_time=None,
        secondary_status_transitions=sm.transitions(
            ("Training", now - 3700, None, "Training in progress."),
        ),
    )
    sm.create("restart-stopped")
    sm.set(
        "restart-stopped",
        training_job_status="Stopped",
        secondary_status="MaxRuntimeExceeded",
        creation_time=now - 4000,
        training_start_time=now - 3900,
        training_end_time=now - 300,
        training_time_in_seconds=3600,
        billable_time_in_seconds=3600,
        stopping_condition={"MaxRuntimeInSeconds": 3600},
    )


def add_failed_job(sm: MotoSageMaker, name: str, now: float) -> None:
    """A job that failed just now: a new page."""
    sm.create(name)
    sm.set(
        name,
        training_job_status="Failed",
        secondary_status="Failed",
        creation_time=now - 300,
        training_start_time=now - 200,
        training_end_time=now - 5,
        failure_reason="ClientError: No S3 objects found under S3 URL",
    )


class Exporter:
    """A real exporter process polling `endpoint`, on one fixed loopback address so a restart
    comes back where Prometheus scrapes it."""

    def __init__(self, workdir: Path, name: str, endpoint: str, *flags: str) -> None:
        self.workdir, self.name, self.endpoint, self.flags = workdir, name, endpoint, flags
        self.address = f"127.0.0.1:{free_port()}"
        self.starts = 0
        self.process: Process | None = None

    def start(self, new_address: bool = False) -> None:
        """Start (again); `new_address` is a rescheduled pod: same exporter, another IP:port."""
        self.starts += 1
        if new_address:
            self.address = f"127.0.0.1:{free_port()}"
        process = Process(
            f"{self.name}-{self.starts}",
            [
                sys.executable,
                "-m",
                "exporter.cli",
                "--endpoint-url",
                self.endpoint,
                "--region",
                REGION,
                "--listen-address",
                self.address,
                "--log-format",
                "json",
                *self.flags,
            ],
            self.workdir,
        )
        self.process = process

        def listening() -> bool:
            if not process.alive():
                raise AssertionError("exporter exited\n" + process.log_tail())
            text = process.log_path.read_text(encoding="utf-8", errors="replace")
            return any(
                json.loads(line).get("event") == "listening"
                for line in text.splitlines()
                if line.startswith("{")
            )

        with _stop_on_error(process):
            wait_for(f"{self.name} to listen on {self.address}", listening, timeout=60)

    def kill9(self) -> None:
        """SIGKILL: no drain, no goodbye; what an OOM kill or a node loss does."""
        assert self.process is not None
        self.process.proc.send_signal(signal.SIGKILL)
        self.process.proc.wait(timeout=10)
        self.process.stop()  # closes the log

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def log_tail(self) -> str:
        return self.process.log_tail() if self.process else ""


def settle(seconds: float) -> None:
    """Let notifications that could still be on their way arrive. A fixed wait on purpose:
    what the callers check is that nothing arrives."""
    time.sleep(seconds)
