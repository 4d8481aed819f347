"""The Prometheus rule files in alerts/: promtool validity, unit tests, annotations, docs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import dashboards_lint as lint

RUNBOOK = lint.ROOT / "docs" / "runbook.md"
ALERTS_DOC = lint.ROOT / "docs" / "alerts.md"
RUNBOOK_URL = (
    "https://github.com/sagemaker-training-exporter/sagemaker-training-exporter"
    "/blob/main/docs/runbook.md#"
)
SEVERITIES = {"critical", "warning", "info"}
IDENTITY_LABELS = ("training_job", "region", "account_id")

ALERTS = lint.all_alert_rules()
ALERT_NAMES = [rule["alert"] for rule in ALERTS]


def _github_anchor(heading: str) -> str:
    """The anchor GitHub generates for a Markdown heading."""
    slug = heading.strip().lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


def _runbook_anchors() -> set[str]:
    text = RUNBOOK.read_text(encoding="utf-8")
    return {_github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.+)$", text, re.M)}


def _alert_cases() -> list[tuple[str, dict[str, Any]]]:
    """(test file name, alert_rule_test entry) for every promtool alert test case."""
    cases = []
    for path in lint.rule_test_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for test in data["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.append((path.name, case))
    return cases


def test_there_are_rules_and_tests() -> None:
    assert len(lint.rule_files()) >= 2
    assert len(lint.rule_test_files()) >= 2
    assert len(ALERTS) >= 14
    assert len(set(ALERT_NAMES)) == len(ALERT_NAMES), "duplicate alert names"


def test_promtool_check_rules() -> None:
    files = [str(p) for p in lint.rule_files()]
    result = lint.promtool("check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(files)


def test_promtool_unit_tests_pass() -> None:
    files = [str(p) for p in lint.rule_test_files()]
    result = lint.promtool("test", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout


def test_unit_tests_load_every_rule_file() -> None:
    loaded: set[Path] = set()
    for path in lint.rule_test_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        loaded |= {(path.parent / f).resolve() for f in data["rule_files"]}
    assert loaded == {p.resolve() for p in lint.rule_files()}


def test_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """Drop the 'failed recently' window: the 'finished long ago must not page' case fails."""
    shutil.copytree(lint.ALERTS_DIR, tmp_path / "alerts")
    rules = tmp_path / "alerts" / "sagemaker-training-jobs.rules.yml"
    text = rules.read_text(encoding="utf-8")
    window = ") < 3600\n            )\n          )\n        keep_firing_for: 10m\n"
    assert text.count(window) >= 1
    rules.write_text(text.replace(window, window.replace("< 3600", "> -1"), 1), encoding="utf-8")
    result = lint.promtool("test", "rules", str(tmp_path / "alerts/tests/training-jobs.test.yml"))
    assert result.returncode != 0
    assert "SageMakerTrainingJobFailed" in result.stdout + result.stderr


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_NAMES)
def test_alert_has_severity_and_annotations(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    for key in ("summary", "description", "runbook_url"):
        assert annotations.get(key, "").strip(), key
    # a page someone can act on says what to do, not only what happened
    assert len(annotations["description"].split(".")) >= 3


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_NAMES)
def test_runbook_url_anchor_exists(rule: dict[str, Any]) -> None:
    url = rule["annotations"]["runbook_url"]
    assert url.startswith(RUNBOOK_URL)
    anchor = url.removeprefix(RUNBOOK_URL)
    assert anchor == rule["alert"].lower()
    assert anchor in _runbook_anchors()


def test_anchor_slugs_follow_github() -> None:
    assert _github_anchor("SageMakerExporterDown") == "sagemakerexporterdown"
    assert _github_anchor("What to do: step 1") == "what-to-do-step-1"


def test_every_alert_has_a_firing_and_a_quiet_test_case() -> None:
    firing = {case["alertname"] for _, case in _alert_cases() if case.get("exp_alerts")}
    quiet = {case["alertname"] for _, case in _alert_cases() if not case.get("exp_alerts")}
    assert set(ALERT_NAMES) - firing == set(), "alerts never fired by a promtool test"
    assert set(ALERT_NAMES) - quiet == set(), "alerts without a not-firing promtool test"
    assert firing | quiet <= set(ALERT_NAMES), "tests for alerts that do not exist"


def test_descriptions_name_every_identity_label_the_alert_carries() -> None:
    by_name = {rule["alert"]: rule for rule in ALERTS}
    checked = set()
    for _, case in _alert_cases():
        for alert in case.get("exp_alerts") or []:
            description = by_name[case["alertname"]]["annotations"]["description"]
            for label in IDENTITY_LABELS:
                if label in alert["exp_labels"]:
                    assert f"$labels.{label}" in description, (case["alertname"], label)
            checked.add(case["alertname"])
    per_job = {rule["alert"] for rule in ALERTS if "sagemaker_training_job_" in rule["expr"]}
    # every per-job alert was seen carrying training_job, region and account_id
    for name in per_job:
        text = by_name[name]["annotations"]["description"]
        assert all(f"$labels.{label}" in text for label in IDENTITY_LABELS), name
    assert checked == set(ALERT_NAMES)


def test_every_alert_is_documented_with_its_threshold() -> None:
    doc = ALERTS_DOC.read_text(encoding="utf-8")
    table_rows = [line for line in doc.splitlines() if line.startswith("| ")]
    for name in ALERT_NAMES:
        rows = [row for row in table_rows if f"`{name}`" in row]
        assert len(rows) == 1, f"{name} needs exactly one row in the thresholds table"
        severity = next(r for r in ALERTS if r["alert"] == name)["labels"]["severity"]
        assert severity in rows[0], name


def test_for_durations_are_production_sized() -> None:
    def seconds(duration: str) -> int:
        units = {"s": 1, "m": 60, "h": 3600}
        return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", duration))

    for rule in ALERTS:
        duration = seconds(rule.get("for", "0s"))
        # event alerts (a job failed / was stopped / was interrupted) fire at once; state
        # alerts wait out scrape and poll jitter, and none waits more than an hour
        assert duration <= 3600, rule["alert"]
        if rule["alert"].startswith("SageMakerExporter"):
            assert duration >= 300, rule["alert"]


# --- the local stack's configs (deploy/, used by scripts/stack) ------------------------------

DEPLOY = lint.ROOT / "deploy"
AMTOOL = "/usr/bin/amtool"  # shipped in the Debian prometheus-alertmanager package


def test_deploy_prometheus_config_is_valid_and_loads_every_rule_file() -> None:
    config_path = DEPLOY / "prometheus" / "prometheus.yml"
    result = lint.promtool("check", "config", str(config_path))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    loaded = {(config_path.parent / f).resolve() for f in config["rule_files"]}
    assert loaded == {p.resolve() for p in lint.rule_files()}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    # the exporter alerts select up{job="sagemaker-exporter"}
    assert "sagemaker-exporter" in jobs
    assert config["global"]["scrape_interval"] == "30s"
    am = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am == ["127.0.0.1:9093"]


def test_deploy_alertmanager_config_is_valid() -> None:
    if not Path(AMTOOL).exists():
        raise RuntimeError(
            f"{AMTOOL} is missing; install the Debian package prometheus-alertmanager"
        )
    config = DEPLOY / "alertmanager" / "alertmanager.yml"
    result = subprocess.run(
        [AMTOOL, "check-config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_deploy_alertmanager_routes_info_alerts_away_from_the_pager() -> None:
    config = DEPLOY / "alertmanager" / "alertmanager.yml"

    def receiver(labels: str) -> str:
        result = subprocess.run(
            [AMTOOL, "config", "routes", "test", f"--config.file={config}", *labels.split()],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return result.stdout.strip()

    assert receiver("alertname=SageMakerTrainingJobSpotInterrupted severity=info") == "info"
    assert receiver("alertname=SageMakerTrainingJobFailed severity=warning") == "team"


def test_stack_script_is_valid_bash() -> None:
    result = subprocess.run(
        ["bash", "-n", str(lint.ROOT / "scripts" / "stack")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# --- restarts and replicas (docs/alerts.md, "Restarts, replicas and keep_firing_for") ---------

TARGET_LABELS = {"job", "instance", "pod"}
# Alerts that need no hold through an exporter restart, and why.
NO_HOLD = {
    "SageMakerExporterDown": "must resolve as soon as the exporter is back; `for` covers restarts",
    "SageMakerExporterAbsent": "`up` exists (0) while the target is down",
    "SageMakerExporterThrottled": "a rate over [10m] keeps its samples through a short gap",
    "SageMakerTrainingFleetFailureRateHigh": "an increase over [1h] keeps its samples",
}


def test_alerts_on_exporter_series_hold_through_a_restart() -> None:
    for rule in ALERTS:
        name = rule["alert"]
        if name in NO_HOLD:
            assert "keep_firing_for" not in rule, name
            continue
        held = rule.get("keep_firing_for", "0s")
        assert held == "10m", f"{name}: keep_firing_for {held}, want 10m (see docs/alerts.md)"


def test_training_job_alerts_carry_no_target_label() -> None:
    """One alert per job whichever exporter replica or pod reports it: no job/instance/pod."""
    per_job = {rule["alert"] for rule in ALERTS if "sagemaker_training_job_" in rule["expr"]}
    seen = set()
    for _, case in _alert_cases():
        if case["alertname"] not in per_job:
            continue
        for alert in case.get("exp_alerts") or []:
            assert not TARGET_LABELS & set(alert["exp_labels"]), case["alertname"]
            seen.add(case["alertname"])
    assert seen == per_job
