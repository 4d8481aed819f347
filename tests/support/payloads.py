"""Hypothesis strategies for DescribeTrainingJob and ListTags responses: any shape AWS could
send and some it should not, with strings chosen to break escaping (the property tests and the
packing tests draw from them)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

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
