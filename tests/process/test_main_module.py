"""`python -m exporter` is the same program as the `sagemaker-exporter` script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_python_m_exporter_help_is_the_cli_help() -> None:
    main, cli = run("-m", "exporter", "--help"), run("-m", "exporter.cli", "--help")
    assert main.returncode == 0, main.stderr
    assert "--poll-interval" in main.stdout and "SAGEMAKER_EXPORTER_POLL_INTERVAL" in main.stdout
    assert main.stdout == cli.stdout


def test_python_m_exporter_refuses_a_bad_flag_in_one_line() -> None:
    bad = run("-m", "exporter", "--poll-interval", "soon", "--region", "us-east-1")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "--poll-interval" in bad.stderr
