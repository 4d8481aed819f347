"""Structural checks of the Grafana dashboards in dashboards/ and a real parse of every query."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.support import dashboards_lint as lint

DOCS = lint.ROOT / "docs" / "dashboards.md"

# Stable uids: links, docs and users' bookmarks depend on them; changing one is a breaking change.
EXPECTED_UIDS = {
    "sagemaker-fleet-overview.json": "sagemaker-fleet-overview",
    "sagemaker-training-job.json": "sagemaker-training-job",
    "sagemaker-exporter-health.json": "sagemaker-exporter-health",
    "sagemaker-cost-and-tuning.json": "sagemaker-cost-and-tuning",
}
CURRENT_PANEL_TYPES = {"timeseries", "stat", "table", "bargauge", "state-timeline", "row", "text"}
DATASOURCE_REF = {"type": "prometheus", "uid": "${datasource}"}

# Names from the metric contract (docs: the exporter's /metrics). Histogram and counter
# sample suffixes are listed as Prometheus stores them.
CONTRACT_METRICS = {
    *(
        f"sagemaker_training_job_{name}"
        for name in [
            "info",
            "status",
            "secondary_status",
            "phase_duration_seconds",
            "secondary_status_start_timestamp_seconds",
            "created_timestamp_seconds",
            "training_start_timestamp_seconds",
            "training_end_timestamp_seconds",
            "last_modified_timestamp_seconds",
            "training_seconds",
            "billable_seconds",
            "billable_instance_seconds",
            "spot_savings_ratio",
            "instances",
            "volume_size_bytes",
            "max_runtime_seconds",
            "max_wait_seconds",
            "max_pending_seconds",
            "final_metric",
            "final_metric_timestamp_seconds",
            "failure_info",
            "rule_evaluation_status",
            "warm_pool_status",
            "warm_pool_retained_billable_seconds",
            "security_info",
            "tags",
            "interruptions",
            "estimated_cost_dollars",
            "hourly_cost_dollars",
            "max_runtime_seconds",
            "progress_ratio",
            "progress_epoch",
        ]
    ),
    *(
        f"sagemaker_tuning_job_{name}"
        for name in [
            "status",
            "training_jobs",
            "max_training_jobs",
            "best_objective_value",
            "end_timestamp_seconds",
        ]
    ),
    "sagemaker_exporter_price_table_timestamp_seconds",
    "sagemaker_exporter_price_missing_total",
    "sagemaker_training_jobs_finished_total",
    "sagemaker_exporter_build_info",
    "sagemaker_exporter_api_requests_total",
    "sagemaker_exporter_api_request_duration_seconds_bucket",
    "sagemaker_exporter_api_request_duration_seconds_sum",
    "sagemaker_exporter_api_request_duration_seconds_count",
    "sagemaker_exporter_poll_duration_seconds",
    "sagemaker_exporter_last_successful_poll_timestamp_seconds",
    "sagemaker_exporter_target_up",
    "sagemaker_exporter_tracked_jobs",
    "sagemaker_exporter_polls_total",
    # --cloudwatch
    "sagemaker_training_job_host_utilization_ratio",
    "sagemaker_training_job_host_metrics_timestamp_seconds",
    "sagemaker_exporter_cloudwatch_metrics_requested_total",
    "sagemaker_exporter_cloudwatch_up",
    "sagemaker_exporter_cloudwatch_last_success_timestamp_seconds",
    "sagemaker_exporter_cloudwatch_cycles_total",
    "sagemaker_exporter_cloudwatch_warnings_total",
    # event mode
    "sagemaker_exporter_events_total",
    "sagemaker_exporter_events_up",
    "sagemaker_exporter_event_lag_seconds_bucket",
    "sagemaker_exporter_poll_interval_seconds",
}
_METRIC_RE = re.compile(r"\b(sagemaker_[a-z_]+)\b")

PATHS = lint.dashboard_paths()
DASHBOARDS = {path.name: lint.load_dashboard(path) for path in PATHS}


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def test_the_expected_dashboards_exist_with_stable_uids() -> None:
    assert {name: d["uid"] for name, d in DASHBOARDS.items()} == EXPECTED_UIDS
    for dash in DASHBOARDS.values():
        assert re.fullmatch(r"[a-zA-Z0-9_-]{8,40}", dash["uid"])
        assert dash["title"] and dash["tags"]
        # an id or version pinned to one Grafana instance breaks imports elsewhere
        assert "id" not in dash or dash["id"] is None


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_roundtrips_through_the_grafana_foundation_sdk_model(path: Path) -> None:
    dash = lint.load_dashboard(path)
    assert lint.lost_in_roundtrip(dash, lint.sdk_roundtrip(dash)) == []


def test_roundtrip_check_detects_unknown_keys() -> None:
    dash = lint.load_dashboard(PATHS[0])
    dash["panels"][0]["options"]["notAnOption"] = True
    dash["panels"][0]["targets"][0]["notAField"] = 1
    lost = lint.lost_in_roundtrip(dash, lint.sdk_roundtrip(dash))
    assert "$.panels[0].options.notAnOption: key lost" in lost
    assert "$.panels[0].targets[0].notAField: key lost" in lost


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_panel_ids_unique_and_panel_types_current(path: Path) -> None:
    panels = list(lint.iter_panels(DASHBOARDS[path.name]))
    assert panels
    dupes = [pid for pid, n in Counter(p["id"] for p in panels).items() if n > 1]
    assert dupes == []
    assert {p["type"] for p in panels} <= CURRENT_PANEL_TYPES


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_panels_do_not_overlap(path: Path) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in lint.iter_panels(DASHBOARDS[path.name]):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_every_target_has_an_expr_and_uses_the_datasource_variable(path: Path) -> None:
    dash = DASHBOARDS[path.name]
    targets = list(lint.iter_targets(dash))
    assert targets
    for panel, target in targets:
        assert target.get("expr", "").strip(), f"{panel['title']} {target.get('refId')}"
        assert target["refId"]
        assert target["datasource"] == DATASOURCE_REF, panel["title"]
        assert panel["datasource"] == DATASOURCE_REF, panel["title"]
    for panel in lint.iter_panels(dash):
        if panel["type"] != "row":
            assert panel.get("targets"), f"{panel['title']} has no query"
    # no datasource uid anywhere except the variable: imports must work in any Grafana
    for node in _walk(dash):
        ds = node.get("datasource")
        if isinstance(ds, dict):
            assert ds.get("uid") == "${datasource}", ds
        elif ds is not None:
            pytest.fail(f"datasource given as {ds!r}, not as a ref to ${{datasource}}")


@pytest.mark.parametrize("path", PATHS, ids=_ids(PATHS))
def test_template_variables(path: Path) -> None:
    dash = DASHBOARDS[path.name]
    variables = dash["templating"]["list"]
    ds = [v for v in variables if v["name"] == "datasource"]
    assert len(ds) == 1
    assert ds[0]["type"] == "datasource" and ds[0]["query"] == "prometheus"
    defined: set[str] = set()
    for var in variables:
        if var["type"] == "query":
            assert var["datasource"] == DATASOURCE_REF
            query = var["query"]
            lint.label_values_selector(query)  # raises on anything but label_values()
            # chained variables may only use variables defined before them
            assert lint.referenced_variables(query) <= defined, var["name"]
        defined.add(var["name"])
    names = lint.variable_names(dash)
    for panel, target in lint.iter_targets(dash):
        used = lint.referenced_variables(target["expr"])
        assert used <= names | lint.GRAFANA_BUILTINS, f"{panel['title']}: {used - names}"


def test_filter_variables_per_dashboard() -> None:
    names = {d["uid"]: lint.variable_names(d) for d in DASHBOARDS.values()}
    assert {"datasource", "account", "region", "instance_type"} <= names["sagemaker-fleet-overview"]
    assert {"datasource", "account", "region", "job"} <= names["sagemaker-training-job"]
    assert {"datasource", "instance", "account", "region"} <= names["sagemaker-exporter-health"]
    assert {"datasource", "account", "region"} <= names["sagemaker-cost-and-tuning"]


def test_links_point_at_existing_dashboards() -> None:
    uids = set(EXPECTED_UIDS.values())
    for dash in DASHBOARDS.values():
        linked = lint.dashboard_link_uids(dash)
        assert set(linked) <= uids, dash["uid"]
        # every dashboard reaches the other two from its header
        header = {u for link in dash["links"] for u in lint.dashboard_link_uids({"links": [link]})}
        assert header == uids - {dash["uid"]}
    fleet = DASHBOARDS["sagemaker-fleet-overview.json"]
    # job tables drill down into the training job dashboard
    assert "sagemaker-training-job" in lint.dashboard_link_uids({"panels": fleet["panels"]})


def test_link_extraction_sees_data_links() -> None:
    dash = {
        "links": [{"url": "/d/one/x"}],
        "panels": [
            {
                "fieldConfig": {
                    "defaults": {},
                    "overrides": [
                        {"properties": [{"id": "links", "value": [{"url": "/d/two?var-a=1"}]}]}
                    ],
                }
            }
        ],
    }
    assert lint.dashboard_link_uids(dash) == ["one", "two"]


def test_every_metric_name_is_in_the_contract() -> None:
    used: set[str] = set()
    for query in lint.iter_panel_queries():
        used |= set(_METRIC_RE.findall(query.expr))
    for rule in [r for p in lint.rule_files() for r in lint.load_rules(p)]:
        used |= set(_METRIC_RE.findall(rule["expr"]))
    for dash in DASHBOARDS.values():
        for _, query in lint.iter_variable_queries(dash):
            used |= set(_METRIC_RE.findall(query))
    assert used - CONTRACT_METRICS == set()


def test_every_query_parses_with_promtool() -> None:
    exprs: dict[str, str] = {}
    for q in lint.iter_panel_queries():
        exprs[f"{q.dashboard_uid} / {q.panel_title} / {q.ref_id}"] = q.expr
    for dash in DASHBOARDS.values():
        for name, query in lint.iter_variable_queries(dash):
            selector = lint.label_values_selector(query)
            if selector:
                exprs[f"{dash['uid']} / variable {name}"] = lint.substitute(
                    selector, lint.DEFAULT_VALUES
                )
    for path in lint.rule_files():
        for rule in lint.load_rules(path):
            exprs[f"{path.name} / {rule.get('alert') or rule.get('record')}"] = rule["expr"]
    assert len(exprs) > 60
    assert lint.check_exprs_parse(exprs) == {}


def test_parse_check_reports_a_broken_query() -> None:
    errors = lint.check_exprs_parse(
        {"good": "sum(up)", "bad": "sum by(x (rate(up[5m]))", "bad2": "up[$__range]"}
    )
    assert set(errors) == {"bad", "bad2"}


def test_substitution_replaces_every_variable_form() -> None:
    text = 'x{a=~"$account", b="${region}", c="${job:raw}", d="[[instance]]"}[$__range]'
    assert lint.substitute(text, lint.DEFAULT_VALUES) == (
        'x{a=~"111122223333", b="us-east-1", c="demo-training-job", d="127.0.0.1:9843"}[1h]'
    )
    with pytest.raises(KeyError):
        lint.substitute("$undefined_var", lint.DEFAULT_VALUES)


def test_every_panel_is_documented() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for dash in DASHBOARDS.values():
        assert dash["uid"] in docs
        for panel in lint.iter_panels(dash):
            assert f"**{panel['title']}**" in docs, f"{dash['uid']}: {panel['title']}"
        for name in lint.variable_names(dash):
            assert f"`{name}`" in docs, name
