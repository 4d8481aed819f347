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

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from exporter.cli import load_settings
from exporter.config import ConfigError
from exporter.metrics.training_jobs import RenderContext
from exporter.parse.api import parse_tags, parse_training_job
from exporter.store.objects import JobStore

SECRET = "prop-s3cr3t-b41e"
NOW = 1_750_000_000.0
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NASTY = [
    "",
    " ",
    'quo"te',
    "back\\slash",
    "new\nline",
    "\\n",
    'x"} 1\n# HELP evil',
    'ClientError: "quoted"\nnext line\\',
    "AlgorithmError:",
    ":",
    "\u2028\u2029",
    "\x00\x01\x7f",
    "日本語のジョブ",
    "🚀-job",
    "Other",
]
text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(NASTY),
    # huge strings: a 20-60k character name, reason or tag value
    st.builds(
        lambda s, n: s * n, st.sampled_from(["a", 'é"\\\n', "🚀"]), st.integers(5_000, 20_000)
    ),
)
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
)
junk = st.recursive(
    scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
number = st.one_of(
    st.integers(-(10**12), 10**12), st.floats(allow_nan=True, allow_infinity=True), junk
)
timestamp = st.one_of(
    st.floats(min_value=0, max_value=4e9),
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(),  # naive, down to year 1: .timestamp() can overflow
    st.just("2024-05-01T12:00:00Z"),
    junk,
)
status = st.one_of(
    st.sampled_from(["InProgress", "Completed", "Failed", "Stopping", "Stopped", "Pending"]),
    text,
    junk,
)


def obj(required: dict[str, Any] | None = None, **optional: Any) -> Any:
    """A dict with any subset of these keys, or now and then something that is not a dict."""
    return st.one_of(st.fixed_dictionaries(required or {}, optional=optional), junk)


def some(strategy: Any) -> Any:
    return st.one_of(st.lists(strategy, max_size=4), junk)


transition = obj(
    Status=st.one_of(status, st.sampled_from(["Training", "Interrupted"])),
    StartTime=timestamp,
    EndTime=timestamp,
    StatusMessage=text,
)
metric = obj(
    MetricName=st.one_of(text, st.sampled_from(["validation:auc", "train:loss"])),
    Value=number,
    Timestamp=timestamp,
)
rule = obj(
    RuleConfigurationName=st.one_of(text, st.just("LossNotDecreasing")),
    RuleEvaluationStatus=status,
    LastModifiedTime=timestamp,
)
group = obj(InstanceGroupName=text, InstanceType=text, InstanceCount=number)
tag = obj(Key=st.one_of(st.sampled_from(["team", "project", "a/b é"]), text), Value=text)

payload = st.fixed_dictionaries(
    {"TrainingJobName": st.one_of(text, text, text, junk)},
    optional={
        "TrainingJobArn": text,
        "TrainingJobStatus": status,
        "SecondaryStatus": status,
        "FailureReason": st.one_of(text, st.sampled_from(["CapacityError: none left", "x:y:z"])),
        "TuningJobArn": text,
        "AutoMLJobArn": text,
        "AlgorithmSpecification": obj(
            TrainingImage=text, AlgorithmName=text, TrainingInputMode=text
        ),
        "ResourceConfig": obj(
            InstanceType=text,
            InstanceCount=number,
            VolumeSizeInGB=number,
            VolumeKmsKeyId=text,
            InstanceGroups=some(group),
        ),
        "StoppingCondition": obj(
            MaxRuntimeInSeconds=number, MaxWaitTimeInSeconds=number, MaxPendingTimeInSeconds=number
        ),
        "VpcConfig": obj(Subnets=some(text)),
        "OutputDataConfig": obj(KmsKeyId=text),
        "EnableNetworkIsolation": scalar,
        "EnableInterContainerTrafficEncryption": scalar,
        "EnableManagedSpotTraining": scalar,
        "CreationTime": timestamp,
        "TrainingStartTime": timestamp,
        "TrainingEndTime": timestamp,
        "LastModifiedTime": timestamp,
        "TrainingTimeInSeconds": number,
        "BillableTimeInSeconds": number,
        "SecondaryStatusTransitions": some(transition),
        "FinalMetricDataList": some(metric),
        "DebugRuleEvaluationStatuses": some(rule),
        "ProfilerRuleEvaluationStatuses": some(rule),
        "WarmPoolStatus": obj(Status=status, ResourceRetainedBillableTimeInSeconds=number),
        "Tags": some(tag),
        "HyperParameters": st.just({"password": SECRET}),
        "Environment": st.just({"TOKEN": SECRET}),
        "UnknownFutureField": junk,
    },
)
tags_response = st.one_of(obj(Tags=some(tag)), some(tag))


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
    combined = JobStore()
    count = [0]

    @SETTINGS
    @given(raw=payload, tags=tags_response, now_offset=st.floats(-1e6, 1e6))
    def example(raw: dict[str, Any], tags: Any, now_offset: float) -> None:
        job = parse_training_job(raw, parse_tags(tags))
        if not isinstance(raw.get("TrainingJobName"), str) or not raw["TrainingJobName"]:
            assert job is None
            return
        assert job is not None
        ctx = RenderContext(
            "us-east-1", "123456789012", NOW + now_offset, ("team", "project", "a/b é")
        )
        alone = JobStore()
        alone.upsert("t", job, ctx)
        body = alone.exposition().decode()
        assert SECRET not in body
        found = series(body)
        assert len(found) == len(set(found)), "duplicate series"
        assert {dict(labels)["training_job"] for _, labels in found} == {job.name}
        count[0] += 1
        account = f"{count[0]:012d}"
        combined.upsert(account, job, RenderContext("us-east-1", account, ctx.now, ctx.tag_labels))

    example()
    assert count[0] > 50  # most examples name a job (the rest must parse to None)
    promtool_check(promtool, combined.exposition())


def test_any_tag_label_setting_either_fails_config_or_renders_valid_labels(promtool: str) -> None:
    """--tag-labels is user input too: a set of keys either is refused at startup or gives
    distinct, valid label names."""
    combined = JobStore()
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
        alone = JobStore()
        alone.upsert("t", job, RenderContext("us-east-1", account, NOW, s.tag_labels))
        series(alone.exposition().decode())  # the parser refuses duplicate label names

    example()
    assert count[0] > 10
    promtool_check(promtool, combined.exposition())
