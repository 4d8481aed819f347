"""TLS and basic auth end to end: the daemon as a real process serving HTTPS from a web config
file, scraped by `requests` and by a real Prometheus (/usr/bin/prometheus) over real sockets.

The certificates are a throwaway CA and a server certificate it signed (IP SAN 127.0.0.1),
made here with `cryptography`, so clients verify the chain exactly as they would in production
instead of turning verification off.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.support.exporter_proc import ExporterProcess
from tests.support.exposition import parse_exposition, value
from tests.support.motofleet import CANARY, MotoSageMaker
from tests.support.pki import bcrypt_hash, make_cert
from tests.support.ports import free_port

USER, PASSWORD = "prometheus", "correct horse battery staple"
JOB = "tls-job-1"


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path


def _pki(d: Path) -> Pki:
    ca = make_cert(d / "ca.crt", d / "ca.key", "test CA", is_ca=True)
    make_cert(d / "server.crt", d / "server.key", "localhost", issuer=ca)
    return Pki(d / "ca.crt", d / "server.crt", d / "server.key")


def _exporter_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "exporter.cli", "--listen-address", "127.0.0.1:0", *args]


def _env() -> dict[str, str]:
    return dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y")


def _stop(proc: subprocess.Popen[Any]) -> str:
    """SIGTERM, then SIGKILL if it lingers; returns whatever stderr is left."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err or ""


@dataclass
class TlsDaemon:
    proc: subprocess.Popen[str]
    address: str  # host:port
    pki: Pki
    log: list[str]

    @property
    def url(self) -> str:
        return "https://" + self.address


@pytest.fixture(scope="module")
def tls_daemon(
    moto_server: MotoSageMaker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TlsDaemon]:
    moto_server.reset()
    moto_server.create(JOB)
    d = tmp_path_factory.mktemp("tls")
    pki = _pki(d)
    web = d / "web.yml"
    # Relative file names: they resolve against the web config's directory, as in
    # exporter-toolkit, so this also proves the daemon passes the path through unchanged.
    web.write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"},
                "basic_auth_users": {USER: bcrypt_hash(PASSWORD)},
            }
        )
    )
    exporter = ExporterProcess(
        "--region",
        "us-east-1",
        "--endpoint-url",
        moto_server.url,
        "--poll-interval",
        "1s",
        "--web-config-file",
        str(web),
        env=_env(),
    )
    try:
        assert exporter.event("listening").get("tls") is True
        daemon = TlsDaemon(exporter.proc, exporter.address, pki, exporter.log)
        # /readyz needs no credentials (kubelet probes carry none).
        exporter.wait_ready(scheme="https", verify=str(pki.ca))
        yield daemon
    finally:
        _, _, full_log = exporter.stop()
    # Credentials and job secrets never reach the log.
    assert PASSWORD not in full_log and CANARY not in full_log


def test_https_scrape_needs_the_right_password(tls_daemon: TlsDaemon) -> None:
    url, ca = tls_daemon.url, str(tls_daemon.pki.ca)

    ok = requests.get(url + "/metrics", auth=(USER, PASSWORD), verify=ca, timeout=10)
    assert ok.status_code == 200
    assert ok.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    m = parse_exposition(ok.text)
    assert value(m, "sagemaker_training_job_info", training_job=JOB) == 1
    assert value(m, "sagemaker_exporter_target_up", region="us-east-1") == 1
    # Served from the cache on the second scrape; still the same answer.
    again = requests.get(url + "/metrics", auth=(USER, PASSWORD), verify=ca, timeout=10)
    assert again.status_code == 200 and JOB in again.text

    for auth in [(USER, "wrong"), ("mallory", PASSWORD), (USER, PASSWORD.upper())]:
        r = requests.get(url + "/metrics", auth=auth, verify=ca, timeout=10)
        assert r.status_code == 401, auth
        assert JOB not in r.text

    for path in ["/metrics", "/"]:
        anon = requests.get(url + path, verify=ca, timeout=10)
        assert anon.status_code == 401, path
        assert anon.headers["WWW-Authenticate"].startswith("Basic "), path
        assert JOB not in anon.text

    # A malformed Authorization header is a 401, not a 500.
    bad = requests.get(
        url + "/metrics", headers={"Authorization": "Basic !!!"}, verify=ca, timeout=10
    )
    assert bad.status_code == 401


def test_probes_answer_without_credentials(tls_daemon: TlsDaemon) -> None:
    for path, body in [("/healthz", "ok"), ("/readyz", "ready")]:
        r = requests.get(tls_daemon.url + path, verify=str(tls_daemon.pki.ca), timeout=10)
        assert r.status_code == 200 and r.text.strip() == body, path


def test_tls_is_real(tls_daemon: TlsDaemon) -> None:
    # Plain HTTP to the TLS port gets no HTTP answer at all.
    with pytest.raises(requests.ConnectionError):
        requests.get("http://" + tls_daemon.address + "/healthz", timeout=10)
    # The certificate served is the one from the web config: a client that trusts the system
    # store instead of the test CA refuses it.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(tls_daemon.url + "/healthz", timeout=10)


@pytest.mark.parametrize("problem", ["unknown key and plaintext password", "key of another cert"])
def test_bad_web_config_exits_2_with_one_line(tmp_path: Path, problem: str) -> None:
    pki = _pki(tmp_path)
    if problem == "key of another cert":
        make_cert(tmp_path / "other.crt", tmp_path / "other.key", "other")
        cfg: dict[str, Any] = {
            "tls_server_config": {"cert_file": str(pki.cert), "key_file": "other.key"}
        }
        needles = ["cannot load TLS certificate"]
    else:
        cfg = {
            "tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"},
            "basic_auth_users": {USER: "hunter2"},
            "rate_limit": {"interval": "1s"},
            "tls_config": {},
        }
        needles = [
            "3 problem(s)",
            "tls_config: unknown key",
            "rate_limit: not supported",
            f"basic_auth_users.{USER}: value is not a bcrypt hash",
        ]
    web = tmp_path / "web.yml"
    web.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        _exporter_cmd("--region", "us-east-1", "--web-config-file", str(web)),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr  # nothing started, nothing else logged
    assert lines[0].startswith("sagemaker-exporter: error: --web-config-file: ")
    for needle in needles:
        assert needle in lines[0], needle
    assert "hunter2" not in proc.stderr


# ---------------------------------------------------------------- a real Prometheus


def _start_prometheus(config: Path, data: Path) -> tuple[subprocess.Popen[str], str]:
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    assert os.access(binary, os.X_OK), (
        "prometheus is required (Debian package 'prometheus'; scripts/test installs it)"
    )
    # Prometheus cannot report a port it picked itself, so take a free one and retry on the
    # rare race where another process grabs it first.
    for _ in range(3):
        url = f"http://127.0.0.1:{free_port()}"
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address={url.removeprefix('http://')}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if requests.get(url + "/-/ready", timeout=2).status_code == 200:
                    return proc, url
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        err = _stop(proc)
        if "address already in use" not in err:
            raise AssertionError("prometheus did not start: " + err)
    raise AssertionError("prometheus could not get a free port")


def test_prometheus_scrapes_over_tls_with_basic_auth(tls_daemon: TlsDaemon, tmp_path: Path) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD)

    def job(name: str, auth: dict[str, str]) -> dict[str, Any]:
        return {
            "job_name": name,
            "scheme": "https",
            "basic_auth": {"username": USER, **auth},
            "tls_config": {"ca_file": str(tls_daemon.pki.ca)},
            "static_configs": [{"targets": [tls_daemon.address]}],
        }

    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                "scrape_configs": [
                    job("sagemaker-exporter", {"password_file": str(password_file)}),
                    job("sagemaker-exporter-wrong-password", {"password": "wrong"}),
                ],
            }
        )
    )
    prom, url = _start_prometheus(config, tmp_path / "data")
    try:
        targets: dict[str, dict[str, Any]] = {}
        series: list[Any] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            active = requests.get(url + "/api/v1/targets", timeout=5).json()["data"]
            targets = {t["labels"]["job"]: t for t in active["activeTargets"]}
            if len(targets) == 2 and all(t["health"] != "unknown" for t in targets.values()):
                series = requests.get(
                    url + "/api/v1/query",
                    params={"query": f'sagemaker_training_job_info{{training_job="{JOB}"}}'},
                    timeout=5,
                ).json()["data"]["result"]
                if series:
                    break
            time.sleep(0.2)
        good = targets["sagemaker-exporter"]
        assert good["health"] == "up", good
        assert good["scrapeUrl"] == f"https://{tls_daemon.address}/metrics"
        assert len(series) == 1 and series[0]["metric"]["job"] == "sagemaker-exporter", series
        assert series[0]["value"][1] == "1"

        bad = targets["sagemaker-exporter-wrong-password"]
        assert bad["health"] == "down", bad
        assert "401" in bad["lastError"], bad
    finally:
        _stop(prom)
