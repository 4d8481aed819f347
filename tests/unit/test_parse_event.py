"""Pure parsing of EventBridge state-change events: tables of bodies and what they mean."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from exporter.model import TrainingJob
from exporter.parse.event import (
    JobEvent,
    Rejected,
    event_timestamp,
    merge_event,
    parse_event,
)

CANARY = "CANARY-event-9c2e"
ARN = "arn:aws:sagemaker:eu-west-1:210987654321:training-job/job-a"


def body(detail: Any = None, **envelope: Any) -> str:
    """An event as EventBridge delivers it to SQS (AWS's documented example's shape)."""
    msg = {
        "version": "0",
        "id": "0b6c3a5e-0000-4c4f-9f52-000000000001",
        "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker",
        "account": "210987654321",
        "time": "2020-03-10T09:18:10Z",
        "region": "eu-west-1",
        "resources": [ARN],
        "detail": {
            "TrainingJobName": "job-a",
            "TrainingJobArn": ARN,
            "TrainingJobStatus": "Failed",
            "SecondaryStatus": "Failed",
            "FailureReason": "AlgorithmError: out of memory",
            "HyperParameters": {"password": CANARY},
            "Environment": {"TOKEN": CANARY},
            "CreationTime": "1583831889050",
            "TrainingStartTime": 1583832000000,
            "TrainingEndTime": 1583835600000.0,
            "LastModifiedTime": "1583835601250",
            "SecondaryStatusTransitions": [
                {"Status": "Starting", "StartTime": "1583831889050", "EndTime": 1583832000000},
                {"Status": "Failed", "StartTime": 1583835600000.0},
            ],
            "ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 2},
            "Tags": {"team": "vision", "cost-center": "42", "owner": CANARY},
        }
        if detail is None
        else detail,
    }
    msg.update({k.replace("_", "-"): v for k, v in envelope.items()})
    return json.dumps(msg)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1583831889050", 1583831889.05),  # AWS's example: a string of milliseconds
        (1583831889050, 1583831889.05),  # an integer
        (1592411992203.0, 1592411992.203),  # a float
        (" 1583831889050 ", 1583831889.05),
        ("1583831889", 1583831889.0),  # seconds, tolerated: would be 1970 as milliseconds
        (1583831889, 1583831889.0),
        ("2020-03-10T09:18:09Z", 1583831889.0),  # ISO 8601
        ("2020-03-10T09:18:09.050+00:00", 1583831889.05),
        ("yesterday", None),
        ("", None),
        (True, None),
        (None, None),
        ({"ms": 1}, None),
        (float("nan"), None),
        ("1e400", None),
    ],
)
def test_event_timestamps(value: Any, seconds: float | None) -> None:
    got = event_timestamp(value)
    if seconds is None:
        assert got is None
    else:
        assert got == pytest.approx(seconds, abs=1e-3)


def test_a_failed_event_reads_as_the_describe_would() -> None:
    ev = parse_event(body(), tag_labels=("team",))
    assert isinstance(ev, JobEvent)
    assert (ev.account_id, ev.region) == ("210987654321", "eu-west-1")
    assert ev.time == 1583831890.0  # 2020-03-10T09:18:10Z
    j = ev.job
    assert (j.name, j.arn, j.status, j.secondary_status) == ("job-a", ARN, "Failed", "Failed")
    assert j.failure_reason == "AlgorithmError: out of memory"
    assert j.created == pytest.approx(1583831889.05)
    assert j.training_start == 1583832000.0
    assert j.training_end == 1583835600.0
    assert j.last_modified == pytest.approx(1583835601.25)
    assert [(t.status, t.start, t.end) for t in j.transitions] == [
        ("Starting", pytest.approx(1583831889.05), 1583832000.0),
        ("Failed", 1583835600.0, None),
    ]
    assert j.instance_type == "ml.p3.2xlarge" and j.total_instances == 2
    # only the tags --tag-labels exports are kept
    assert j.tags == (("team", "vision"),)


def test_hyperparameters_and_environment_never_reach_the_model() -> None:
    ev = parse_event(body(), tag_labels=("team", "owner"))
    assert isinstance(ev, JobEvent)
    # "owner" is a tag the user asked for: its value is theirs to export. The secrets of
    # HyperParameters and Environment are not anywhere in the record.
    kept = repr(ev.job).replace(f"('owner', '{CANARY}')", "")
    assert CANARY not in kept
    assert CANARY not in repr(parse_event(body(), tag_labels=()))


@pytest.mark.parametrize(
    ("envelope", "where"),
    [
        ({}, ("210987654321", "eu-west-1")),
        # moto's events carry no account: the ARN says it
        ({"account": None}, ("210987654321", "eu-west-1")),
        # a forwarder re-put the event in another account and region: the ARN still wins
        ({"account": "123456789012", "region": "us-east-1"}, ("210987654321", "eu-west-1")),
    ],
)
def test_routing_prefers_the_job_arn(envelope: dict[str, Any], where: tuple[str, str]) -> None:
    ev = parse_event(body(**envelope))
    assert isinstance(ev, JobEvent) and (ev.account_id, ev.region) == where


def test_routing_falls_back_to_the_envelope_without_an_arn() -> None:
    detail = {"TrainingJobName": "job-b", "TrainingJobStatus": "InProgress"}
    ev = parse_event(body(detail, resources=[], account="123456789012", region="us-east-1"))
    assert isinstance(ev, JobEvent) and (ev.account_id, ev.region) == ("123456789012", "us-east-1")
    # resources[0] is the job ARN when the detail lacks it
    ev = parse_event(body(detail, account=None, region=None))
    assert isinstance(ev, JobEvent) and (ev.account_id, ev.region) == ("210987654321", "eu-west-1")


@pytest.mark.parametrize(
    ("raw", "outcome"),
    [
        (body(source="aws.ec2"), "ignored"),
        (body(detail_type="SageMaker Endpoint State Change"), "ignored"),
        (json.dumps({"Message": "an SNS envelope"}), "ignored"),
        ("not json at all", "malformed"),
        (b"\xff\xfe", "malformed"),
        ("[1, 2]", "malformed"),
        ("", "malformed"),
        (body("a string"), "malformed"),
        (body({"TrainingJobStatus": "Failed"}), "malformed"),
        (body({"TrainingJobName": "x"}), "malformed"),
        (
            body(
                {"TrainingJobName": "x", "TrainingJobStatus": "Failed"},
                resources=[],
                account=None,
                region=None,
            ),
            "malformed",
        ),
    ],
)
def test_rejections(raw: str | bytes, outcome: str) -> None:
    got = parse_event(raw)
    assert isinstance(got, Rejected) and got.outcome == outcome
    assert CANARY not in got.reason


def test_wrongly_typed_fields_are_absent_not_errors() -> None:
    detail = {
        "TrainingJobName": "x",
        "TrainingJobArn": ARN,
        "TrainingJobStatus": "InProgress",
        "LastModifiedTime": {"nested": True},
        "SecondaryStatusTransitions": "Starting",
        "Tags": ["team", "vision"],
    }
    ev = parse_event(body(detail), tag_labels=("team",))
    assert isinstance(ev, JobEvent)
    assert ev.job.last_modified is None and ev.job.transitions == () and ev.job.tags == ()


def test_merge_keeps_what_an_event_lacks() -> None:
    from exporter.model import FinalMetric, RuleStatus

    described = TrainingJob(
        name="j",
        status="InProgress",
        secondary_status="Training",
        last_modified=100.0,
        billable_time_seconds=None,
        final_metrics=(FinalMetric("loss", 0.5, 90.0),),
        rules=(RuleStatus("LossNotDecreasing", "debugger", "InProgress"),),
        tags=(("team", "nlp"),),
    )
    event = TrainingJob(
        name="j",
        status="Failed",
        secondary_status="Failed",
        last_modified=200.0,
        failure_reason="ClientError: bad input",
    )
    merged = merge_event(described, event)
    assert (merged.status, merged.secondary_status, merged.last_modified) == (
        "Failed",
        "Failed",
        200.0,
    )
    assert merged.failure_reason == "ClientError: bad input"
    assert merged.final_metrics == described.final_metrics
    assert merged.rules == described.rules and merged.tags == (("team", "nlp"),)
    assert merge_event(None, event) is event


def test_an_event_does_not_say_on_demand_so_a_running_job_gets_no_billable_guess() -> None:
    # Real state-change events carry no EnableManagedSpotTraining: until a describe says
    # otherwise, spot-ness is unknown, and a running job's billable time is not counted
    # up as if it were on-demand.
    from exporter.metrics.family import RenderContext
    from exporter.metrics.training_jobs import render_job

    detail = {
        "TrainingJobName": "job-r",
        "TrainingJobArn": ARN.replace("job-a", "job-r"),
        "TrainingJobStatus": "InProgress",
        "SecondaryStatus": "Training",
        "TrainingStartTime": 1583832000000,
        "LastModifiedTime": 1583832000000,
        "ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 2},
    }
    parsed = parse_event(body(detail))
    assert isinstance(parsed, JobEvent)
    assert parsed.job.managed_spot is None
    ctx = RenderContext("eu-west-1", "210987654321", 1583832000.0 + 600)
    text = b"".join(render_job(parsed.job, ctx)).decode()
    assert "sagemaker_training_job_billable_seconds{" not in text
    assert "sagemaker_training_job_billable_instance_seconds{" not in text
    assert 'managed_spot=""' in text
    assert "sagemaker_training_job_training_seconds{" in text  # elapsed is known
    # once a describe said on-demand, the merged record counts billable time again
    described = dataclasses.replace(parsed.job, managed_spot=False)
    merged = merge_event(described, parsed.job)
    assert merged.managed_spot is False
    text = b"".join(render_job(merged, ctx)).decode()
    assert "sagemaker_training_job_billable_seconds{" in text
