"""rate(), irate() and increase() only on counters, in every shipped rule and panel.

On a gauge they treat every fall as a counter reset and invent an increase; Prometheus
2.47+ flags such queries ("metric might not be a counter"). A counter's name ends in
_total (histogram parts: _bucket, _count, _sum)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COUNTER_FUNCTION = re.compile(r"\b(rate|irate|increase)\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")
COUNTER_SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def exprs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [v for k, v in node.items() if k in ("expr", "query") and isinstance(v, str)]
        return out + [e for v in node.values() for e in exprs(v)]
    if isinstance(node, list):
        return [e for v in node for e in exprs(v)]
    return []


def shipped_queries() -> dict[str, list[str]]:
    out = {}
    for path in sorted((ROOT / "alerts").glob("*.yml")):
        out[str(path.relative_to(ROOT))] = exprs(yaml.safe_load(path.read_text()))
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        out[str(path.relative_to(ROOT))] = exprs(json.loads(path.read_text()))
    return out


def test_counter_functions_are_applied_to_counters_only() -> None:
    queries = shipped_queries()
    assert sum(len(q) for q in queries.values()) > 50, "found too few queries to check"
    wrong = [
        (where, fn, metric)
        for where, qs in queries.items()
        for q in qs
        for fn, metric in COUNTER_FUNCTION.findall(q)
        if not metric.endswith(COUNTER_SUFFIXES)
    ]
    assert wrong == []


def test_the_check_finds_a_gauge_under_increase() -> None:
    q = "increase(sagemaker_training_job_interruptions[15m]) > 0"
    assert COUNTER_FUNCTION.findall(q) == [("increase", "sagemaker_training_job_interruptions")]
