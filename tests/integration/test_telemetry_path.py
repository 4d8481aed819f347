"""--web.telemetry-path moves the metrics, and the landing page links where they are."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.support.harness import Harness
from tests.support.motofleet import MotoSageMaker


async def test_metrics_move_to_the_telemetry_path(sm: MotoSageMaker, exporter_for: Any) -> None:
    sm.create("moved")
    async with exporter_for("--web.telemetry-path", "/sagemaker/metrics") as h:
        h: Harness
        await h.poll()
        async with aiohttp.ClientSession() as s:
            async with s.get(h.url + "/sagemaker/metrics") as r:
                assert r.status == 200
                assert 'sagemaker_training_job_status{training_job="moved"' in await r.text()
            async with s.get(h.url + "/metrics") as r:
                assert r.status == 404
            async with s.get(h.url + "/") as r:
                assert 'href="/sagemaker/metrics"' in await r.text()
            async with s.get(h.url + "/readyz") as r:
                assert r.status == 200
