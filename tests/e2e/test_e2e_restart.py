"""End to end: kill -9 the exporter, keep it down 20 s, start it again (in place, then at a new
address as a rescheduled pod): nobody is paged.

Real binaries on loopback: moto's SageMaker in this process (it outlives the exporter, as AWS
does), the exporter as a subprocess polling it, /usr/bin/prometheus with the shipped rules
(1 s scrapes and evaluations) and /usr/bin/prometheus-alertmanager with send_resolved on,
posting to a webhook recorder here.

The rule copies are scaled like the other end-to-end tests' (tests/support/e2e_stack.py): per-job
`for:` 1 s and keep_firing_for KEEP_FIRING_FOR (45 s for the shipped 10m). The exporter alerts
keep their shipped `for:` (5m, 15m), so SageMakerExporterDown behaves as in production: 20 s
down is no page. Without keep_firing_for this test fails: the per-job alerts resolve (a
"resolved" notification each) while the exporter is down and page again when it is back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.e2e_fleet import FLEET_ALERTS, Exporter, make_alerting_fleet, settle
from tests.support.e2e_stack import (
    KEEP_FIRING_FOR,
    SCRAPE_JOB,
    Notification,
    Prometheus,
    WebhookRecorder,
    fast_rule_files,
    start_alertmanager,
    wait_for,
)
from tests.support.motofleet import MotoSageMaker

DOWN_FOR = 20.0  # seconds between the kill and the restart
EXPORTER_ALERTS = frozenset(
    {
        "SageMakerExporterDown",
        "SageMakerExporterAbsent",
        "SageMakerExporterPollsFailing",
        "SageMakerExporterPollStale",
        "SageMakerExporterThrottled",
    }
)


@dataclass
class RestartStack:
    exporter: Exporter
    prometheus: Prometheus
    webhook: WebhookRecorder

    def logs(self) -> str:
        return self.exporter.log_tail() + "\n" + self.prometheus.process.log_tail()


@pytest.fixture(scope="module")
def stack(moto_server: MotoSageMaker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    moto_server.reset()
    make_alerting_fleet(moto_server, time.time())
    workdir = tmp_path_factory.mktemp("e2e-restart")
    webhook = WebhookRecorder()
    alertmanager, am_url = start_alertmanager(workdir / "alertmanager", webhook.url)
    exporter = Exporter(workdir, "exporter", moto_server.url, "--poll-interval", "1s")
    prometheus = None
    try:
        exporter.start()
        rules = fast_rule_files(workdir / "rules", shipped_for=EXPORTER_ALERTS)
        prometheus = Prometheus.start(
            workdir / "prometheus",
            exporter=exporter.address,
            alertmanager=am_url.removeprefix("http://"),
            rule_files=rules,
        )
        yield RestartStack(exporter, prometheus, webhook)
    finally:
        if prometheus is not None:
            prometheus.process.stop()
        exporter.stop()
        alertmanager.stop()
        webhook.close()
        moto_server.reset()


def _identity(n: Notification) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(n.labels.items()))


def _active_at(prom: Prometheus) -> dict[tuple[tuple[str, str], ...], str]:
    """Firing alerts in Prometheus and when each became active: a restarted alert (a new
    page) would show a new activeAt."""
    return {
        tuple(sorted(a["labels"].items())): a["activeAt"]
        for a in prom.api("alerts")["alerts"]
        if a["state"] == "firing"
    }


@pytest.mark.parametrize(
    "new_address", [False, True], ids=["same-address(systemd)", "new-address(pod)"]
)
def test_kill_9_and_restart_pages_nobody(stack: RestartStack, new_address: bool) -> None:
    """Runs twice on the same stack: a restart in place, then one at a new address, as when
    Kubernetes reschedules the pod (service discovery then swaps the scrape target, so the
    `instance` label changes)."""
    hook, prom, exporter = stack.webhook, stack.prometheus, stack.exporter

    def all_paged() -> set[tuple[str, str]]:
        got = {(n.labels["alertname"], n.labels.get("training_job", "")) for n in hook.firing()}
        return got if got >= FLEET_ALERTS else set()

    try:
        wait_for("every fleet alert at the webhook", all_paged, timeout=90, every=0.5)
    except AssertionError:
        raise AssertionError(f"got {hook.snapshot()}\n{stack.logs()}") from None
    settle(3)  # Alertmanager's group_interval is 1 s: nothing else is on its way
    before = hook.snapshot()
    firing = {_identity(n) for n in before if n.status == "firing"}
    # one page per alert, ever: also none from an earlier restart of this module
    assert len(before) == len(firing) == len(FLEET_ALERTS), before
    active_before = _active_at(prom)
    assert firing <= set(active_before)

    killed_at = time.time()
    exporter.kill9()

    # The kill is real: Prometheus sees the target down and the job series gone ...
    wait_for("up == 0", lambda: prom.query(f'up{{job="{SCRAPE_JOB}"}} == 0'), timeout=15)
    assert not prom.query("sagemaker_training_job_failure_info")
    # ... yet every alert is still firing, held by keep_firing_for.
    assert firing <= set(_active_at(prom))
    time.sleep(max(0.0, killed_at + DOWN_FOR - time.time()))

    restarted_at = time.time()
    exporter.start(new_address=new_address)
    if new_address:
        config = prom.config()
        config["scrape_configs"][0]["static_configs"] = [{"targets": [exporter.address]}]
        prom.reload(config)
    back = wait_for(
        "the failed job's series back in Prometheus",
        lambda: prom.query("sagemaker_training_job_failure_info"),
        timeout=60,
    )
    back_at = float(back[0]["value"][0])
    gap = back_at - killed_at
    print(
        f"\n{'new' if new_address else 'same'} address: kill -9 -> restart "
        f"{restarted_at - killed_at:.1f}s, -> series back {gap:.1f}s "
        f"(keep_firing_for here {KEEP_FIRING_FOR})"
    )
    # Alerts re-evaluate true within a second or two of the series' return; then anything a
    # resolution would have sent has had time to arrive.
    settle(5)

    after = [n for n in hook.snapshot() if n.received_at > killed_at]
    assert after == [], f"notifications after the restart: {after}"
    active_after = _active_at(prom)
    for identity in firing:
        # the same alert, never restarted: no new activeAt
        assert active_after.get(identity) == active_before[identity], identity
    # The exporter alerts stayed quiet: down 20 s is well inside SageMakerExporterDown's 5m,
    # and `up` existed throughout (0 while down), so absent() did not hold; except, at a new
    # address, for the moment between the old target's removal and the new one's first scrape,
    # far inside SageMakerExporterAbsent's 15m.
    since = min(n.received_at for n in before)  # Prometheus had scraped by then
    absent = prom.query_range(f'absent(up{{job="{SCRAPE_JOB}"}})', since, time.time(), 1)
    held = sum(len(series["values"]) for series in absent)
    assert held <= (5 if new_address else 0), absent
    fired = prom.query_range(
        'ALERTS{alertname=~"SageMakerExporter.*", alertstate="firing"}',
        since,
        time.time(),
        1,
    )
    assert fired == []
