"""A real monitoring stack on loopback for tests/e2e/test_e2e.py.

The demo exporter, Prometheus and Alertmanager run as subprocesses (the binaries CI installs
from Debian), each on a free 127.0.0.1 port with its state in a temporary directory, and a
webhook recorder in this process receives Alertmanager's notifications. Everything is polled
with deadlines; nothing sleeps for a fixed time to wait for a condition.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import requests
import yaml

from tests.support import dashboards_lint as lint
from tests.support.ports import free_port

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
SCRAPE_JOB = "sagemaker-exporter"  # the job name the shipped alert rules expect
T = TypeVar("T")


def required_binary(path: str) -> str:
    """The stack's binaries are required test dependencies: fail loudly, never skip."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise RuntimeError(
            f"{path} is missing; install the Debian packages prometheus and "
            "prometheus-alertmanager (scripts/test does)"
        )
    return path


def wait_for(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.2) -> T:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, OSError, ValueError, KeyError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {last_error}")
        time.sleep(every)


@dataclass(frozen=True)
class Notification:
    received_at: float  # unix time the recorder got the POST
    status: str  # firing / resolved (of this alert)
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: str


class WebhookRecorder:
    """Records every alert of every Alertmanager webhook notification."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received = time.time()
                payload = json.loads(body)
                with recorder._lock:
                    for alert in payload["alerts"]:
                        recorder.notifications.append(
                            Notification(
                                received,
                                alert["status"],
                                alert["labels"],
                                alert["annotations"],
                                alert["startsAt"],
                            )
                        )
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def snapshot(self) -> list[Notification]:
        with self._lock:
            return list(self.notifications)

    def firing(self, alertname: str | None = None) -> list[Notification]:
        return [
            n
            for n in self.snapshot()
            if n.status == "firing" and alertname in (None, n.labels["alertname"])
        ]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Process:
    """A subprocess with its output in a log file, stopped by its own pid."""

    def __init__(self, name: str, argv: list[str], workdir: Path, cwd: Path = lint.ROOT) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return f"--- {self.name} log (last {lines} lines) ---\n" + "\n".join(
            text.splitlines()[-lines:]
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@contextmanager
def _stop_on_error(process: Process) -> Iterator[None]:
    try:
        yield
    except BaseException:
        process.stop()
        raise


# The shipped keep_firing_for (10m) scaled down like `for:`. It must still exceed what the
# restart test puts the alerts through: 20 s down, the exporter's start and its first poll.
KEEP_FIRING_FOR = "45s"


def fast_rule_files(
    dest: Path,
    for_duration: str = "1s",
    keep_firing_for: str = KEEP_FIRING_FOR,
    shipped_for: frozenset[str] = frozenset(),
) -> list[Path]:
    """Copies of alerts/*.rules.yml with every `for:` set to `for_duration` (except the alerts
    named in `shipped_for`) and every `keep_firing_for:` set to `keep_firing_for`.

    Only those durations change: expressions, labels and annotations are the shipped ones.
    """
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for path in lint.rule_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in data["groups"]:
            for rule in group["rules"]:
                if "for" in rule and rule.get("alert") not in shipped_for:
                    rule["for"] = for_duration
                if "keep_firing_for" in rule:
                    rule["keep_firing_for"] = keep_firing_for
        target = dest / path.name
        target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        out.append(target)
    return out


class Prometheus:
    def __init__(self, workdir: Path, url: str, process: Process, config_path: Path) -> None:
        self.workdir, self.url, self.process, self.config_path = workdir, url, process, config_path

    @classmethod
    def start(
        cls, workdir: Path, *, exporter: str, alertmanager: str, rule_files: list[Path]
    ) -> Prometheus:
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        config = {
            # Scrapes every 2 s with a 2 s timeout: at 1 s, a scrape of the demo (moto in the
            # same process, holding the GIL) that times out on a loaded machine marks every
            # series stale and pages SageMakerExporterDown (`for: 1s` here) for a live exporter.
            "global": {
                "scrape_interval": "2s",
                "scrape_timeout": "2s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(p) for p in rule_files],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
            "scrape_configs": [
                {"job_name": SCRAPE_JOB, "static_configs": [{"targets": [exporter]}]}
            ],
        }
        config_path = workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        process = Process(
            "prometheus",
            [
                required_binary(PROMETHEUS),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-lifecycle",
                # Series of a scrape job removed by a reload get no staleness marker in 2.42;
                # they vanish after the lookback delta. 15s (default 5m) at 1s scrapes lets
                # SageMakerExporterAbsent fire within the test.
                "--query.lookback-delta=15s",
                "--log.level=info",
            ],
            workdir,
        )
        prom = cls(workdir, f"http://127.0.0.1:{port}", process, config_path)
        with _stop_on_error(process):
            wait_for("Prometheus ready", prom._ready, timeout=60)
        return prom

    def _ready(self) -> bool:
        if not self.process.alive():
            raise AssertionError("prometheus exited\n" + self.process.log_tail())
        return requests.get(self.url + "/-/ready", timeout=2).status_code == 200

    def api(self, path: str, **params: Any) -> Any:
        response = requests.get(self.url + "/api/v1/" + path, params=params, timeout=30)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        data = self.api("query", **params)
        if data["resultType"] != "vector":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        data = self.api("query_range", query=expr, start=start, end=end, step=step)
        result: list[dict[str, Any]] = data["result"]
        return result

    def label_values(self, label: str, selector: str) -> list[str]:
        params = {"match[]": selector} if selector else {}
        values: list[str] = self.api(f"label/{label}/values", **params)
        return values

    def reload(self, config: Mapping[str, Any]) -> None:
        self.config_path.write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
        response = requests.post(self.url + "/-/reload", timeout=30)
        assert response.status_code == 200, response.text

    def config(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        return data


def start_alertmanager(workdir: Path, webhook_url: str) -> tuple[Process, str]:
    """Alertmanager, gossip off, notifying the webhook once per alert, right away."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = {
        "route": {
            "receiver": "recorder",
            # one group per alert, so each alert is notified on its own, at once
            "group_by": ["..."],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "24h",
        },
        "receivers": [
            {
                "name": "recorder",
                "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
            }
        ],
    }
    config_path = workdir / "alertmanager.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    process = Process(
        "alertmanager",
        [
            required_binary(ALERTMANAGER),
            f"--config.file={config_path}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        workdir,
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if not process.alive():
            raise AssertionError("alertmanager exited\n" + process.log_tail())
        return requests.get(url + "/-/ready", timeout=2).status_code == 200

    with _stop_on_error(process):
        wait_for("Alertmanager ready", ready, timeout=60)
    return process, url


def start_demo_exporter(workdir: Path, *flags: str) -> tuple[Process, str]:
    """The real exporter in --demo mode; returns it and its host:port once it listens."""
    workdir.mkdir(parents=True, exist_ok=True)
    process = Process(
        "exporter",
        [
            sys.executable,
            "-m",
            "exporter.cli",
            "--demo",
            "--listen-address",
            "127.0.0.1:0",
            "--log-format",
            "json",
            *flags,
        ],
        workdir,
    )

    def listening() -> str | None:
        if not process.alive():
            raise AssertionError("exporter exited\n" + process.log_tail())
        for line in process.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                event = json.loads(line)
                if event.get("event") == "listening":
                    address: str = event["address"]
                    return address
        return None

    with _stop_on_error(process):
        address = wait_for("the demo exporter to listen", listening, timeout=60)
    return process, address


@dataclass
class Stack:
    workdir: Path
    started_at: float  # unix time just before the demo exporter started
    exporter: Process
    exporter_address: str
    prometheus: Prometheus
    alertmanager: Process
    alertmanager_url: str
    webhook: WebhookRecorder

    def logs(self) -> str:
        return "\n".join(
            p.log_tail() for p in (self.exporter, self.prometheus.process, self.alertmanager)
        )


def run_stack(workdir: Path, *exporter_flags: str) -> Iterator[Stack]:
    """Generator for a fixture: starts everything, yields the Stack, stops everything."""
    for binary in (PROMETHEUS, ALERTMANAGER):
        required_binary(binary)
    with ExitStack() as stack:
        webhook = WebhookRecorder()
        stack.callback(webhook.close)
        alertmanager, am_url = start_alertmanager(workdir / "alertmanager", webhook.url)
        stack.callback(alertmanager.stop)
        started_at = time.time()
        exporter, address = start_demo_exporter(workdir / "exporter", *exporter_flags)
        stack.callback(exporter.stop)
        # Scraping starts once every target finished its first poll, as the rules' 1 s `for`
        # would otherwise page on target_up's 0 while a slow first poll (a loaded machine)
        # is still running; production's 15 m `for` never sees it.
        wait_for(
            "the demo exporter to be ready",
            lambda: requests.get(f"http://{address}/readyz", timeout=2).status_code == 200,
            timeout=60,
        )
        rules = fast_rule_files(workdir / "rules")
        prometheus = Prometheus.start(
            workdir / "prometheus",
            exporter=address,
            alertmanager=am_url.removeprefix("http://"),
            rule_files=rules,
        )
        stack.callback(prometheus.process.stop)
        yield Stack(
            workdir, started_at, exporter, address, prometheus, alertmanager, am_url, webhook
        )


def keep_logs(stack: Stack, dest: Path) -> None:
    """Copy the processes' logs next to the test's report for post-mortems."""
    dest.mkdir(parents=True, exist_ok=True)
    for process in (stack.exporter, stack.prometheus.process, stack.alertmanager):
        if process.log_path.exists():
            shutil.copy(process.log_path, dest / process.log_path.name)
