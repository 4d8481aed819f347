"""A denied family is absent from a real scrape; the self-metrics never are."""

from __future__ import annotations

from typing import Any

from tests.support.motofleet import MotoSageMaker

J = "sagemaker_training_job_"


async def test_denied_families_are_not_scraped(sm: MotoSageMaker, exporter_for: Any) -> None:
    sm.create("done")
    async with exporter_for("--metric-denylist", f"{J}(phase_duration_seconds|security_info)") as h:
        await h.poll()
        s = await h.scrape()
        names = {name for name, _ in s}
        assert f"{J}status" in names and f"{J}info" in names
        assert f"{J}phase_duration_seconds" not in names
        assert f"{J}security_info" not in names
        assert "sagemaker_exporter_target_up" in names
        text = await h.scrape_text()
        assert f"# TYPE {J}security_info" not in text  # no header for an empty family either
