"""The HA recipe (deploy/ha/) on loopback for tests/e2e/test_e2e_ha.py: Prometheus servers started
from the recipe's configs (targets, intervals and rule file paths rewritten for the test) and
Alertmanager nodes that form one cluster by gossip on 127.0.0.1, each on its own ports."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.support import dashboards_lint as lint
from tests.support.e2e_stack import (
    ALERTMANAGER,
    PROMETHEUS,
    Process,
    Prometheus,
    _stop_on_error,
    required_binary,
    wait_for,
)
from tests.support.ports import free_port

HA_DIR = lint.ROOT / "deploy" / "ha"
# How long a node waits per position in the cluster before it notifies, if the nodes before it
# have not (Alertmanager's default is 15s; shorter keeps the test quick, gossip on loopback
# takes milliseconds).
PEER_TIMEOUT = 3.0


def recipe_prometheus_config(
    name: str, exporters: Sequence[str], alertmanagers: Sequence[str], rule_files: Sequence[Path]
) -> dict[str, Any]:
    """deploy/ha/prometheus-<name>.yml with the test's addresses, 1 s intervals and the fast
    rule copies; everything else (external labels, alert relabelling) as shipped."""
    config: dict[str, Any] = yaml.safe_load(
        (HA_DIR / f"prometheus-{name}.yml").read_text(encoding="utf-8")
    )
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(p) for p in rule_files]
    (am,) = config["alerting"]["alertmanagers"]
    am["static_configs"] = [{"targets": list(alertmanagers)}]
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": list(exporters)}]
    return config


def start_prometheus(workdir: Path, name: str, config: dict[str, Any]) -> Prometheus:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    process = Process(
        name,
        [
            required_binary(PROMETHEUS),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=info",
        ],
        workdir,
    )
    prom = Prometheus(workdir, f"http://127.0.0.1:{port}", process, config_path)
    with _stop_on_error(process):
        wait_for(f"{name} ready", prom._ready, timeout=60)
    return prom


class AlertmanagerNode:
    """One node of an Alertmanager cluster; `peers` are the other nodes' gossip addresses."""

    def __init__(self, workdir: Path, name: str, webhook_url: str) -> None:
        self.workdir, self.name, self.webhook_url = workdir / name, name, webhook_url
        self.port, self.cluster_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.gossip = f"127.0.0.1:{self.cluster_port}"
        self.process: Process | None = None

    def start(self, peers: Sequence[str]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = yaml.safe_load((HA_DIR / "alertmanager.yml").read_text(encoding="utf-8"))
        # The recipe's routing, with one webhook receiver and test-sized timers: one group per
        # alert, notified at once, never repeated during the test.
        config["route"].update(
            receiver="recorder", group_by=["..."], group_wait="0s", group_interval="1s"
        )
        config["route"].pop("routes")
        config["receivers"] = [
            {
                "name": "recorder",
                "webhook_configs": [{"url": self.webhook_url, "send_resolved": True}],
            }
        ]
        config_path = self.workdir / "alertmanager.yml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        argv = [
            required_binary(ALERTMANAGER),
            f"--config.file={config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            f"--cluster.listen-address={self.gossip}",
            f"--cluster.advertise-address={self.gossip}",
            f"--cluster.peer-timeout={PEER_TIMEOUT}s",
            *(f"--cluster.peer={p}" for p in peers),
        ]
        self.process = process = Process(self.name, argv, self.workdir)

        def ready() -> bool:
            if not process.alive():
                raise AssertionError(f"{self.name} exited\n" + process.log_tail())
            return requests.get(self.url + "/-/ready", timeout=2).status_code == 200

        with _stop_on_error(process):
            wait_for(f"{self.name} ready", ready, timeout=60)

    def peers(self) -> int:
        status = requests.get(self.url + "/api/v2/status", timeout=5).json()
        return len(status["cluster"].get("peers") or [])

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
