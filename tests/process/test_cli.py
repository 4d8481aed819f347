"""The command line, run as a real process: bad settings give one clear line and a
non-zero exit before anything starts; --once polls and prints or fails clearly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.cli import load_settings
from exporter.config import OPTIONS, ConfigError, parse_duration
from tests.support.motofleet import CANARY, MotoSageMaker
from tests.support.ports import free_port

EXE = [sys.executable, "-m", "exporter.cli"]


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run(
        [*EXE, *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--log-level", "loud"], {}, "--log-level"),
        (["--poll-interval", "soon"], {}, "bad duration 'soon'"),
        (["--retention", "5x"], {}, "bad duration '5x'"),
        (["--include", "(unclosed"], {}, "bad regex '(unclosed'"),
        (["--listen-address", "nohostport"], {}, "--listen-address"),
        (["--role-arn", "arn:aws:iam::1:user/bob"], {}, "not an IAM role ARN"),
        (["--max-concurrency", "0"], {}, "--max-concurrency"),
        (["--events-queue-url", "sqs://nope"], {}, "is not an SQS queue URL"),
        (
            [],
            {"SAGEMAKER_EXPORTER_EVENTS_QUEUE_URL": "https://example.com/q"},
            "--events-queue-url",
        ),
        (["--events-poll-interval", "0s"], {}, "--events-poll-interval"),
        (["--no-such-flag"], {}, "unrecognized arguments: --no-such-flag"),
        ([], {"SAGEMAKER_EXPORTER_POLL_INTERVAL": "fast"}, "bad duration 'fast'"),
        ([], {"SAGEMAKER_EXPORTER_ONCE": "maybe"}, "--once: bad boolean"),
    ],
)
def test_bad_config_is_one_clear_line(args: list[str], env: dict[str, str], needle: str) -> None:
    p = run(*args, "--region", "us-east-1", env=env)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("sagemaker-exporter: error:") and needle in lines[0]
    assert p.stdout == ""


def test_every_problem_is_reported_at_once() -> None:
    p = run("--region", "us-east-1", "--poll-interval", "x", "--exclude", "[", "--list-rps", "0")
    assert p.returncode == 2
    [line] = p.stderr.strip().splitlines()
    assert "--poll-interval" in line and "--exclude" in line and "--list-rps" in line


def test_bad_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("poll_interval: 10s\nbogus_key: 1\n")
    p = run("--config", str(cfg), "--region", "us-east-1")
    assert p.returncode == 2 and "unknown setting(s): bogus-key" in p.stderr
    p = run("--config", str(tmp_path / "missing.yaml"), "--region", "us-east-1")
    assert p.returncode == 2 and "missing.yaml" in p.stderr


def test_once_with_unreachable_endpoint_fails_clearly() -> None:
    port = free_port()  # a port nobody listens on
    p = run(
        "--once",
        "--region",
        "us-east-1",
        "--endpoint-url",
        f"http://127.0.0.1:{port}",
        env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"},
    )
    assert p.returncode == 1
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("sagemaker-exporter: error:")]
    assert len(errors) == 1 and "failed" in errors[0] and p.stdout == ""


def test_once_prints_exposition_without_secrets(sm: MotoSageMaker, promtool: str) -> None:
    sm.create("canary-job", tags={"team": CANARY})
    p = run(
        "--once",
        "--region",
        "us-east-1",
        "--endpoint-url",
        sm.url,
        "--log-level",
        "debug",
        "--tag-labels",
        "project",
        env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"},
    )
    assert p.returncode == 0, p.stderr
    assert 'training_job="canary-job"' in p.stdout
    # HyperParameters and Environment hold the canary: never in metrics or logs (debug level).
    assert CANARY not in p.stdout and CANARY not in p.stderr
    assert '"event": "poll"' in p.stderr  # json logs when not a terminal
    check = subprocess.run(
        [promtool, "check", "metrics"], input=p.stdout, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_precedence_flags_env_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("poll_interval: 1m\nretention: 2h\nregion: [eu-west-1]\nlog-format: console\n")
    env = {"SAGEMAKER_EXPORTER_RETENTION": "3h", "SAGEMAKER_EXPORTER_TAG_LABELS": "team,project"}
    s = load_settings(["--config", str(cfg), "--retention", "4h"], environ=env)
    assert s.poll_interval == 60 and s.retention == 4 * 3600 and s.region == ("eu-west-1",)
    assert s.tag_labels == ("team", "project") and s.log_format == "console"
    s = load_settings(["--config", str(cfg)], environ=env)
    assert s.retention == 3 * 3600
    s = load_settings(["--region", "us-east-1"], environ={})
    assert s.poll_interval == 30 and s.retention == 86400 and s.listen_port == 9843


def test_endpoint_from_aws_endpoint_url() -> None:
    s = load_settings(["--region", "us-east-1"], environ={"AWS_ENDPOINT_URL": "http://x:1"})
    assert s.endpoint_url == "http://x:1"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("24h", 86400),
        ("1h30m", 5400),
        ("250ms", 0.25),
        ("45", 45),
        ("2d", 172800),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "5 m", "-5s", "1y", "5m3"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_help_lists_every_option() -> None:
    p = run("--help")
    assert p.returncode == 0
    for opt in OPTIONS:
        assert f"--{opt.name}" in p.stdout


def test_no_base_account_needs_a_role() -> None:
    with pytest.raises(ConfigError, match="--no-base-account"):
        load_settings(["--region", "us-east-1", "--no-base-account"], environ={})


def test_events_queue_urls_from_flags_env_and_file(tmp_path: Path) -> None:
    q1 = "https://sqs.us-east-1.amazonaws.com/111122223333/sagemaker-training-exporter-events"
    q2 = "https://sqs.eu-west-1.amazonaws.com/444455556666/other.fifo"
    conf = tmp_path / "c.yml"
    conf.write_text(f"events-queue-url: [{q1}]\nevents-poll-interval: 10m\n")
    s = load_settings(["--config", str(conf), "--region", "us-east-1"], environ={})
    assert s.events_queue_url == (q1,) and s.events_poll_interval == 600
    s = load_settings(
        ["--region", "us-east-1", "--events-queue-url", q2, "--events-queue-url", q1],
        environ={"SAGEMAKER_EXPORTER_EVENTS_QUEUE_URL": q1},
    )
    assert s.events_queue_url == (q2, q1)  # flags win over the environment, in order
    s = load_settings(
        ["--region", "us-east-1"], environ={"SAGEMAKER_EXPORTER_EVENTS_QUEUE_URL": f"{q1},{q2}"}
    )
    assert s.events_queue_url == (q1, q2) and s.events_poll_interval == 300
    assert load_settings(["--region", "us-east-1"], environ={}).events_queue_url == ()
