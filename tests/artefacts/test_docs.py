"""Docs that could drift are generated from the code; these tests fail when they do."""

from __future__ import annotations

import json
import re
from pathlib import Path

from exporter.docs import update
from exporter.metrics.training_jobs import FAMILIES

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_reference_sections_are_current() -> None:
    assert update(README) == README, "run: python -m exporter.docs --write README.md"


def test_readme_mentions_every_family() -> None:
    for f in FAMILIES:
        assert f"`{f.name}`" in README


def test_readme_policy_matches_deploy_policy() -> None:
    block = re.search(r"### IAM permissions.*?```json\n(.*?)```", README, re.S)
    assert block, "README has no IAM policy block"
    assert json.loads(block.group(1)) == json.loads((ROOT / "deploy/iam-policy.json").read_text())


def test_readme_quick_start_commands_exist() -> None:
    for cmd in ("./scripts/run --demo", "./scripts/test"):
        assert cmd in README
    assert (ROOT / "scripts/run").stat().st_mode & 0o111
    assert (ROOT / "scripts/test").stat().st_mode & 0o111
    assert "scripts/test" in (ROOT / ".ci/run").read_text()


def _alert_names() -> set[str]:
    import yaml

    names = set()
    for path in (ROOT / "alerts").glob("*.rules.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {r["alert"] for r in group["rules"] if "alert" in r}
    return names


def test_readme_documents_every_alert_as_docs_alerts_does() -> None:
    readme = (
        README.partition("<!-- alerts:begin -->")[2].partition("<!-- alerts:end -->")[0].strip()
    )
    doc = (ROOT / "docs/alerts.md").read_text()
    assert readme and readme in doc, "README's alert table differs from docs/alerts.md"
    documented = set(re.findall(r"^\| `(\w+)` \|", readme, re.M))
    assert documented == _alert_names()


def test_readme_lists_every_dashboard() -> None:
    for path in (ROOT / "dashboards").glob("*.json"):
        uid = json.loads(path.read_text())["uid"]
        assert f"`{uid}`" in README
