"""--metric-allowlist / --metric-denylist: which job, tuning-job and host families are
served, checked at start (kube-state-metrics semantics: each regex matches a whole name)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.cli import load_settings
from exporter.config import ConfigError, family_filter
from exporter.metrics.family import RenderContext, select
from exporter.metrics.training_jobs import TRAINING_JOBS
from exporter.metrics.tuning_jobs import TUNING_JOBS
from exporter.metrics.utilization import HOSTS
from exporter.model import TrainingJob
from exporter.store.objects import training_store

BASE = ["--region", "us-east-1"]
J = "sagemaker_training_job_"


def keep(*flags: str, environ: dict[str, str] | None = None) -> set[str]:
    f = family_filter(load_settings([*BASE, *flags], environ=environ or {}))
    return {n for t in (TRAINING_JOBS, TUNING_JOBS, HOSTS) for n in t.names if f(n)}


ALL = set(TRAINING_JOBS.names + TUNING_JOBS.names + HOSTS.names)


def test_default_serves_every_family() -> None:
    assert keep() == ALL


def test_allowlist_keeps_only_what_it_matches_whole() -> None:
    kept = keep("--metric-allowlist", f"{J}status", "--metric-allowlist", "sagemaker_tuning_job_.*")
    assert kept == {f"{J}status", *TUNING_JOBS.names}
    # anchored: "status" alone is no family, and does not match inside a name
    assert f"{J}secondary_status" not in kept


def test_denylist_drops_what_it_matches() -> None:
    kept = keep("--metric-denylist", f"{J}(phase_duration_seconds|security_info)")
    assert kept == ALL - {f"{J}phase_duration_seconds", f"{J}security_info"}


def test_lists_come_from_the_environment_and_the_config_file_too(tmp_path: Path) -> None:
    env = {"SAGEMAKER_EXPORTER_METRIC_DENYLIST": f"{J}tags,{J}mlflow_info"}
    assert keep(environ=env) == ALL - {f"{J}tags", f"{J}mlflow_info"}
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"metric_allowlist: [{J}status]\n")
    assert keep("--config", str(cfg)) == {f"{J}status"}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--metric-allowlist", f"{J}status", "--metric-denylist", f"{J}info"],
            "--metric-allowlist and --metric-denylist: give one or the other",
        ),
        (
            ["--metric-denylist", f"{J}phase_duration"],
            f"--metric-denylist: '{J}phase_duration' matches no family "
            f"(did you mean {J}phase_duration_seconds",
        ),
        (
            ["--metric-allowlist", "sagemaker_exporter_target_up"],
            "--metric-allowlist: 'sagemaker_exporter_target_up': the sagemaker_exporter_* "
            "self-metrics cannot be filtered",
        ),
        (["--metric-denylist", "("], "--metric-denylist: bad regex '('"),
    ],
)
def test_bad_lists_stop_the_exporter_with_one_line(flags: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings([*BASE, *flags], environ={})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_store_built_on_a_selected_table_serves_only_those_families() -> None:
    f = family_filter(load_settings([*BASE, "--metric-allowlist", f"{J}(status|info)"], environ={}))
    store = training_store(table=select(TRAINING_JOBS, f))
    store.upsert("t", TrainingJob("j", status="Completed"), RenderContext("us-east-1", "1", 0.0))
    text = store.exposition().decode()
    families = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert families == {f"{J}status", f"{J}info"}
    assert (
        f'{J}status{{training_job="j",region="us-east-1",account_id="1",status="Completed"}} 1'
        in text
    )
