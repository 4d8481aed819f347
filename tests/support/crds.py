"""prometheus-operator's own validators for ServiceMonitor and PrometheusRule objects.

The npm package @kubernetes-models/prometheus-operator (pinned in tests/support/package.json)
ships ajv-compiled validators generated from prometheus-operator's API types, the types its CRDs
are generated from (package 6.0.0: prometheus-operator v0.91.0). tests/support/crd_validate.mjs
runs them in one node process per batch and also reports unknown fields, which the compiled
schemas let through (see its header). The packages are installed by scripts/test, or alone by
`bash -c '. scripts/lib.sh && ensure_node_packages'`, into .cache/node/.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "support" / "crd_validate.mjs"
PREFIX = ROOT / ".cache" / "node"
PACKAGE = "@kubernetes-models/prometheus-operator"
INSTALL = "bash -c '. scripts/lib.sh && ensure_node_packages' (scripts/test runs it)"


def _pinned() -> str:
    manifest = json.loads((ROOT / "tests" / "support" / "package.json").read_text())
    version: str = manifest["dependencies"][PACKAGE]
    return version


def problems(objects: Sequence[dict[str, Any]]) -> list[list[str]]:
    """Each object's problems (schema errors, then unknown fields), [] for a valid one.

    Fails the calling test (never skips) when node or the pinned package is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is missing: Node.js runs {SCRIPT.relative_to(ROOT)}", pytrace=False)
    installed = PREFIX / "node_modules" / PACKAGE / "package.json"
    version = json.loads(installed.read_text())["version"] if installed.exists() else None
    if version != _pinned():
        pytest.fail(
            f"{PACKAGE}@{_pinned()} is not installed in {PREFIX.relative_to(ROOT)}/ "
            f"(found {version}): run {INSTALL}",
            pytrace=False,
        )
    result = subprocess.run(
        [node, str(SCRIPT), str(PREFIX)],
        input=json.dumps(list(objects)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out: list[list[str]] = json.loads(result.stdout)
    assert len(out) == len(objects)
    return out
