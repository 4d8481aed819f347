"""Property tests: whatever DescribeTrainingJob returns, parsing and rendering never raise and
the exposition stays valid (promtool and prometheus_client's parser agree), without
duplicate series and without secrets.

promtool costs a process per run, so every example's job goes into one combined store
(each under its own account id, so identical names cannot collide) checked once at the end.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from exporter.cli import load_settings
from exporter.config import ConfigError
from exporter.metrics.family import RenderContext
from exporter.parse.api import parse_tags, parse_training_job
from exporter.store.objects import training_store
from tests.support.payloads import NOW, SECRET, SETTINGS, payload, tags_response


def series(body: str) -> list[tuple[str, frozenset[tuple[str, str]]]]:
    return [
        (s.name, frozenset(s.labels.items()))
        for family in text_string_to_metric_families(body)
        for s in family.samples
    ]


def promtool_check(promtool: str, body: bytes) -> None:
    check = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=120
    )
    out = (check.stdout + check.stderr).decode(errors="replace")
    assert check.returncode == 0, out[:2000]


def test_any_payload_parses_renders_and_is_valid_exposition(promtool: str) -> None:
    combined = training_store()
    count = [0]

    @SETTINGS
    @given(raw=payload, tags=tags_response, now_offset=st.floats(-1e6, 1e6), full=st.booleans())
    def example(raw: dict[str, Any], tags: Any, now_offset: float, full: bool) -> None:
        job = parse_training_job(raw, parse_tags(tags))
        if not isinstance(raw.get("TrainingJobName"), str) or not raw["TrainingJobName"]:
            assert job is None
            return
        assert job is not None
        ctx = RenderContext(  # lean (the default) and --finished-series full alike
            "us-east-1", "123456789012", NOW + now_offset, ("team", "project", "a/b é"), full=full
        )
        alone = training_store()
        alone.upsert("t", job, ctx)
        body = alone.exposition().decode()
        assert SECRET not in body
        found = series(body)
        assert len(found) == len(set(found)), "duplicate series"
        assert {dict(labels)["training_job"] for _, labels in found} == {job.name}
        count[0] += 1
        account = f"{count[0]:012d}"
        combined.upsert(
            account, job, RenderContext("us-east-1", account, ctx.now, ctx.tag_labels, full=full)
        )

    example()
    assert count[0] > 50  # most examples name a job (the rest must parse to None)
    promtool_check(promtool, combined.exposition())


def test_any_tag_label_setting_either_fails_config_or_renders_valid_labels(promtool: str) -> None:
    """--tag-labels is user input too: a set of keys either is refused at startup or gives
    distinct, valid label names."""
    combined = training_store()
    count = [0]

    @SETTINGS
    @given(
        keys=st.lists(
            st.one_of(
                st.sampled_from(["team", "Team", "a-b", "a_b", "1x", "é"]),
                st.text(min_size=1, max_size=12),
            ),
            min_size=1,
            max_size=4,
        )
    )
    def example(keys: list[str]) -> None:
        try:
            s = load_settings(["--region", "us-east-1", "--tag-labels", ",".join(keys)], {})
        except (ConfigError, SystemExit):
            return
        raw = {
            "TrainingJobName": "job",
            "TrainingJobStatus": "InProgress",
            "CreationTime": datetime(2024, 1, 1, tzinfo=UTC),
        }
        job = parse_training_job(raw, tuple((k, f"v-{k}") for k in s.tag_labels))
        assert job is not None
        count[0] += 1
        account = f"{count[0]:012d}"
        combined.upsert(account, job, RenderContext("us-east-1", account, NOW, s.tag_labels))
        alone = training_store()
        alone.upsert("t", job, RenderContext("us-east-1", account, NOW, s.tag_labels))
        series(alone.exposition().decode())  # the parser refuses duplicate label names

    example()
    assert count[0] > 10
    promtool_check(promtool, combined.exposition())
