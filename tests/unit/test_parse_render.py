"""Pure parsing and rendering: tables of API responses -> model -> exposition text."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from exporter.metrics.family import RenderContext
from exporter.metrics.text import escape_label_value, format_value
from exporter.metrics.training_jobs import (
    FAMILIES,
    failure_category,
    render_job,
    tag_label_name,
)
from exporter.parse.api import parse_summary, parse_training_job, to_epoch

T0 = dt.datetime(2026, 11, 1, 12, 0, 0, tzinfo=dt.UTC)
EPOCH0 = 1793534400.0  # T0 as Unix time, computed independently: date -d 2026-11-01T12:00:00Z +%s


def ts(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_epoch_constant() -> None:
    assert to_epoch(T0) == EPOCH0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T0, EPOCH0),
        (EPOCH0, EPOCH0),
        ("2026-11-01T12:00:00Z", EPOCH0),
        ("garbage", None),
        (None, None),
        (True, None),
        (float("nan"), None),
        ([], None),
    ],
)
def test_to_epoch(value: Any, expected: float | None) -> None:
    assert to_epoch(value) == expected


@pytest.mark.parametrize(
    "response",
    [None, [], "x", 42, {}, {"TrainingJobName": 7}, {"TrainingJobName": ""}],
)
def test_parse_rejects_responses_without_a_name(response: Any) -> None:
    assert parse_training_job(response) is None


def test_parse_tolerates_wrong_types_everywhere() -> None:
    job = parse_training_job(
        {
            "TrainingJobName": "j",
            "TrainingJobStatus": 5,
            "SecondaryStatus": None,
            "ResourceConfig": "big",
            "StoppingCondition": [],
            "CreationTime": "yesterday",
            "SecondaryStatusTransitions": [None, 3, {"Status": "Starting", "StartTime": "bad"}],
            "FinalMetricDataList": [
                {"MetricName": "m", "Value": "1"},
                {"MetricName": "n", "Value": 2},
            ],
            "DebugRuleEvaluationStatuses": {"not": "a list"},
            "WarmPoolStatus": "Available",
            "EnableManagedSpotTraining": "true",
        }
    )
    assert job is not None
    assert job.status == "" and job.secondary_status == "" and job.instance_groups == ()
    assert job.created is None and not job.managed_spot and job.warm_pool_status == ""
    assert [t.status for t in job.transitions] == ["Starting"] and job.transitions[0].start is None
    assert [(m.name, m.value) for m in job.final_metrics] == [("n", 2.0)]


def test_secrets_are_not_kept() -> None:
    job = parse_training_job(
        {
            "TrainingJobName": "j",
            "HyperParameters": {"pw": "s3cret"},
            "Environment": {"T": "s3cret"},
        }
    )
    assert job is not None and "s3cret" not in repr(job)


def test_unknown_status_passes_through_and_maps_to_other() -> None:
    job = parse_training_job(
        {"TrainingJobName": "j", "TrainingJobStatus": "Deleting", "SecondaryStatus": "Restarting"}
    )
    assert job is not None and job.status == "Deleting" and job.secondary_status == "Restarting"
    text = b"".join(render_job(job, RenderContext("r", "1", EPOCH0))).decode()
    assert 'status="Other"} 1' in text
    assert 'status="InProgress"} 0' in text
    assert 'secondary_status="Restarting"} 1' in text


def test_summary() -> None:
    s = parse_summary(
        {
            "TrainingJobName": "a",
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Training",
            "LastModifiedTime": T0,
        }
    )
    assert s is not None and s.change_key == ("InProgress", "Training", EPOCH0)
    assert parse_summary({"Nope": 1}) is None


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("ClientError: Please check your input", "ClientError"),
        ("AlgorithmError: ExecuteUserScriptError: exit 1", "AlgorithmError"),
        ("CapacityError: Unable to provision", "CapacityError"),
        ("InternalServerError: We encountered an internal error.", "InternalServerError"),
        ("Something odd happened", "Other"),
        ("two words: nope", "Other"),
        ("", "Other"),
    ],
)
def test_failure_category(reason: str, category: str) -> None:
    assert failure_category(reason) == category


def test_escaping_and_formatting() -> None:
    assert escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert [format_value(v) for v in (1.0, 0.0, 2.5, 1e20, float("nan"), float("inf"))] == [
        "1",
        "0",
        "2.5",
        "1e+20",
        "NaN",
        "+Inf",
    ]
    assert tag_label_name("cost-center") == "tag_cost_center"
    assert tag_label_name("Team.Name") == "tag_team_name"


# A golden table: (response, expected exposition lines), written by hand from the API
# semantics, not copied from the renderer. Order: the family table, then labels as declared.
FAILED_EARLY = {
    "TrainingJobName": 'odd "name"',
    "TrainingJobStatus": "Failed",
    "SecondaryStatus": "Failed",
    "FailureReason": "ClientError: " + "x" * 300,
    "CreationTime": ts(0),
    "LastModifiedTime": ts(120),
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
    "SecondaryStatusTransitions": [
        {"Status": "Starting", "StartTime": ts(0), "EndTime": ts(100)},
        {"Status": "Failed", "StartTime": ts(100)},
    ],
    "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "Pipe"},
}
ID = 'training_job="odd \\"name\\"",region="eu-west-1",account_id="111122223333"'
FAILED_EARLY_TEXT = f"""\
sagemaker_training_job_info{{{ID},instance_type="ml.m5.large",training_image="img",algorithm_name="",input_mode="Pipe",tuning_job="",automl_job="",managed_spot="false",training_plan=""}} 1
sagemaker_training_job_status{{{ID},status="InProgress"}} 0
sagemaker_training_job_status{{{ID},status="Completed"}} 0
sagemaker_training_job_status{{{ID},status="Failed"}} 1
sagemaker_training_job_status{{{ID},status="Stopping"}} 0
sagemaker_training_job_status{{{ID},status="Stopped"}} 0
sagemaker_training_job_secondary_status{{{ID},secondary_status="Failed"}} 1
sagemaker_training_job_phase_duration_seconds{{{ID},phase="Starting"}} 100
sagemaker_training_job_phase_duration_seconds{{{ID},phase="Failed"}} 20
sagemaker_training_job_secondary_status_start_timestamp_seconds{{{ID}}} 1793534500
sagemaker_training_job_created_timestamp_seconds{{{ID}}} 1793534400
sagemaker_training_job_last_modified_timestamp_seconds{{{ID}}} 1793534520
sagemaker_training_job_instances{{{ID},instance_type="ml.m5.large",instance_group=""}} 1
sagemaker_training_job_volume_size_bytes{{{ID}}} 1073741824
sagemaker_training_job_failure_info{{{ID},category="ClientError",reason="ClientError: {"x" * 187}"}} 1
sagemaker_training_job_security_info{{{ID},network_isolation="false",inter_container_encryption="false",vpc="false",volume_kms="false",output_kms="false"}} 1
"""


# The same job as served by default (--finished-series lean): what a finished job still
# answers (what failed and why, how long each phase took, on what). Its status is its final
# state alone; its secondary status (Failed too) says nothing more; the terminal phase, the start of the current phase, the creation time,
# the volume and the security settings are a running job's. LastModifiedTime stays: a job
# that failed this early has no TrainingEndTime, and the alerts fall back to it.
FAILED_EARLY_LEAN = f"""\
sagemaker_training_job_info{{{ID},instance_type="ml.m5.large",training_image="img",algorithm_name="",input_mode="Pipe",tuning_job="",automl_job="",managed_spot="false",training_plan=""}} 1
sagemaker_training_job_status{{{ID},status="Failed"}} 1
sagemaker_training_job_phase_duration_seconds{{{ID},phase="Starting"}} 100
sagemaker_training_job_last_modified_timestamp_seconds{{{ID}}} 1793534520
sagemaker_training_job_instances{{{ID},instance_type="ml.m5.large",instance_group=""}} 1
sagemaker_training_job_failure_info{{{ID},category="ClientError",reason="ClientError: {"x" * 187}"}} 1
"""


@pytest.mark.parametrize(
    ("full", "expected"),
    [(True, FAILED_EARLY_TEXT), (False, FAILED_EARLY_LEAN)],
    ids=["full", "lean"],
)
def test_golden_failed_job(full: bool, expected: str) -> None:
    job = parse_training_job(FAILED_EARLY)
    assert job is not None
    ctx = RenderContext("eu-west-1", "111122223333", EPOCH0 + 9999, full=full)
    chunks = render_job(job, ctx)
    assert len(chunks) == len(FAMILIES)
    assert b"".join(chunks).decode() == expected


def test_running_spot_job_has_no_billable_guess() -> None:
    job = parse_training_job(
        {
            "TrainingJobName": "s",
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Training",
            "EnableManagedSpotTraining": True,
            "TrainingStartTime": ts(0),
            "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 3},
        }
    )
    assert job is not None
    text = b"".join(render_job(job, RenderContext("r", "1", EPOCH0 + 50))).decode()
    assert (
        'sagemaker_training_job_training_seconds{training_job="s",region="r",account_id="1"} 50\n'
        in text
    )
    assert "billable" not in text
    assert (
        'sagemaker_training_job_interruptions{training_job="s",region="r",account_id="1"} 0\n'
        in text
    )


COMPLETED_SPOT = {
    "TrainingJobName": "spot-1",
    "TrainingJobStatus": "Completed",
    "SecondaryStatus": "Completed",
    "EnableManagedSpotTraining": True,
    "CreationTime": ts(0),
    "TrainingStartTime": ts(60),
    "TrainingEndTime": ts(3660),
    "LastModifiedTime": ts(3700),
    "TrainingTimeInSeconds": 3600,
    "BillableTimeInSeconds": 1200,
    "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
    "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 30},
    "StoppingCondition": {"MaxRuntimeInSeconds": 7200, "MaxWaitTimeInSeconds": 10800},
    "SecondaryStatusTransitions": [
        {"Status": "Starting", "StartTime": ts(0), "EndTime": ts(60)},
        {"Status": "Downloading", "StartTime": ts(60), "EndTime": ts(120)},
        {"Status": "Training", "StartTime": ts(120), "EndTime": ts(1000)},
        {"Status": "Interrupted", "StartTime": ts(1000), "EndTime": ts(1100)},
        {"Status": "Starting", "StartTime": ts(1100), "EndTime": ts(1200)},
        {"Status": "Training", "StartTime": ts(1200), "EndTime": ts(3500)},
        {"Status": "Uploading", "StartTime": ts(3500), "EndTime": ts(3660)},
        {"Status": "Completed", "StartTime": ts(3660)},
    ],
    "FinalMetricDataList": [
        {"MetricName": "validation:loss", "Value": 0.25, "Timestamp": ts(3500)},
    ],
}
SID = 'training_job="spot-1",region="eu-west-1",account_id="111122223333"'
# What a finished spot job keeps by default: 15 series here (five phases of a resumed job,
# one final metric, the spot savings and the interruption), where the full set is 32. The
# phases sum repeated stretches (Starting 60 + 100, Training 880 + 2300); the cost is 1,200
# billed seconds x 2 instances at 1.5 USD an instance-hour; the limits, the volume, the
# creation and start times, the final metric's timestamp and the hourly rate are gone, and
# so is the secondary status, Completed as the status is.
COMPLETED_SPOT_LEAN = f"""\
sagemaker_training_job_info{{{SID},instance_type="ml.g5.xlarge",training_image="img",algorithm_name="",input_mode="File",tuning_job="",automl_job="",managed_spot="true",training_plan=""}} 1
sagemaker_training_job_status{{{SID},status="Completed"}} 1
sagemaker_training_job_phase_duration_seconds{{{SID},phase="Starting"}} 160
sagemaker_training_job_phase_duration_seconds{{{SID},phase="Downloading"}} 60
sagemaker_training_job_phase_duration_seconds{{{SID},phase="Training"}} 3180
sagemaker_training_job_phase_duration_seconds{{{SID},phase="Interrupted"}} 100
sagemaker_training_job_phase_duration_seconds{{{SID},phase="Uploading"}} 160
sagemaker_training_job_training_end_timestamp_seconds{{{SID}}} 1793538060
sagemaker_training_job_training_seconds{{{SID}}} 3600
sagemaker_training_job_billable_seconds{{{SID}}} 1200
sagemaker_training_job_spot_savings_ratio{{{SID}}} 0.6666666666666667
sagemaker_training_job_instances{{{SID},instance_type="ml.g5.xlarge",instance_group=""}} 2
sagemaker_training_job_final_metric{{{SID},metric="validation:loss"}} 0.25
sagemaker_training_job_interruptions{{{SID}}} 1
sagemaker_training_job_estimated_cost_dollars{{{SID}}} 1
"""


class _Flat:
    def hourly(self, region: str, instance_type: str) -> float | None:
        return 1.5


def test_golden_completed_spot_job_lean_and_full() -> None:
    job = parse_training_job(COMPLETED_SPOT)
    assert job is not None
    lean = RenderContext("eu-west-1", "111122223333", EPOCH0 + 99999, prices=_Flat())
    assert b"".join(render_job(job, lean)).decode() == COMPLETED_SPOT_LEAN
    full = RenderContext("eu-west-1", "111122223333", EPOCH0 + 99999, prices=_Flat(), full=True)
    lines = b"".join(render_job(job, full)).decode().splitlines()
    # --finished-series full: the 15 above, the secondary status, the four other states, the
    # terminal phase (0 s: it opened at TrainingEndTime), the phase start, creation, start and last-modified
    # times, billable instance-seconds, volume, two limits, the metric's timestamp, the
    # security settings and the hourly rate.
    assert len(lines) == 15 + 1 + 4 + 1 + 4 + 1 + 1 + 2 + 1 + 1 + 1
    assert f'sagemaker_training_job_status{{{SID},status="InProgress"}} 0' in lines
    assert f"sagemaker_training_job_max_runtime_seconds{{{SID}}} 7200" in lines
    assert f'sagemaker_training_job_phase_duration_seconds{{{SID},phase="Completed"}} 0' in lines
