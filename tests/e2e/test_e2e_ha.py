"""End to end: the HA recipe (deploy/ha/) pages once per alert, with all six processes up and
after one of each is stopped.

Two exporter replicas poll the same SageMaker (moto in this process); two Prometheus servers,
started from deploy/ha/prometheus-{a,b}.yml, scrape both and send to both Alertmanager nodes;
the nodes form one cluster by gossip on 127.0.0.1 and post to a webhook recorder here. Rules
are the shipped ones with `for:` 1 s and keep_firing_for scaled (tests/support/e2e_stack.py).

Each alert reaches Alertmanager four times over (two Prometheus servers x two nodes) and the
training job alerts are computed from two exporters: the recorder must still get exactly one
notification per alert.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
import yaml

from tests.support import dashboards_lint as lint
from tests.support.e2e_cluster import (
    HA_DIR,
    PEER_TIMEOUT,
    AlertmanagerNode,
    recipe_prometheus_config,
    start_prometheus,
)
from tests.support.e2e_fleet import (
    FLEET_ALERTS,
    Exporter,
    add_failed_job,
    make_alerting_fleet,
    settle,
)
from tests.support.e2e_stack import Prometheus, WebhookRecorder, fast_rule_files, wait_for
from tests.support.motofleet import MotoSageMaker

Identity = tuple[tuple[str, str], ...]


@dataclass
class HAStack:
    exporters: list[Exporter]
    prometheus: list[Prometheus]
    alertmanagers: list[AlertmanagerNode]
    webhook: WebhookRecorder

    def logs(self) -> str:
        parts = [e.log_tail() for e in self.exporters]
        parts += [p.process.log_tail() for p in self.prometheus]
        parts += [a.process.log_tail() for a in self.alertmanagers if a.process]
        return "\n".join(parts)


def test_recipe_configs_are_valid_and_the_two_prometheus_differ_only_in_replica() -> None:
    configs = {}
    for name in "ab":
        path = HA_DIR / f"prometheus-{name}.yml"
        result = lint.promtool("check", "config", str(path))
        assert result.returncode == 0, result.stdout + result.stderr
        configs[name] = yaml.safe_load(path.read_text(encoding="utf-8"))
        loaded = {(path.parent / f).resolve() for f in configs[name]["rule_files"]}
        assert loaded == {p.resolve() for p in lint.rule_files()}
        assert configs[name]["global"]["external_labels"].pop("replica") == name
    assert configs["a"] == configs["b"]
    am = subprocess.run(
        ["/usr/bin/amtool", "check-config", str(HA_DIR / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert am.returncode == 0, am.stdout + am.stderr


@pytest.fixture(scope="module")
def ha(moto_server: MotoSageMaker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HAStack]:
    moto_server.reset()
    make_alerting_fleet(moto_server, time.time())
    workdir = tmp_path_factory.mktemp("e2e-ha")
    webhook = WebhookRecorder()
    exporters = [
        Exporter(workdir, f"exporter-{n}", moto_server.url, "--poll-interval", "1s") for n in "ab"
    ]
    nodes = [AlertmanagerNode(workdir, f"alertmanager-{n}", webhook.url) for n in "ab"]
    proms: list[Prometheus] = []
    try:
        for exporter in exporters:
            exporter.start()
        nodes[0].start(peers=[nodes[1].gossip])
        nodes[1].start(peers=[nodes[0].gossip])
        wait_for("a two-node cluster", lambda: all(n.peers() == 2 for n in nodes), timeout=60)
        rules = fast_rule_files(workdir / "rules")
        for name in "ab":
            config = recipe_prometheus_config(
                name,
                [e.address for e in exporters],
                [n.url.removeprefix("http://") for n in nodes],
                rules,
            )
            proms.append(
                start_prometheus(workdir / f"prometheus-{name}", f"prometheus-{name}", config)
            )
        yield HAStack(exporters, proms, nodes, webhook)
    finally:
        for prom in proms:
            prom.process.stop()
        for node in nodes:
            node.stop()
        for exporter in exporters:
            exporter.stop()
        webhook.close()
        moto_server.reset()


def _identity(labels: dict[str, str] | object) -> Identity:
    assert isinstance(labels, dict)
    return tuple(sorted(labels.items()))


def _counts(hook: WebhookRecorder) -> Counter[tuple[str, Identity]]:
    return Counter((n.status, _identity(dict(n.labels))) for n in hook.snapshot())


def _assert_once_each(hook: WebhookRecorder) -> None:
    counts = _counts(hook)
    repeated = {k: c for k, c in counts.items() if c != 1}
    assert repeated == {}, f"notified more than once: {repeated}"
    resolved = [k for k in counts if k[0] == "resolved"]
    assert resolved == [], f"resolved although still true: {resolved}"


def test_one_notification_per_alert_with_all_six_and_after_one_of_each_stops(
    ha: HAStack, moto_server: MotoSageMaker
) -> None:
    hook = ha.webhook

    def paged(expected: set[tuple[str, str]]) -> bool:
        got = {(n.labels["alertname"], n.labels.get("training_job", "")) for n in hook.firing()}
        return expected <= got

    try:
        wait_for("every fleet alert", lambda: paged(FLEET_ALERTS), timeout=90, every=0.5)
    except AssertionError:
        raise AssertionError(f"got {hook.snapshot()}\n{ha.logs()}") from None
    # A duplicate would come from the second node after its peer timeout; wait that out twice,
    # and a Prometheus resend or two besides.
    settle(2 * PEER_TIMEOUT + 3)
    _assert_once_each(hook)
    first = len(hook.snapshot())
    assert first == len(FLEET_ALERTS), hook.snapshot()
    # Both nodes received every alert, from both Prometheus servers: the deduplication was real.
    for node in ha.alertmanagers:
        alerts = requests.get(node.url + "/api/v2/alerts", timeout=5).json()
        names = {a["labels"]["alertname"] for a in alerts}
        assert {name for name, _ in FLEET_ALERTS} <= names, node.name
    print(f"\nall six up: {first} alerts, {first} notifications")

    # One of each goes away.
    stopped_at = time.time()
    ha.exporters[0].stop()
    ha.prometheus[0].process.stop()
    ha.alertmanagers[0].stop()
    # A new failure after the stop still pages, once, through the survivors.
    add_failed_job(moto_server, "ha-failed-after-stop", time.time())
    new = {("SageMakerTrainingJobFailed", "ha-failed-after-stop")}
    # The stopped exporter is down for the surviving Prometheus: that is a page of its own.
    down = {("SageMakerExporterDown", "")}
    wait_for("the new failure and the exporter down", lambda: paged(new | down), timeout=60)
    settle(2 * PEER_TIMEOUT + 3)
    _assert_once_each(hook)
    after = [n for n in hook.snapshot() if n.received_at > stopped_at]
    paged_after = sorted((n.labels["alertname"], n.labels.get("training_job", "")) for n in after)
    assert paged_after == sorted(new | down), paged_after
    (page,) = [n for n in after if n.labels["alertname"] == "SageMakerExporterDown"]
    assert page.labels["instance"] == ha.exporters[0].address
    assert "replica" not in page.labels
    print(f"after one of each stopped: {len(after)} new notifications: {paged_after}")
