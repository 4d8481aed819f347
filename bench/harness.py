"""Processes for the benchmarks: the fake SageMaker server and the exporter, each in its own
process (an in-process fake shares the event loop and halves the client's throughput).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(
    os.environ,
    AWS_ACCESS_KEY_ID="bench",
    AWS_SECRET_ACCESS_KEY="bench",
    AWS_EC2_METADATA_DISABLED="true",
    AWS_CONFIG_FILE="/nonexistent",
    AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
    PYTHONPATH=str(ROOT),
)
for _k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    ENV.pop(_k, None)


def wait_for(what: str, check: Any, timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def http(url: str, data: Any = None, method: str | None = None, timeout: float = 30) -> Any:
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, method=method or ("POST" if body else "GET"))
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw[:1] in (b"{", b"[") else raw


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class FakeProcess:
    """python -m fake_aws in a subprocess, driven over /_fake/."""

    def __init__(self, *args: str) -> None:
        self._dir = tempfile.TemporaryDirectory()
        port_file = Path(self._dir.name) / "port"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fake_aws", "--port-file", str(port_file), *args],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        wait_for("the fake server", lambda: port_file.exists() or self.proc.poll() is not None, 120)
        if self.proc.poll() is not None:
            raise RuntimeError(f"fake server died: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{int(port_file.read_text())}"

    def stats(self) -> dict[str, Any]:
        return http(self.url + "/_fake/stats")  # type: ignore[no-any-return]

    def calls(self, op: str | None = None, outcome: str | None = None) -> int:
        ops = self.stats()["operations"]
        return sum(
            n
            for o, by in ops.items()
            if op in (None, o)
            for out, n in by.items()
            if outcome in (None, out)
        )

    def reset_stats(self) -> None:
        http(self.url + "/_fake/reset", {"stats_only": True})

    def control(self, path: str, data: Any = None, method: str | None = None) -> Any:
        return http(self.url + "/_fake/" + path, data, method)

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._dir.cleanup()

    def __enter__(self) -> FakeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Poll:
    ok: bool
    api_calls: int
    described: int
    changed: int
    listed: int
    duration: float


class ExporterProcess:
    """python -m exporter.cli in a subprocess with JSON logs, read on a thread."""

    def __init__(self, endpoint: str | None, *flags: str) -> None:
        """endpoint None: no --endpoint-url/--region (for --demo, which brings its own)."""
        self.started = time.monotonic()
        where = [] if endpoint is None else ["--endpoint-url", endpoint, "--region", "us-east-1"]
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter.cli",
                *where,
                "--listen-address",
                "127.0.0.1:0",
                "--log-format",
                "json",
                *flags,
            ],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.events: list[dict[str, Any]] = []
        self.raw_lines: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        listening = wait_for(
            "the exporter to listen",
            lambda: self._find("listening") or self.proc.poll() is not None,
            60,
        )
        if self.proc.poll() is not None:
            raise RuntimeError("exporter died: " + "".join(self.raw_lines))
        self.url = "http://" + listening["address"]

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self.raw_lines.append(line)
                with contextlib.suppress(ValueError):  # a traceback line, say
                    self.events.append(json.loads(line))

    def _find(self, event: str) -> dict[str, Any] | None:
        with self._lock:
            return next((e for e in self.events if e.get("event") == event), None)

    def polls(self) -> list[Poll]:
        with self._lock:
            return [
                Poll(
                    e["event"] == "poll",
                    int(e["api_calls"]),
                    int(e["described"]),
                    int(e["changed"]),
                    int(e["listed"]),
                    float(e["duration_s"]),
                )
                for e in self.events
                if e.get("event") in ("poll", "poll failed")
            ]

    def log_lines(self) -> int:
        with self._lock:
            return len(self.raw_lines)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=5) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def wait_ready(self, timeout: float) -> float:
        """Seconds from process start until /readyz answers 200."""
        wait_for("/readyz", self.ready, timeout, interval=0.02)
        return time.monotonic() - self.started

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        with urllib.request.urlopen(self.url + "/metrics", timeout=30) as r:
            text = r.read().decode()
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
        }

    def close(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> ExporterProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def metric(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    want = set(labels.items())
    return sum(v for (n, lbl), v in samples.items() if n == name and want <= lbl)
