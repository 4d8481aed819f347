"""Golden-text tables (kube-state-metrics style) for the tuning-job and host tables: an API
answer in, the exposition lines out, written by hand from what the fields mean (AWS's
DescribeHyperParameterTuningJob and CloudWatch's GetMetricData), not copied from the
renderer. Order: the table's families, then each family's labels as declared. The
training-job table has its own in test_parse_render.py."""

from __future__ import annotations

import datetime as dt

from exporter.metrics.family import RenderContext
from exporter.metrics.text import render
from exporter.metrics.training_jobs import TRAINING_JOBS
from exporter.metrics.tuning_jobs import TUNING_FAMILIES, TUNING_JOBS
from exporter.metrics.utilization import HOSTS, Host, HostSample, render_hosts
from exporter.parse.api import parse_training_job, parse_tuning_job

T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)  # 1793534400
CTX = RenderContext("eu-west-1", "111122223333", T0.timestamp() + 7200)

SUMMARY = {
    "HyperParameterTuningJobName": "hpo-1",
    "HyperParameterTuningJobArn": "arn:aws:sagemaker:eu-west-1:111122223333:hyper-parameter-tuning-job/hpo-1",
    "HyperParameterTuningJobStatus": "Completed",
    "Strategy": "Bayesian",
    "CreationTime": T0,
    "LastModifiedTime": T0 + dt.timedelta(seconds=3600),
    "HyperParameterTuningEndTime": T0 + dt.timedelta(seconds=3500),
    "TrainingJobStatusCounters": {"Completed": 9, "NonRetryableError": 1},
    "ObjectiveStatusCounters": {"Succeeded": 9, "Failed": 1},
    "ResourceLimits": {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2},
}
DESCRIBED = {
    **SUMMARY,
    "HyperParameterTuningJobConfig": {
        "Strategy": "Bayesian",
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2},
    },
    "BestTrainingJob": {
        "TrainingJobName": "hpo-1-007",
        "FinalHyperParameterTuningJobObjectiveMetric": {
            "Type": "Maximize",
            "MetricName": "validation:auc",
            "Value": 0.93,
        },
    },
    "ConsumedResources": {"RuntimeInSeconds": 3300},
    # Never exported: a tuning job's static hyperparameters may hold secrets.
    "TrainingJobDefinition": {"StaticHyperParameters": {"password": "CANARY"}},
}

TID = 'tuning_job="hpo-1",region="eu-west-1",account_id="111122223333"'
COMPLETED_TUNING_JOB = f"""\
sagemaker_tuning_job_info{{{TID},strategy="Bayesian",objective_metric="validation:auc",objective_type="Maximize"}} 1
sagemaker_tuning_job_status{{{TID},status="InProgress"}} 0
sagemaker_tuning_job_status{{{TID},status="Completed"}} 1
sagemaker_tuning_job_status{{{TID},status="Failed"}} 0
sagemaker_tuning_job_status{{{TID},status="Stopping"}} 0
sagemaker_tuning_job_status{{{TID},status="Stopped"}} 0
sagemaker_tuning_job_status{{{TID},status="Deleting"}} 0
sagemaker_tuning_job_status{{{TID},status="DeleteFailed"}} 0
sagemaker_tuning_job_training_jobs{{{TID},status="Completed"}} 9
sagemaker_tuning_job_training_jobs{{{TID},status="InProgress"}} 0
sagemaker_tuning_job_training_jobs{{{TID},status="RetryableError"}} 0
sagemaker_tuning_job_training_jobs{{{TID},status="NonRetryableError"}} 1
sagemaker_tuning_job_training_jobs{{{TID},status="Stopped"}} 0
sagemaker_tuning_job_objectives{{{TID},status="Succeeded"}} 9
sagemaker_tuning_job_objectives{{{TID},status="Pending"}} 0
sagemaker_tuning_job_objectives{{{TID},status="Failed"}} 1
sagemaker_tuning_job_best_objective_value{{{TID},metric="validation:auc"}} 0.93
sagemaker_tuning_job_best_training_job_info{{{TID},training_job="hpo-1-007"}} 1
sagemaker_tuning_job_max_training_jobs{{{TID}}} 10
sagemaker_tuning_job_max_parallel_training_jobs{{{TID}}} 2
sagemaker_tuning_job_consumed_runtime_seconds{{{TID}}} 3300
sagemaker_tuning_job_created_timestamp_seconds{{{TID}}} 1793534400
sagemaker_tuning_job_last_modified_timestamp_seconds{{{TID}}} 1793538000
sagemaker_tuning_job_end_timestamp_seconds{{{TID}}} 1793537900
"""

# A running job as listed, before any Describe: no objective, no best job, no limits of
# runtime, no end; the counters it has are complete for every known status.
RUNNING_SUMMARY = {
    "HyperParameterTuningJobName": "hpo-2",
    "HyperParameterTuningJobStatus": "InProgress",
    "Strategy": "Random",
    "CreationTime": T0,
    "LastModifiedTime": T0,
    "TrainingJobStatusCounters": {"InProgress": 2},
}
RID = 'tuning_job="hpo-2",region="eu-west-1",account_id="111122223333"'
RUNNING_TUNING_JOB = f"""\
sagemaker_tuning_job_info{{{RID},strategy="Random",objective_metric="",objective_type=""}} 1
sagemaker_tuning_job_status{{{RID},status="InProgress"}} 1
sagemaker_tuning_job_status{{{RID},status="Completed"}} 0
sagemaker_tuning_job_status{{{RID},status="Failed"}} 0
sagemaker_tuning_job_status{{{RID},status="Stopping"}} 0
sagemaker_tuning_job_status{{{RID},status="Stopped"}} 0
sagemaker_tuning_job_status{{{RID},status="Deleting"}} 0
sagemaker_tuning_job_status{{{RID},status="DeleteFailed"}} 0
sagemaker_tuning_job_training_jobs{{{RID},status="Completed"}} 0
sagemaker_tuning_job_training_jobs{{{RID},status="InProgress"}} 2
sagemaker_tuning_job_training_jobs{{{RID},status="RetryableError"}} 0
sagemaker_tuning_job_training_jobs{{{RID},status="NonRetryableError"}} 0
sagemaker_tuning_job_training_jobs{{{RID},status="Stopped"}} 0
sagemaker_tuning_job_created_timestamp_seconds{{{RID}}} 1793534400
sagemaker_tuning_job_last_modified_timestamp_seconds{{{RID}}} 1793534400
"""


def test_golden_completed_tuning_job() -> None:
    job = parse_tuning_job(SUMMARY, DESCRIBED)
    assert job is not None
    chunks = render(TUNING_JOBS, job, CTX)
    assert len(chunks) == len(TUNING_FAMILIES)
    assert b"".join(chunks).decode() == COMPLETED_TUNING_JOB
    assert "CANARY" not in repr(job)


def test_golden_running_tuning_job_from_its_summary() -> None:
    job = parse_tuning_job(RUNNING_SUMMARY)
    assert job is not None
    assert b"".join(render(TUNING_JOBS, job, CTX)).decode() == RUNNING_TUNING_JOB


# Hosts: CloudWatch's newest points of one job's two hosts, as the source keeps them
# (ratios already divided by the device count). A host with only memory and disk (no vCPU
# count known) gets no cpu series; each host's timestamp is its newest point.
A1, A2 = Host("train-1", "algo-1", "ml.g5.2xlarge"), Host("train-1", "algo-2", "ml.g5.2xlarge")
SAMPLES = [
    HostSample(A2, "memory", 0.5, 1793534460.0),
    HostSample(A1, "gpu", 0.875, 1793534400.0),
    HostSample(A1, "cpu", 0.25, 1793534460.0),
    HostSample(A2, "disk", 0.125, 1793534400.0),
]
HID = 'training_job="train-1",region="eu-west-1",account_id="111122223333"'
HOST_TEXT = f"""\
sagemaker_training_job_host_utilization_ratio{{{HID},host="algo-1",resource="cpu",instance_type="ml.g5.2xlarge"}} 0.25
sagemaker_training_job_host_utilization_ratio{{{HID},host="algo-1",resource="gpu",instance_type="ml.g5.2xlarge"}} 0.875
sagemaker_training_job_host_utilization_ratio{{{HID},host="algo-2",resource="disk",instance_type="ml.g5.2xlarge"}} 0.125
sagemaker_training_job_host_utilization_ratio{{{HID},host="algo-2",resource="memory",instance_type="ml.g5.2xlarge"}} 0.5
sagemaker_training_job_host_metrics_timestamp_seconds{{{HID},host="algo-1"}} 1793534460
sagemaker_training_job_host_metrics_timestamp_seconds{{{HID},host="algo-2"}} 1793534460
"""


def test_golden_hosts() -> None:
    chunks = render_hosts(SAMPLES, CTX)
    assert len(chunks) == len(HOSTS.families)
    assert b"".join(chunks).decode() == HOST_TEXT


def test_phase_durations_are_whole_milliseconds() -> None:
    # Transition times as SageMaker sends them (millisecond datetimes): their differences in
    # float seconds carry noise such as 121.63100004196167.
    start = dt.datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=dt.UTC)
    job = parse_training_job(
        {
            "TrainingJobName": "t",
            "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed",
            "SecondaryStatusTransitions": [
                {
                    "Status": "Training",
                    "StartTime": start,
                    "EndTime": start + dt.timedelta(seconds=121, milliseconds=631),
                },
            ],
        }
    )
    assert job is not None
    text = b"".join(render(TRAINING_JOBS, job, CTX)).decode()
    assert 'phase="Training"} 121.631\n' in text


def test_tag_labels_ride_on_the_families_people_group_by() -> None:
    # --tag-labels team,project: cost, billable time, status and failures carry the tags
    # (a missing tag is an empty value); the other families do not.
    job = parse_training_job(
        {
            "TrainingJobName": "t",
            "TrainingJobStatus": "Failed",
            "FailureReason": "AlgorithmError: oom",
            "BillableTimeInSeconds": 60,
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        },
        (("team", "vision"),),
    )
    assert job is not None

    class Flat:
        def hourly(self, region: str, instance_type: str) -> float | None:
            return 0.12

    ctx = RenderContext("eu-west-1", "1", 0.0, ("team", "project"), Flat())
    lines = b"".join(render(TRAINING_JOBS, job, ctx)).decode().splitlines()
    tags = 'tag_team="vision",tag_project=""'
    tagged = {line.split("{")[0] for line in lines if tags in line}
    assert tagged == {
        "sagemaker_training_job_status",
        "sagemaker_training_job_billable_seconds",
        "sagemaker_training_job_failure_info",
        "sagemaker_training_job_estimated_cost_dollars",
        "sagemaker_training_job_tags",
    }
    assert (
        'sagemaker_training_job_estimated_cost_dollars{training_job="t",region="eu-west-1",'
        f'account_id="1",{tags}}} 0.002' in lines
    )
    assert all(
        "tag_team" not in line for line in lines if line.startswith("sagemaker_training_job_info")
    )
