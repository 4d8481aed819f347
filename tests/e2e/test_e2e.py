"""End to end: demo exporter -> Prometheus (shipped rules) -> Alertmanager -> webhook, and every
dashboard panel query against that Prometheus.

One stack per module (tests/support/e2e_stack.py): the exporter in --demo mode (a simulated fleet in an
embedded moto, polled through the real aiobotocore code), /usr/bin/prometheus scraping it every
second with alerts/*.rules.yml, and /usr/bin/prometheus-alertmanager posting to a webhook
recorder in this process. The rule files are copies in which every `for:` is 1s, so the test
does not wait out production hold times (5m-30m); expressions, labels and annotations are the
shipped ones, unchanged. Prometheus runs with --query.lookback-delta=15s (default 5m) so
that the series of a removed scrape job vanish quickly enough for SageMakerExporterAbsent.

The demo runs at --demo-speed 60 with its default seed, so its live showcase jobs (a spot job
stopped by MaxWaitTimeExceeded, a job stopped by MaxRuntimeExceeded) reach their end within
about 90 s of the start; the backdated ones (stuck in Starting, near MaxRuntimeInSeconds and
over the instance-hour budget, stalled for over an hour, failed recently, IssuesFound) hold
from the first poll. A hyperparameter sweep in one account/region ends 35-65 s after the
start, most trials Failed, while the exporter watches: the fleet failure-rate alert.

Run with -s to see the state-change-to-page report; it is also written as JSON next to the
processes' logs (the path is printed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import dashboards_lint as lint
from tests.support.e2e_stack import SCRAPE_JOB, Notification, Stack, run_stack, wait_for

EXPORTER_FLAGS = (
    # Event mode (the demo publishes its changes through EventBridge and SQS): polling at 5
    # minutes, as in production, so what pages within the test came by event; 1 s only if
    # the queues failed.
    "--events-poll-interval",
    "5m",
    "--poll-interval",
    "1s",
    "--demo-speed",
    "60",
    "--tag-labels",
    "team,project,demo-scenario",
    "--cloudwatch",
    "--cloudwatch-interval",
    "2s",
)
DEMO_TARGETS = {
    ("us-east-1", "123456789012"),
    ("eu-west-1", "123456789012"),
    ("us-east-1", "210987654321"),
    ("eu-west-1", "210987654321"),
}
RUNBOOK = "https://github.com/sagemaker-training-exporter/sagemaker-training-exporter/blob/main/docs/runbook.md#"

# Alerts the demo fleet triggers, and how.
DEMO_ALERTS = {
    "SageMakerTrainingJobFailed": "failed-client/-algorithm/-capacity jobs ended 15-90 min ago "
    "(a capacity failure has no TrainingEndTime), plus live arrivals that fail",
    "SageMakerTrainingJobWaitingForCapacity": "two capacity-wait jobs backdated 31-50 min "
    "into Starting",
    "SageMakerTrainingJobNearMaxRuntime": "a near-max-runtime job at 94-98% and the live "
    "max-runtime job",
    "SageMakerTrainingJobStoppedByLimit": "the live max-runtime and spot-max-wait jobs end "
    "during the test (MaxRuntimeExceeded, MaxWaitTimeExceeded)",
    "SageMakerTrainingJobSpotInterrupted": "a spot job placed at its Interrupted step; live "
    "spot arrivals",
    "SageMakerTrainingJobRuleIssuesFound": "debugger rules with IssuesFound on running and "
    "recently failed jobs",
    "SageMakerTrainingJobStalled": "the stalled job: Training for 1.5-2 h, newest metric "
    "62-80 min old",
    "SageMakerTrainingJobOverBudget": "the near-max-runtime job: 8 instances for about a day "
    "(over 170 instance-hours)",
    "SageMakerTrainingFleetFailureRateHigh": "a 14-trial sweep in one account/region ends "
    "35-65 s after start, 8 trials Failed on a corrupt data shard",
    "SageMakerTrainingJobGpuIdle": "the stalled job's hosts publish GPUs at 0-4% to moto "
    "CloudWatch while it is in Training",
    "SageMakerTrainingHostMemoryHigh": "the stalled job's hosts publish memory at 96-98.5%",
    "SageMakerTrainingHostDiskFull": "the stalled job's hosts publish disk at 91-95%",
    "SageMakerTrainingJobProjectedCostOverBudget": "the near-max-runtime job: 8 "
    "ml.trn1.32xlarge at the example table's price (about 200 USD/h) with hours left",
    "SageMakerTuningJobNonRetryableErrors": "the sweep's tuning job: 8 trials Failed on the "
    "corrupt data shard",
}
# Alerts on the exporter that this module causes itself, at the end.
CAUSED_ALERTS = {
    "SageMakerExporterDown": "the test kills the exporter",
    "SageMakerExporterAbsent": "the test reloads Prometheus without the exporter's scrape job",
}
# Alerts the demo cannot trigger; promtool unit tests (alerts/tests/) cover them.
NOT_TRIGGERABLE = {
    "SageMakerExporterPollsFailing": "the demo's embedded moto never fails a poll",
    "SageMakerExporterPollStale": "the demo's embedded moto never fails a poll",
    "SageMakerExporterThrottled": "moto never throttles",
    "SageMakerExporterCloudWatchFailing": "the demo's embedded moto CloudWatch never fails",
    "SageMakerExporterEventsDown": "the demo's queues never fail (tests/integration/test_events_moto.py "
    "deletes a queue)",
}
# The demo never gets near their inputs: firing would be a false positive.
MUST_NOT_FIRE = set(NOT_TRIGGERABLE)

RULES = {rule["alert"]: rule for rule in lint.all_alert_rules()}
# Utilisation alerts: the resource each reads and what its threshold says.
UTILIZATION_ALERTS = {
    "SageMakerTrainingJobGpuIdle": ("gpu", lambda v: v < 0.1),
    "SageMakerTrainingHostMemoryHigh": ("memory", lambda v: v > 0.95),
    "SageMakerTrainingHostDiskFull": ("disk", lambda v: v > 0.9),
}
PER_JOB = {name for name, rule in RULES.items() if "sagemaker_training_job_" in rule["expr"]}
ENDED_WINDOW = 3600  # the rules' "ended recently" window


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from run_stack(tmp_path_factory.mktemp("e2e"), *EXPORTER_FLAGS)


def _scraped(stack: Stack) -> bool:
    result = stack.prometheus.query(
        f'count(sagemaker_exporter_target_up{{job="{SCRAPE_JOB}"}} == 1)'
    )
    return bool(result) and float(result[0]["value"][1]) == len(DEMO_TARGETS)


def _job_key(labels: dict[str, str] | Any) -> tuple[str, str, str]:
    return labels["training_job"], labels["region"], labels["account_id"]


def _recent(selector: str) -> str:
    """The selector's latest sample in the last 30 s. On a loaded machine a scrape can time
    out (tests/support/e2e_stack.py), and Prometheus then marks every series of the target
    stale until the next, so an instant query may find nothing."""
    return f"last_over_time({selector}[30s])"


def _series_by_job(
    stack: Stack, selector: str, at: float | None = None
) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {_job_key(s["metric"]): s for s in stack.prometheus.query(_recent(selector), at)}


def _ended_at(stack: Stack, at: float) -> dict[tuple[str, str, str], float]:
    """When each job ended, from the raw series: TrainingEndTime, else LastModifiedTime (a
    finished job has the second only without the first)."""
    end = _series_by_job(stack, "sagemaker_training_job_training_end_timestamp_seconds", at)
    modified = _series_by_job(stack, "sagemaker_training_job_last_modified_timestamp_seconds", at)
    return {k: float((end.get(k) or modified[k])["value"][1]) for k in {*end, *modified}}


def test_alert_lists_cover_every_rule() -> None:
    lists = [set(DEMO_ALERTS), set(CAUSED_ALERTS), set(NOT_TRIGGERABLE)]
    assert set.union(*lists) == set(RULES)
    assert sum(len(s) for s in lists) == len(RULES)


def test_demo_alerts_page_through_alertmanager(stack: Stack) -> None:
    hook = stack.webhook
    wait_for("Prometheus to scrape all four demo targets", lambda: _scraped(stack), timeout=60)

    def arrived() -> bool:
        firing = {n.labels["alertname"] for n in hook.firing()}
        limits = {
            n.labels.get("secondary_status")
            for n in hook.firing("SageMakerTrainingJobStoppedByLimit")
        }
        return (
            set(DEMO_ALERTS) <= firing and {"MaxRuntimeExceeded", "MaxWaitTimeExceeded"} <= limits
        )

    try:
        wait_for("every demo alert at the webhook", arrived, timeout=150, every=0.5)
    except AssertionError:
        got = sorted({n.labels["alertname"] for n in hook.firing()})
        raise AssertionError(f"received only {got}\n{stack.logs()}") from None

    # Every job that failed in the last 50 minutes pages; none that ended over an hour ago
    # does, although --retention keeps exporting them.
    now = time.time()
    failed = _series_by_job(stack, "sagemaker_training_job_failure_info", now)
    ended = _ended_at(stack, now)
    recent = {k for k in failed if now - ended[k] < ENDED_WINDOW - 600}
    old_failed = {k for k in failed if now - ended[k] > ENDED_WINDOW + 60}
    assert recent and old_failed, "the demo should have failures both recent and old"

    def failure_pages() -> set[tuple[str, str, str]]:
        return {_job_key(n.labels) for n in hook.firing("SageMakerTrainingJobFailed")}

    wait_for("a page for every recent failure", lambda: recent <= failure_pages(), timeout=30)
    assert not old_failed & failure_pages(), "a job that failed over an hour ago paged"

    long_ago = {k for k, t in ended.items() if now - t > ENDED_WINDOW + 60}
    for name in ("SageMakerTrainingJobStoppedByLimit", "SageMakerTrainingJobRuleIssuesFound"):
        assert not {_job_key(n.labels) for n in hook.firing(name)} & long_ago, name
    old_issues = _series_by_job(
        stack, 'sagemaker_training_job_rule_evaluation_status{status="IssuesFound"}', now
    )
    assert set(old_issues) & long_ago, "the demo should have an old job with IssuesFound"

    for n in hook.firing():
        _check_notification(stack, n)
    fired = {n.labels["alertname"] for n in hook.firing()}
    assert not fired & MUST_NOT_FIRE, "false positives"
    _report(stack, hook.firing(), Path(stack.workdir))
    rate = min(hook.firing("SageMakerTrainingFleetFailureRateHigh"), key=lambda n: n.received_at)
    print(
        f"  fleet failure rate: {rate.labels['account_id']}/{rate.labels['region']} paged "
        f"{rate.received_at - stack.started_at:.1f}s after start"
    )


def _check_notification(stack: Stack, n: Notification) -> None:
    name = n.labels["alertname"]
    rule = RULES[name]
    assert n.labels["severity"] == rule["labels"]["severity"], name
    assert n.annotations["runbook_url"] == RUNBOOK + name.lower()
    for key in ("summary", "description"):
        text = n.annotations[key]
        assert text and "{{" not in text and "<no value>" not in text, (name, text)
    if name == "SageMakerTrainingFleetFailureRateHigh":
        _check_failure_rate(stack, n)
    if name not in PER_JOB:
        return
    job, region, account = _job_key(n.labels)
    assert (region, account) in DEMO_TARGETS
    for value in (job, region, account):
        assert value in n.annotations["description"], (name, value)
    assert job in n.annotations["summary"]
    at = n.received_at
    sel = f'training_job="{job}", region="{region}", account_id="{account}"'
    assert stack.prometheus.query(_recent(f"sagemaker_training_job_info{{{sel}}}"), at), (
        name,
        job,
    )
    if name == "SageMakerTrainingJobFailed":
        # category and reason are the exporter's failure_info labels for this job
        (info,) = stack.prometheus.query(
            _recent(f"sagemaker_training_job_failure_info{{{sel}}}"), at
        )
        assert n.labels["category"] == info["metric"]["category"]
        assert n.labels["reason"] == info["metric"]["reason"]
        assert n.labels["category"] in {"ClientError", "AlgorithmError", "CapacityError"}
        assert n.labels["reason"].startswith(n.labels["category"] + ":")
        assert n.labels["category"] in n.annotations["description"]
    elif name == "SageMakerTrainingJobStoppedByLimit":
        status = n.labels["secondary_status"]
        assert status in {"MaxRuntimeExceeded", "MaxWaitTimeExceeded"}
        assert status in n.annotations["summary"]
    elif name == "SageMakerTrainingJobRuleIssuesFound":
        rule_sel = f'{sel}, rule="{n.labels["rule"]}", status="IssuesFound"'
        assert stack.prometheus.query(
            f"sagemaker_training_job_rule_evaluation_status{{{rule_sel}}}", at
        )
        assert n.labels["rule_type"] in {"debugger", "profiler"}
    elif name == "SageMakerTrainingJobWaitingForCapacity":
        (start,) = stack.prometheus.query(
            f"sagemaker_training_job_secondary_status_start_timestamp_seconds{{{sel}}}", at
        )
        assert at - float(start["value"][1]) > 1800
    elif name == "SageMakerTrainingJobStalled":
        assert _scenario(stack, sel, at) == "stalled"
        (start,) = stack.prometheus.query(
            f"sagemaker_training_job_secondary_status_start_timestamp_seconds{{{sel}}}", at
        )
        assert at - float(start["value"][1]) > 3600
        stamps = stack.prometheus.query(
            f"sagemaker_training_job_final_metric_timestamp_seconds{{{sel}}}", at
        )
        assert stamps and all(at - float(s["value"][1]) > 3600 for s in stamps)
    elif name in UTILIZATION_ALERTS:
        # The demo makes only the stalled job's hosts idle, nearly out of memory and disk.
        assert _scenario(stack, sel, at) == "stalled"
        resource, breach = UTILIZATION_ALERTS[name]
        host = f', host="{n.labels["host"]}"' if "host" in n.labels else ""
        ratios = stack.prometheus.query(
            f'sagemaker_training_job_host_utilization_ratio{{{sel}, resource="{resource}"{host}}}',
            at,
        )
        assert ratios and all(breach(float(r["value"][1])) for r in ratios), ratios
    elif name == "SageMakerTrainingJobOverBudget":
        # Billed instance-hours from the billable seconds and the instance groups.
        (billable,) = stack.prometheus.query(
            f"sagemaker_training_job_billable_seconds{{{sel}}}", at
        )
        groups = stack.prometheus.query(f"sagemaker_training_job_instances{{{sel}}}", at)
        instances = sum(float(g["value"][1]) for g in groups)
        assert instances > 1
        assert float(billable["value"][1]) * instances / 3600 > 100


def _scenario(stack: Stack, sel: str, at: float) -> str:
    """The job's demo-scenario tag: why the demo made it behave as it does."""
    (tags,) = stack.prometheus.query(f"sagemaker_training_job_tags{{{sel}}}", at)
    scenario: str = tags["metric"]["tag_demo_scenario"]
    return scenario


def _check_failure_rate(stack: Stack, n: Notification) -> None:
    region, account = n.labels["region"], n.labels["account_id"]
    assert (region, account) in DEMO_TARGETS
    for key in ("summary", "description"):
        assert region in n.annotations[key] and account in n.annotations[key], key
    # The page is for the account/region of the sweep whose trials hit the data bug ...
    sweeps = stack.prometheus.query(
        'sagemaker_training_job_tags{tag_demo_scenario="sweep-data-bug"}', n.received_at
    )
    assert (region, account) in {(s["metric"]["region"], s["metric"]["account_id"]) for s in sweeps}
    # ... and the exporter's counter there shows the failures (the test runs well within the
    # rule's hour, and the counter starts at 0 when the exporter does).
    sel = f'region="{region}", account_id="{account}"'
    counted = {
        s["metric"]["status"]: float(s["value"][1])
        for s in stack.prometheus.query(_recent(f"sagemaker_training_jobs_finished_total{{{sel}}}"))
    }
    total = sum(counted.values())
    assert total >= 10 and counted["Failed"] / total > 0.25, counted


def _report(stack: Stack, firing: list[Notification], dest: Path) -> None:
    """Time from each job's state change to its page, printed and written as JSON."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for n in sorted(firing, key=lambda n: n.received_at):
        identity = tuple(sorted(n.labels.items()))
        if identity in seen or n.labels["alertname"] not in PER_JOB:
            continue
        seen.add(identity)
        job, region, account = _job_key(n.labels)
        sel = f'training_job="{job}", region="{region}", account_id="{account}"'
        # A running job's change starts its secondary status; a finished job's is its end
        # (the demo starts the terminal status at TrainingEndTime, else LastModifiedTime).
        start = stack.prometheus.query(
            f"sagemaker_training_job_secondary_status_start_timestamp_seconds{{{sel}}}"
            f" or sagemaker_training_job_training_end_timestamp_seconds{{{sel}}}"
            f" or sagemaker_training_job_last_modified_timestamp_seconds{{{sel}}}",
            n.received_at,
        )
        changed = float(start[0]["value"][1]) if start else None
        rows.append(
            {
                "alertname": n.labels["alertname"],
                "training_job": job,
                "region": region,
                "account_id": account,
                "secondary_status_start": changed,
                "paged_at": n.received_at,
                "seconds_since_state_change": None
                if changed is None
                else round(n.received_at - changed, 1),
                "state_changed_while_watched": changed is not None and changed >= stack.started_at,
                "seconds_since_stack_start": round(n.received_at - stack.started_at, 1),
            }
        )
    path = dest / "time_to_page.json"
    path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(f"\nstate change -> page ({path}):")
    for r in rows:
        kind = "live" if r["state_changed_while_watched"] else "backdated"
        print(
            f"  {r['alertname']:40s} {r['training_job']:40s} {kind:9s} "
            f"{r['seconds_since_state_change']!s:>9s}s after the change, "
            f"{r['seconds_since_stack_start']}s after start"
        )
    live = [
        float(r["seconds_since_state_change"]) for r in rows if r["state_changed_while_watched"]
    ]
    if live:
        print(f"  live changes: {len(live)}, max {max(live)}s, min {min(live)}s")


# Panel targets that return no data from the demo, and why. Keyed by (dashboard uid, panel
# title, refId); the test fails if one of them starts returning data, so the list stays true.
NO_DATA_EXPECTED: dict[tuple[str, str, str], str] = {}

STEP = 2  # seconds between range-query points; Grafana's $__interval
SCRAPE = 1  # the test Prometheus's scrape interval


def _variable_values(stack: Stack, dashboard: dict[str, Any]) -> dict[str, list[str]]:
    """Each variable's options as Grafana would load them: label_values() through the
    Prometheus label API, chained variables resolved in order, All first where included."""
    options: dict[str, list[str]] = {}
    current: dict[str, str] = {}
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        selector = lint.substitute(lint.label_values_selector(query), current)
        label = query.rstrip().rstrip(")").rsplit(",", 1)[-1].strip()
        values = sorted(stack.prometheus.label_values(label, selector))
        assert values, f"{dashboard['uid']}: variable {var['name']} has no values"
        options[var["name"]] = [var["allValue"], *values] if var.get("includeAll") else values
        current[var["name"]] = options[var["name"]][0]
    return options


def _has_data(stack: Stack, query: lint.PanelQuery, start: float, end: float) -> bool:
    if query.instant:
        return bool(stack.prometheus.query(query.expr, end))
    return bool(stack.prometheus.query_range(query.expr, start, end, STEP))


def test_every_panel_query_returns_data(stack: Stack) -> None:
    wait_for("Prometheus to scrape all four demo targets", lambda: _scraped(stack), timeout=60)
    # enough history (30 scrapes) for rates and the range panels
    samples = f'count_over_time(up{{job="{SCRAPE_JOB}"}}[10m]) >= 30'
    wait_for("30 s of samples", lambda: stack.prometheus.query(samples), timeout=60)
    start, end = stack.started_at, time.time()
    window = int(end - start)
    builtins = {
        "__range": f"{window}s",
        "__range_s": str(window),
        "__range_ms": str(window * 1000),
        "__interval": f"{STEP}s",
        "__interval_ms": str(STEP * 1000),
        # Grafana: max($__interval + scrape interval, 4 x scrape interval)
        "__rate_interval": f"{max(STEP + SCRAPE, 4 * SCRAPE)}s",
    }
    empty: dict[tuple[str, str, str], str] = {}
    checked = 0
    picked_jobs: dict[str, str] = {}
    for path in lint.dashboard_paths():
        dashboard = lint.load_dashboard(path)
        options = _variable_values(stack, dashboard)
        # Multi-select variables start at All; single-select ones at their first value,
        # except `job`: every job is tried until one shows data for the panel.
        base = {name: values[0] for name, values in options.items()} | builtins
        jobs = options.get("job", [""])
        queries = lint.iter_panel_queries(base | {"job": jobs[0]}, [path])
        for i, query in enumerate(queries):
            key = (query.dashboard_uid, query.panel_title, query.ref_id)
            checked += 1
            if _has_data(stack, query, start, end):
                continue
            found = None
            for job in jobs[1:]:
                alt = list(lint.iter_panel_queries(base | {"job": job}, [path]))[i]
                if _has_data(stack, alt, start, end):
                    found = job
                    break
            if found is None:
                empty[key] = query.expr
            else:
                picked_jobs[f"{query.panel_title} / {query.ref_id}"] = found
    print(f"\n{checked} panel queries; job picked for job-specific panels: {picked_jobs}")
    unexpected = {k: v for k, v in empty.items() if k not in NO_DATA_EXPECTED}
    assert unexpected == {}, "panel queries without data"
    assert set(NO_DATA_EXPECTED) <= set(empty), "these return data now: drop them from the list"
    assert checked > 50


# Per-job alerts that a job's state change (its new secondary status) sets off: the time
# from the change to the page is the exporter's latency plus one scrape, one evaluation and
# the `for:` of the test's rule copies (1 s).
STATE_CHANGE_ALERTS = (
    "SageMakerTrainingJobFailed",
    "SageMakerTrainingJobStoppedByLimit",
    "SageMakerTrainingJobSpotInterrupted",
)
POLLING_FLAGS = (
    "--no-demo-events",
    "--poll-interval",
    "30s",  # the production default
    "--demo-speed",
    "60",
    "--tag-labels",
    "team,project,demo-scenario",
)
LIVE_PAGES = 8  # the demo's sweep alone fails 8 trials 35-65 s after start


@pytest.fixture
def polling_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The same demo fleet (same seed) watched by polling alone, in its own stack."""
    yield from run_stack(tmp_path_factory.mktemp("e2e-polling"), *POLLING_FLAGS)


def _change_to_page(stack: Stack) -> dict[tuple[str, ...], float]:
    """Seconds from each live state change (the new secondary status's start, after the
    stack started) to the first page it set off."""
    out: dict[tuple[str, ...], float] = {}
    for n in sorted(stack.webhook.firing(), key=lambda n: n.received_at):
        name = n.labels["alertname"]
        if name not in STATE_CHANGE_ALERTS:
            continue
        job, region, account = _job_key(n.labels)
        key = (name, job, region, account)
        if key in out:
            continue
        sel = f'training_job="{job}", region="{region}", account_id="{account}"'
        # A running job's change starts its secondary status; a finished job's is its end
        # (the demo starts the terminal status at TrainingEndTime, else LastModifiedTime).
        start = stack.prometheus.query(
            f"sagemaker_training_job_secondary_status_start_timestamp_seconds{{{sel}}}"
            f" or sagemaker_training_job_training_end_timestamp_seconds{{{sel}}}"
            f" or sagemaker_training_job_last_modified_timestamp_seconds{{{sel}}}",
            n.received_at,
        )
        if start and float(start[0]["value"][1]) >= stack.started_at:
            out[key] = n.received_at - float(start[0]["value"][1])
    return out


def _p50(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def test_state_change_to_page_event_mode_vs_polling(stack: Stack, polling_stack: Stack) -> None:
    """Both stacks run at once on the same simulated fleet: Prometheus scraping every 2 s
    and evaluating every second, rule copies with `for: 1s`, Alertmanager sending at once."""
    wait_for(
        f"{LIVE_PAGES} live state-change pages from each stack",
        lambda: all(len(_change_to_page(s)) >= LIVE_PAGES for s in (stack, polling_stack)),
        timeout=180,
        every=1,
    )
    events = sorted(_change_to_page(stack).values())
    polling = sorted(_change_to_page(polling_stack).values())
    report = {
        "event_mode": {
            "pages": len(events),
            "p50_s": round(_p50(events), 2),
            "max_s": round(max(events), 2),
            "seconds": [round(v, 2) for v in events],
        },
        "polling_30s": {
            "pages": len(polling),
            "p50_s": round(_p50(polling), 2),
            "max_s": round(max(polling), 2),
            "seconds": [round(v, 2) for v in polling],
        },
    }
    path = Path(stack.workdir) / "change_to_page.json"
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(
        f"\nstate change -> webhook ({path}): event mode p50 {report['event_mode']['p50_s']} s "
        f"(max {report['event_mode']['max_s']} s, {len(events)} pages); polling every 30 s "
        f"p50 {report['polling_30s']['p50_s']} s (max {report['polling_30s']['max_s']} s, "
        f"{len(polling)} pages)"
    )
    # The issue's goal (3 s); measured at 0.8 s with 1 s scrapes, 1.45 s with 2 s (2 cores).
    assert _p50(events) <= 3.0, report
    assert _p50(events) < _p50(polling) / 2, report


def test_exporter_down_then_absent_pages_and_job_alerts_resolve(stack: Stack) -> None:
    """Runs last: it kills the exporter and drops its scrape job."""
    hook, prom = stack.webhook, stack.prometheus
    wait_for("a failure page", lambda: hook.firing("SageMakerTrainingJobFailed"), timeout=120)
    instance = stack.exporter_address
    killed_at = time.time()
    stack.exporter.stop()

    def down() -> list[Notification]:
        return [n for n in hook.firing("SageMakerExporterDown") if n.received_at > killed_at]

    (page,) = wait_for("SageMakerExporterDown at the webhook", down, timeout=60)
    assert page.labels["job"] == SCRAPE_JOB and page.labels["instance"] == instance
    assert page.labels["severity"] == "critical"
    assert instance in page.annotations["description"]
    _check_notification(stack, page)
    print(f"\nexporter killed -> SageMakerExporterDown page: {page.received_at - killed_at:.1f}s")

    # With the target down its series go stale, so every per-job alert that was firing
    # when the exporter died resolves once keep_firing_for (KEEP_FIRING_FOR here) has
    # passed; except alerts over a range ([15m] of interruptions), whose samples stay in the
    # window after the series end.
    instant = {name for name in PER_JOB if "[" not in RULES[name]["expr"]}
    latest: dict[tuple[tuple[str, str], ...], str] = {}
    for n in hook.snapshot():
        if n.received_at <= killed_at and n.labels["alertname"] in instant:
            latest[tuple(sorted(n.labels.items()))] = n.status
    active = {identity for identity, status in latest.items() if status == "firing"}
    assert active

    def all_resolved() -> bool:
        resolved = {
            tuple(sorted(n.labels.items()))
            for n in hook.snapshot()
            if n.status == "resolved" and n.received_at > killed_at
        }
        return active <= resolved

    wait_for("every per-job alert to resolve", all_resolved, timeout=120)

    # Another job stays, as in a real Prometheus: with no scrape config at all, Prometheus
    # 2.42 keeps scraping the old targets.
    config = prom.config()
    config["scrape_configs"] = [
        {
            "job_name": "prometheus",
            "static_configs": [{"targets": [prom.url.removeprefix("http://")]}],
        }
    ]
    removed_at = time.time()
    prom.reload(config)

    def absent() -> list[Notification]:
        return [n for n in hook.firing("SageMakerExporterAbsent") if n.received_at > removed_at]

    (page,) = wait_for("SageMakerExporterAbsent at the webhook", absent, timeout=60)
    assert page.labels["job"] == SCRAPE_JOB and page.labels["severity"] == "critical"
    _check_notification(stack, page)
    print(
        f"scrape job removed -> SageMakerExporterAbsent page: {page.received_at - removed_at:.1f}s"
    )
    # the target is gone, so SageMakerExporterDown resolves
    wait_for(
        "SageMakerExporterDown to resolve",
        lambda: [
            n
            for n in hook.snapshot()
            if n.status == "resolved" and n.labels["alertname"] == "SageMakerExporterDown"
        ],
        timeout=60,
    )
