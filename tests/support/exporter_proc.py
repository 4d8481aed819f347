"""Test support: `python -m exporter.cli` as a real process, started on a free loopback
port and found through its JSON "listening" log line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import requests


class ExporterProcess:
    def __init__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter.cli",
                "--listen-address",
                "127.0.0.1:0",
                "--log-format",
                "json",
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ) if env is None else env,
        )
        self.log: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.address = ""
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.address:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            if line.startswith("{"):
                event = json.loads(line)
                self.events.append(event)
                if event.get("event") == "listening":
                    self.address = event["address"]
        if not self.address:
            self.kill()
            raise AssertionError("exporter did not start: " + "".join(self.log))

    def wait_ready(self, timeout: float = 30, scheme: str = "http", verify: Any = True) -> None:
        """Poll /readyz (it needs no credentials) until 200, failing after `timeout`."""
        deadline = time.monotonic() + timeout
        url = f"{scheme}://{self.address}/readyz"
        while requests.get(url, timeout=5, verify=verify).status_code != 200:
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.1)

    def event(self, name: str) -> dict[str, Any]:
        return next(e for e in self.events if e.get("event") == name)

    def stop(self) -> tuple[int, float, str]:
        """SIGTERM; (exit code, seconds it took, the whole log). SIGKILL after 20 s."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, time.monotonic() - t0, "".join(self.log) + (err or "")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
