"""The daemon as a real process: probes, landing page, gzip, clean SIGTERM."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator

import pytest
import requests

from tests.support.exporter_proc import ExporterProcess
from tests.support.exposition import parse_exposition, value
from tests.support.motofleet import CANARY, MotoSageMaker


class Daemon(ExporterProcess):
    def __init__(self, *args: str) -> None:
        super().__init__(
            *args, env=dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y")
        )
        self.url = "http://" + self.address


@pytest.fixture
def daemon(sm: MotoSageMaker) -> Iterator[Daemon]:
    sm.create("d-1")
    sm.create("d-2")
    d = Daemon("--region", "us-east-1", "--endpoint-url", sm.url, "--poll-interval", "1s")
    yield d
    d.kill()


def test_probes_landing_gzip_and_clean_sigterm(daemon: Daemon) -> None:
    assert requests.get(daemon.url + "/healthz", timeout=5).status_code == 200
    daemon.wait_ready()
    landing = requests.get(daemon.url + "/", timeout=5)
    assert landing.status_code == 200 and 'href="/metrics"' in landing.text
    assert "Demo mode" not in landing.text
    assert "Polling mode" in landing.text and "Event mode" not in landing.text

    plain = requests.get(
        daemon.url + "/metrics", headers={"Accept-Encoding": "identity"}, timeout=5
    )
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "Content-Encoding" not in plain.headers
    raw = requests.get(
        daemon.url + "/metrics", headers={"Accept-Encoding": "gzip"}, timeout=5, stream=True
    )
    assert raw.headers["Content-Encoding"] == "gzip"
    body = gzip.decompress(raw.raw.read()).decode()
    m = parse_exposition(body)
    assert value(m, "sagemaker_training_job_status", training_job="d-1", status="Completed") == 1
    assert value(m, "sagemaker_exporter_target_up", region="us-east-1") == 1
    assert value(m, "sagemaker_exporter_build_info") == 1
    # the main task, the target's poll loop and this scrape's handler at least
    assert value(m, "sagemaker_exporter_asyncio_tasks") >= 3

    code, took, log = daemon.stop()
    assert code == 0, log
    assert took < 10
    events = [json.loads(ln).get("event") for ln in log.splitlines() if ln.startswith("{")]
    assert "stopped" in events
    assert CANARY not in log
    # The port is released.
    with pytest.raises(requests.ConnectionError):
        requests.get(daemon.url + "/healthz", timeout=2)
    # One info line per poll cycle per target, no per-job lines.
    polls = [e for e in events if e == "poll"]
    assert polls and all(e in ("listening", "poll", "stopping", "stopped") for e in events)
