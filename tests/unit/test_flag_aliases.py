"""exporter-toolkit's flag names (what every Go exporter takes) set the same settings as
ours, and a metrics path that cannot work is refused at start."""

from __future__ import annotations

import pytest

from exporter.cli import load_settings
from exporter.config import ConfigError

BASE = ["--region", "us-east-1"]


def test_exporter_toolkit_names_set_the_same_settings() -> None:
    ours = load_settings(
        [*BASE, "--listen-address", "127.0.0.1:9999", "--web-config-file", "/etc/web.yml",
         "--telemetry-path", "/sagemaker/metrics"], {},
    )  # fmt: skip
    theirs = load_settings(
        [*BASE, "--web.listen-address", "127.0.0.1:9999", "--web.config.file", "/etc/web.yml",
         "--web.telemetry-path", "/sagemaker/metrics"], {},
    )  # fmt: skip
    assert theirs == ours
    assert (theirs.listen_host, theirs.listen_port) == ("127.0.0.1", 9999)
    assert theirs.web_config_file == "/etc/web.yml"
    assert theirs.telemetry_path == "/sagemaker/metrics"


def test_the_metrics_path_defaults_to_metrics() -> None:
    assert load_settings(BASE, {}).telemetry_path == "/metrics"


@pytest.mark.parametrize(
    ("path", "why"),
    [("metrics", "starts with /"), ("/my metrics", "no spaces"), ("/healthz", "taken by")],
)
def test_a_metrics_path_that_cannot_work_is_refused(path: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        load_settings([*BASE, "--web.telemetry-path", path], {})
