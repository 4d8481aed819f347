"""Helpers to inspect the Grafana dashboards in dashboards/ and the rule files in alerts/.

Used by tests/artefacts/test_dashboards.py and tests/artefacts/test_alert_rules.py. `iter_panel_queries` is the
entry point for an end-to-end test that runs every panel query against a real Prometheus:
it yields each target's PromQL with the template variables replaced by concrete values.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = ROOT / "dashboards"
ALERTS_DIR = ROOT / "alerts"
PROMTOOL = "/usr/bin/promtool"

# Variables Grafana defines itself; dashboards may use them without declaring them.
GRAFANA_BUILTINS = frozenset(
    {"__range", "__range_s", "__range_ms", "__rate_interval", "__interval", "__interval_ms"}
)

# Plausible values for parsing; an end-to-end test passes values that match its data.
DEFAULT_VALUES: Mapping[str, str] = {
    "account": "111122223333",
    "region": "us-east-1",
    "instance_type": "ml.m5.xlarge",
    "job": "demo-training-job",
    "exporter_job": "sagemaker-exporter",
    "instance": "127.0.0.1:9843",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "__rate_interval": "2m",
    "__interval": "1m",
    "__interval_ms": "60000",
}

# $var, ${var}, ${var:format} and the deprecated [[var]]
_VAR_RE = re.compile(r"\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]")


@dataclass(frozen=True)
class PanelQuery:
    dashboard_uid: str
    dashboard_title: str
    panel_id: int
    panel_title: str
    ref_id: str
    expr: str
    instant: bool


def dashboard_paths() -> list[Path]:
    return sorted(DASHBOARD_DIR.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, including those nested in (collapsed) rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def iter_targets(dashboard: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target


def variable_names(dashboard: Mapping[str, Any]) -> set[str]:
    return {v["name"] for v in dashboard.get("templating", {}).get("list", [])}


def referenced_variables(text: str) -> set[str]:
    return {next(g for g in m.groups() if g) for m in _VAR_RE.finditer(text)}


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace template variables the way Grafana does for a single selected value."""

    def repl(m: re.Match[str]) -> str:
        name = next(g for g in m.groups() if g)
        if name not in values:
            raise KeyError(f"no value for template variable {name!r} in {text!r}")
        return values[name]

    return _VAR_RE.sub(repl, text)


def iter_panel_queries(
    values: Mapping[str, str] = DEFAULT_VALUES,
    paths: list[Path] | None = None,
) -> Iterator[PanelQuery]:
    """(dashboard, panel, expr with variables substituted) for every target of every panel."""
    for path in paths if paths is not None else dashboard_paths():
        dash = load_dashboard(path)
        for panel, target in iter_targets(dash):
            yield PanelQuery(
                dashboard_uid=dash["uid"],
                dashboard_title=dash["title"],
                panel_id=panel["id"],
                panel_title=panel.get("title", ""),
                ref_id=target.get("refId", ""),
                expr=substitute(target["expr"], values),
                instant=bool(target.get("instant")) and not target.get("range"),
            )


def iter_variable_queries(dashboard: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(variable name, query string) for every Prometheus query variable."""
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var["query"]
            yield var["name"], query["query"] if isinstance(query, dict) else query


def label_values_selector(query: str) -> str:
    """The series selector of label_values(selector, label), or '' for label_values(label)."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query, re.S)
    if m:
        return m.group(1)
    if re.fullmatch(r"\s*label_values\(\s*\w+\s*\)\s*", query):
        return ""
    raise ValueError(f"not a label_values() query: {query!r}")


def dashboard_link_uids(dashboard: Mapping[str, Any]) -> list[str]:
    """uids that dashboard links and panel/field data links point at (/d/<uid>...)."""
    urls = [link.get("url", "") for link in dashboard.get("links", [])]
    for panel in iter_panels(dashboard):
        urls += [link.get("url", "") for link in panel.get("links", [])]
        field_config = panel.get("fieldConfig", {})
        urls += [link.get("url", "") for link in field_config.get("defaults", {}).get("links", [])]
        for override in field_config.get("overrides", []):
            for prop in override.get("properties", []):
                if prop.get("id") == "links":
                    urls += [link.get("url", "") for link in prop["value"]]
    return [m.group(1) for url in urls if (m := re.match(r"/d/([^/?&#]+)", url))]


def sdk_roundtrip(dashboard: Mapping[str, Any]) -> Any:
    """Decode with the grafana-foundation-sdk dashboard model and encode back to JSON."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    # registers the typed panel options and the prometheus dataquery decoders
    register_default_plugins()
    model = Dashboard.from_json(dict(dashboard))
    return json.loads(json.dumps(model, cls=JSONEncoder))


def lost_in_roundtrip(original: Any, decoded: Any, path: str = "$") -> list[str]:
    """Paths whose key or value in `original` is missing or different in `decoded`.

    The SDK may add defaults, so `decoded` can hold extra keys; it must lose nothing.
    """
    if isinstance(original, dict):
        if not isinstance(decoded, dict):
            return [f"{path}: object became {type(decoded).__name__}"]
        out: list[str] = []
        for key, value in original.items():
            if key not in decoded:
                out.append(f"{path}.{key}: key lost")
            else:
                out += lost_in_roundtrip(value, decoded[key], f"{path}.{key}")
        return out
    if isinstance(original, list):
        if not isinstance(decoded, list) or len(decoded) != len(original):
            return [f"{path}: list changed"]
        out = []
        for i, (a, b) in enumerate(zip(original, decoded, strict=True)):
            out += lost_in_roundtrip(a, b, f"{path}[{i}]")
        return out
    if original != decoded or type(original) is not type(decoded):
        return [f"{path}: {original!r} became {decoded!r}"]
    return []


def promtool_path() -> str:
    """promtool is a required test dependency: fail loudly when it is missing."""
    found = shutil.which(PROMTOOL) or shutil.which("promtool")
    if found is None:
        raise RuntimeError(
            f"promtool not found at {PROMTOOL} or on PATH; install it (Debian package prometheus)"
        )
    return found


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool_path(), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def check_exprs_parse(exprs: Mapping[str, str]) -> dict[str, str]:
    """Parse each PromQL expression with promtool's real parser.

    promtool 2.42 has no `promql` command, so each expression becomes a recording rule in
    a temporary rules file and `promtool check rules` parses it. One promtool run checks
    them all; only when it fails is each expression checked alone, to name the culprits.
    Returns {name: promtool output} for the expressions that do not parse.
    """
    with tempfile.TemporaryDirectory() as tmp:

        def check(items: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
            groups = [
                {"name": f"q{i}", "rules": [{"record": "parse:check", "expr": expr}]}
                for i, expr in enumerate(items.values())
            ]
            path = Path(tmp) / "rules.yml"
            path.write_text(yaml.safe_dump({"groups": groups}), encoding="utf-8")
            return promtool("check", "rules", str(path))

        batch = check(exprs)
        if batch.returncode == 0:
            return {}
        errors: dict[str, str] = {}
        for name, expr in exprs.items():
            result = check({name: expr})
            if result.returncode != 0:
                errors[name] = (result.stdout + result.stderr).strip()
        # never report success for a batch promtool rejected
        return errors or {"<all>": (batch.stdout + batch.stderr).strip()}


def rule_files() -> list[Path]:
    return sorted(ALERTS_DIR.glob("*.rules.yml"))


def rule_test_files() -> list[Path]:
    return sorted((ALERTS_DIR / "tests").glob("*.test.yml"))


def load_rules(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def all_alert_rules() -> list[dict[str, Any]]:
    return [rule for path in rule_files() for rule in load_rules(path) if "alert" in rule]
