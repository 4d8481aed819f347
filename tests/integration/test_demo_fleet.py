"""Demo fleet: drive the simulated SageMaker for a short accelerated run and check, with real
boto3 calls against its endpoint, that every scenario the demo promises is really there."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import boto3
import pytest

from exporter.demo import DemoEnvironment, DemoTarget, fleet

SPEED = 600.0
CANARY = "DEMO-SECRET-CANARY"
CAPACITY_MSG = "Insufficient capacity error from EC2 while launching instances, retrying!"
NORMAL_PATH = ["Starting", "Downloading", "Training", "Uploading", "Completed"]
TERMINAL = {"Completed", "Failed", "Stopped"}

Job = dict[str, Any]


def _session_kwargs(env: DemoEnvironment, target: DemoTarget) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "endpoint_url": env.endpoint_url,
        "region_name": target.region,
        "aws_access_key_id": env.access_key_id,
        "aws_secret_access_key": env.secret_access_key,
    }
    if target.role_arn is not None:
        sts = boto3.client("sts", **kw)
        creds = sts.assume_role(RoleArn=target.role_arn, RoleSessionName="demo-test")
        sts.close()
        kw.update(
            aws_access_key_id=creds["Credentials"]["AccessKeyId"],
            aws_secret_access_key=creds["Credentials"]["SecretAccessKey"],
            aws_session_token=creds["Credentials"]["SessionToken"],
        )
    return kw


def _summaries(sm: Any, page_size: int = 7) -> list[dict[str, Any]]:
    # Small pages exercise moto's paging (which can return empty pages with a NextToken).
    pages = sm.get_paginator("list_training_jobs").paginate(
        PaginationConfig={"PageSize": page_size}
    )
    return [s for page in pages for s in page["TrainingJobSummaries"]]


def _timestamps(job: Job) -> list[datetime]:
    out = [
        job[k]
        for k in ("CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime")
        if k in job
    ]
    for t in job.get("SecondaryStatusTransitions", []):
        out += [t[k] for k in ("StartTime", "EndTime") if k in t]
    out += [m["Timestamp"] for m in job.get("FinalMetricDataList", [])]
    for key in ("DebugRuleEvaluationStatuses", "ProfilerRuleEvaluationStatuses"):
        out += [r["LastModifiedTime"] for r in job.get(key, [])]
    return out


@dataclass
class Run:
    first: dict[DemoTarget, dict[str, Job]] = field(default_factory=dict)
    history: dict[tuple[DemoTarget, str], list[Job]] = field(default_factory=dict)
    identities: dict[DemoTarget, str] = field(default_factory=dict)
    future: list[str] = field(default_factory=list)

    def first_jobs(self) -> list[Job]:
        return [j for jobs in self.first.values() for j in jobs.values()]

    def initial_names(self) -> set[str]:
        return {j["TrainingJobName"] for j in self.first_jobs()}

    def arrivals(self) -> dict[tuple[DemoTarget, str], list[Job]]:
        first = self.initial_names()
        return {k: v for k, v in self.history.items() if k[1] not in first}


def _describe(sm: Any, name: str, run: Run) -> Job:
    job: Job = sm.describe_training_job(TrainingJobName=name)
    received = datetime.now(UTC)
    job.pop("ResponseMetadata")
    if any(ts > received for ts in _timestamps(job)):
        run.future.append(name)
    return job


def _resumed(obs: list[Job]) -> bool:
    """Observed Interrupted, then Training again."""
    seen = [o["SecondaryStatus"] for o in obs]
    return "Interrupted" in seen and "Training" in seen[seen.index("Interrupted") :]


def _live_goals_met(run: Run) -> bool:
    normal = any(
        [t["Status"] for t in obs[-1]["SecondaryStatusTransitions"]] == NORMAL_PATH
        and len({o["SecondaryStatus"] for o in obs}) >= 3
        for obs in run.arrivals().values()
    )
    resumed = any(_resumed(obs) for obs in run.history.values())
    return normal and resumed


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    env = DemoEnvironment(seed=11, speed=SPEED)
    result = Run()
    env.start()
    clients: dict[DemoTarget, Any] = {}
    try:
        for target in env.targets:
            kw = _session_kwargs(env, target)
            clients[target] = boto3.client("sagemaker", **kw)
            sts = boto3.client("sts", **kw)
            result.identities[target] = sts.get_caller_identity()["Account"]
            sts.close()
        lmt: dict[tuple[DemoTarget, str], datetime] = {}
        for target, sm in clients.items():  # the first poll
            result.first[target] = {}
            for s in _summaries(sm):
                job = _describe(sm, s["TrainingJobName"], result)
                tags = sm.list_tags(ResourceArn=job["TrainingJobArn"])["Tags"]
                job["_tags"] = {t["Key"]: t["Value"] for t in tags}
                result.first[target][job["TrainingJobName"]] = job
                result.history[(target, job["TrainingJobName"])] = [job]
                lmt[(target, job["TrainingJobName"])] = s["LastModifiedTime"]
        deadline = time.monotonic() + 35
        while time.monotonic() < deadline and not _live_goals_met(result):
            for target, sm in clients.items():
                for s in _summaries(sm):
                    key = (target, s["TrainingJobName"])
                    if lmt.get(key) == s["LastModifiedTime"]:
                        continue
                    lmt[key] = s["LastModifiedTime"]
                    try:
                        job = _describe(sm, s["TrainingJobName"], result)
                    except sm.exceptions.ClientError:
                        continue  # pruned between list and describe
                    result.history.setdefault(key, []).append(job)
            time.sleep(0.1)
    finally:
        for sm in clients.values():
            sm.close()
        env.stop()
    yield result


def _all(run: Run) -> list[Job]:
    return [o for obs in run.history.values() for o in obs]


def _age(job: Job, key: str = "CreationTime") -> float:
    return (datetime.now(UTC) - job[key]).total_seconds()


def test_first_poll_sees_every_primary_status_in_every_target(run: Run) -> None:
    statuses = {j["TrainingJobStatus"] for j in run.first_jobs()}
    assert statuses == {"InProgress", "Completed", "Failed", "Stopping", "Stopped"}
    assert len(run.first) == 4
    for jobs in run.first.values():
        assert len(jobs) >= 5
        kinds = {j["TrainingJobStatus"] for j in jobs.values()}
        assert "InProgress" in kinds and kinds & TERMINAL


def test_second_account_is_reached_by_assume_role_and_isolated(run: Run) -> None:
    accounts = {t.account_id for t in run.first}
    assert accounts == {"123456789012", "210987654321"}
    assert {t.region for t in run.first} == {"us-east-1", "eu-west-1"}
    for target, jobs in run.first.items():
        assert run.identities[target] == target.account_id
        assert (target.role_arn is None) == (target.account_id == "123456789012")
        for job in jobs.values():
            assert f":{target.region}:{target.account_id}:training-job/" in job["TrainingJobArn"]
    names = {t: set(jobs) for t, jobs in run.first.items()}
    targets = list(names)
    for i, a in enumerate(targets):
        for b in targets[i + 1 :]:
            assert not names[a] & names[b], (a, b)


def test_failures_carry_categorised_reasons(run: Run) -> None:
    failed = [j for j in run.first_jobs() if j["TrainingJobStatus"] == "Failed"]
    prefixes = {j["FailureReason"].split(":")[0] for j in failed}
    assert {"ClientError", "AlgorithmError", "CapacityError"} <= prefixes
    in_starting = [j for j in failed if "TrainingStartTime" not in j]
    assert in_starting
    for j in in_starting:
        assert "TrainingTimeInSeconds" not in j and "BillableTimeInSeconds" not in j
        assert "TrainingEndTime" not in j
        assert [t["Status"] for t in j["SecondaryStatusTransitions"]] == ["Starting", "Failed"]
    for j in run.first_jobs():
        assert ("FailureReason" in j) == (j["TrainingJobStatus"] == "Failed")


def test_capacity_wait_is_stuck_in_starting_for_over_30_minutes(run: Run) -> None:
    stuck = [
        j
        for j in run.first_jobs()
        if j["TrainingJobStatus"] == "InProgress"
        and j["SecondaryStatus"] == "Starting"
        and j["SecondaryStatusTransitions"][-1]["StatusMessage"] == CAPACITY_MSG
        and _age(j) > 30 * 60
    ]
    assert stuck
    for j in stuck:
        assert "TrainingStartTime" not in j
        assert _age(j, "LastModifiedTime") < _age(j)


def test_managed_spot_interruptions_savings_and_max_wait(run: Run) -> None:
    spot = [j for j in run.first_jobs() if j["EnableManagedSpotTraining"]]
    done = [
        j
        for j in spot
        if j["TrainingJobStatus"] == "Completed"
        and any(t["Status"] == "Interrupted" for t in j["SecondaryStatusTransitions"])
    ]
    assert done
    for j in done:
        assert j["BillableTimeInSeconds"] < j["TrainingTimeInSeconds"]
        assert (
            j["StoppingCondition"]["MaxWaitTimeInSeconds"]
            >= (j["StoppingCondition"]["MaxRuntimeInSeconds"])
        )
    assert any(
        j["SecondaryStatus"] == "Interrupted" and j["TrainingJobStatus"] == "InProgress"
        for j in spot
    )
    waited = [
        j
        for j in spot
        if (j["TrainingJobStatus"], j["SecondaryStatus"]) == ("Stopped", "MaxWaitTimeExceeded")
    ]
    assert waited
    for j in waited:
        elapsed = (j["TrainingEndTime"] - j["CreationTime"]).total_seconds()
        assert elapsed >= j["StoppingCondition"]["MaxWaitTimeInSeconds"]
    for j in spot:
        assert "CheckpointConfig" in j


def test_runtime_limits(run: Run) -> None:
    jobs = run.first_jobs()
    exceeded = [
        j
        for j in jobs
        if (j["TrainingJobStatus"], j["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    ]
    assert exceeded
    for j in exceeded:
        assert j["TrainingTimeInSeconds"] >= j["StoppingCondition"]["MaxRuntimeInSeconds"]
    near = [
        j
        for j in jobs
        if j["TrainingJobStatus"] == "InProgress"
        and "TrainingStartTime" in j
        and _age(j, "TrainingStartTime") > 0.9 * j["StoppingCondition"]["MaxRuntimeInSeconds"]
    ]
    assert near


def test_stalled_training_has_stale_metrics(run: Run) -> None:
    stalled = [
        j
        for j in run.first_jobs()
        if j["SecondaryStatus"] == "Training"
        and j.get("FinalMetricDataList")
        and all(_age(m, "Timestamp") > 15 * 60 for m in j["FinalMetricDataList"])
    ]
    assert stalled
    # ... and they stay stale while the fleet moves on
    for j in stalled:
        for target, jobs in run.first.items():
            if j["TrainingJobName"] in jobs:
                last = run.history[(target, j["TrainingJobName"])][-1]
                assert last.get("FinalMetricDataList") == j["FinalMetricDataList"]


def test_variety_of_instances_and_features(run: Run) -> None:
    jobs = run.first_jobs()
    types: set[str] = set()
    singles = multis = 0
    hetero = False
    for j in jobs:
        rc = j["ResourceConfig"]
        if "InstanceGroups" in rc:
            group_types = {g["InstanceType"] for g in rc["InstanceGroups"]}
            hetero = hetero or len(group_types) > 1
            types |= group_types
            assert "InstanceType" not in rc
        else:
            types.add(rc["InstanceType"])
            singles += rc["InstanceCount"] == 1
            multis += rc["InstanceCount"] > 1
    assert hetero and singles and multis
    assert {
        "ml.m5.xlarge",
        "ml.g5.2xlarge",
        "ml.p4d.24xlarge",
        "ml.c5.4xlarge",
        "ml.trn1.32xlarge",
    } <= types
    assert any("TuningJobArn" in j for j in jobs)
    assert len({j["TuningJobArn"] for j in jobs if "TuningJobArn" in j}) < sum(
        "TuningJobArn" in j for j in jobs
    )  # trials share their tuning job
    assert any(":automl-job/" in j.get("AutoMLJobArn", "") for j in jobs)
    assert any("VpcConfig" in j for j in jobs)
    assert any(
        "VolumeKmsKeyId" in j["ResourceConfig"] or "KmsKeyId" in j["OutputDataConfig"] for j in jobs
    )
    assert any(j["EnableNetworkIsolation"] for j in jobs)
    assert any(j["EnableInterContainerTrafficEncryption"] for j in jobs)
    assert {"TrainingImage", "AlgorithmName"} <= {
        k for j in jobs for k in j["AlgorithmSpecification"]
    }


def test_warm_pools_and_rules(run: Run) -> None:
    pools = {j["WarmPoolStatus"]["Status"] for j in _all(run) if "WarmPoolStatus" in j}
    assert pools == {"Available", "Terminated", "Reused", "InUse"}
    for j in _all(run):
        if "WarmPoolStatus" in j:
            assert j["ResourceConfig"]["KeepAlivePeriodInSeconds"] > 0
        if j.get("WarmPoolStatus", {}).get("Status") == "Reused":
            assert j["WarmPoolStatus"]["ReusedByJob"]
    debug = [r for j in run.first_jobs() for r in j.get("DebugRuleEvaluationStatuses", [])]
    assert "IssuesFound" in {r["RuleEvaluationStatus"] for r in debug}
    profiler = [r for j in run.first_jobs() for r in j.get("ProfilerRuleEvaluationStatuses", [])]
    assert profiler and {"InProgress", "NoIssuesFound"} <= {
        r["RuleEvaluationStatus"] for r in profiler
    }


def test_tags_and_secret_canary(run: Run) -> None:
    for j in run.first_jobs():
        assert {"team", "project"} <= set(j["_tags"])
        assert CANARY in j["HyperParameters"].values()
        assert CANARY in j["Environment"].values()


def test_retention_edge_and_recent_terminal_statuses(run: Run) -> None:
    ended = [j for j in run.first_jobs() if j["TrainingJobStatus"] in TERMINAL]
    old = [j for j in ended if _age(j, "LastModifiedTime") > 24 * 3600]
    assert old
    recent = {
        (j["TrainingJobStatus"], j["SecondaryStatus"])
        for j in ended
        if _age(j, "LastModifiedTime") < 24 * 3600
    }
    assert {
        ("Completed", "Completed"),
        ("Failed", "Failed"),
        ("Stopped", "Stopped"),
        ("Stopped", "MaxRuntimeExceeded"),
        ("Stopped", "MaxWaitTimeExceeded"),
    } <= recent
    for target, jobs in run.first.items():
        statuses = {j["TrainingJobStatus"] for j in jobs.values()}
        assert statuses & TERMINAL and "InProgress" in statuses, target


def test_times_are_real_and_consistent(run: Run) -> None:
    assert run.future == []
    for j in _all(run):
        trans = j["SecondaryStatusTransitions"]
        assert trans[0]["StartTime"] == j["CreationTime"]
        for a, b in pairwise(trans):
            assert a["EndTime"] == b["StartTime"]
            assert a["Status"] != b["Status"]
        assert trans[-1]["Status"] == j["SecondaryStatus"]
        if j["TrainingJobStatus"] in TERMINAL and "TrainingStartTime" in j:
            wall = (j["TrainingEndTime"] - j["TrainingStartTime"]).total_seconds()
            assert abs(j["TrainingTimeInSeconds"] - wall) <= 1
            assert 0 < j["BillableTimeInSeconds"] <= j["TrainingTimeInSeconds"]
            if not j["EnableManagedSpotTraining"]:
                assert j["BillableTimeInSeconds"] == j["TrainingTimeInSeconds"]
        if j["TrainingJobStatus"] not in TERMINAL:
            assert "TrainingEndTime" not in j and "BillableTimeInSeconds" not in j
            assert "EndTime" not in trans[-1]
        assert j["LastModifiedTime"] >= max(_timestamps(j)) - timedelta(milliseconds=1)


def test_live_jobs_walk_the_normal_path_with_advancing_metrics(run: Run) -> None:
    arrivals = run.arrivals()
    assert len(arrivals) >= 5
    walked = [
        obs
        for obs in arrivals.values()
        if [t["Status"] for t in obs[-1]["SecondaryStatusTransitions"]] == NORMAL_PATH
    ]
    assert walked
    obs = max(walked, key=lambda o: len({x["SecondaryStatus"] for x in o}))
    seen = [o["SecondaryStatus"] for o in obs]
    assert [s for i, s in enumerate(seen) if s not in seen[:i]] == [
        s for s in NORMAL_PATH if s in seen
    ]
    final = obs[-1]
    messages = [t["StatusMessage"] for t in final["SecondaryStatusTransitions"]]
    assert messages == [
        "Preparing the instances for training",
        "Downloading input data",
        "Training image download completed. Training in progress.",
        "Uploading generated training model",
        "Training job completed",
    ]
    assert final["TrainingTimeInSeconds"] > 0
    assert {m["MetricName"] for m in final["FinalMetricDataList"]}
    # metrics appear while training and their timestamps move forward
    stamps = {
        o["FinalMetricDataList"][0]["Timestamp"]
        for obs in arrivals.values()
        for o in obs
        if o["TrainingJobStatus"] == "InProgress" and o.get("FinalMetricDataList")
    }
    assert len(stamps) >= 2


def test_every_change_bumps_last_modified_time(run: Run) -> None:
    changes = 0
    for obs in run.history.values():
        for a, b in pairwise(obs):
            if {k: v for k, v in a.items() if k not in ("LastModifiedTime", "_tags")} != {
                k: v for k, v in b.items() if k not in ("LastModifiedTime", "_tags")
            }:
                changes += 1
                assert b["LastModifiedTime"] > a["LastModifiedTime"]
    assert changes >= 10


def test_spot_job_resumes_training_after_interruption(run: Run) -> None:
    resumed = [obs for obs in run.history.values() if _resumed(obs)]
    assert resumed
    assert all(o["EnableManagedSpotTraining"] for obs in resumed for o in obs)
    statuses = [t["Status"] for t in resumed[0][-1]["SecondaryStatusTransitions"]]
    assert statuses.index("Interrupted") < len(statuses) - 1 - statuses[::-1].index("Training")


def _fleet_signature(seed: int, arrivals: int) -> tuple[set[tuple[str, str, str]], set[str]]:
    """Initial fleet as (target, name, scenario) and names of the first live arrivals seen.

    The initial fleet is told apart by creation time, not by what the first listing
    happens to see: on a loaded machine a live arrival can land before that listing."""
    env = DemoEnvironment(seed=seed, speed=SPEED, regions=("us-east-1",))
    started = datetime.now(UTC)
    env.start()
    try:
        clients = [(t, boto3.client("sagemaker", **_session_kwargs(env, t))) for t in env.targets]
        initial: set[tuple[str, str, str]] = set()
        for t, sm in clients:
            for s in _summaries(sm):
                if s["CreationTime"] >= started:
                    continue  # a live arrival
                tags = sm.list_tags(ResourceArn=s["TrainingJobArn"])["Tags"]
                scenario = next(x["Value"] for x in tags if x["Key"] == "demo-scenario")
                initial.add((t.account_id, s["TrainingJobName"], scenario))
        first = {name for _, name, _ in initial}
        later: set[str] = set()
        deadline = time.monotonic() + 10
        while len(later) < arrivals and time.monotonic() < deadline:
            for _, sm in clients:
                later |= {s["TrainingJobName"] for s in _summaries(sm)} - first
            time.sleep(0.1)
        for _, sm in clients:
            sm.close()
    finally:
        env.stop()
    return initial, later


def test_same_seed_same_fleet_other_seed_other_fleet(run: Run) -> None:
    a_initial, a_later = _fleet_signature(3, 4)
    b_initial, b_later = _fleet_signature(3, 4)
    c_initial, _ = _fleet_signature(4, 0)
    assert a_initial == b_initial
    assert len(a_later) >= 4 and len(b_later) >= 4
    assert a_later <= b_later or b_later <= a_later  # one run saw a prefix of the other
    assert {n for _, n, _ in a_initial}.isdisjoint({n for _, n, _ in c_initial})
    assert {s for _, _, s in a_initial} == {s for _, _, s in c_initial}


def _moto_threads() -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if "_server_entry" in t.name or "process_request" in t.name or t.name == "demo-fleet-driver"
    ]


def test_stop_frees_port_and_threads_and_is_idempotent(run: Run) -> None:
    env = DemoEnvironment(seed=5, speed=SPEED)
    env.start()
    port = int(env.endpoint_url.rsplit(":", 1)[1])
    sm = boto3.client("sagemaker", **_session_kwargs(env, env.targets[0]))
    assert _summaries(sm)
    sm.close()
    assert _moto_threads()
    t0 = time.monotonic()
    env.stop()
    assert time.monotonic() - t0 < 2
    env.stop()
    deadline = time.monotonic() + 5
    while _moto_threads() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _moto_threads() == []
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
    # the backend is left clean: a fresh environment sees only its own jobs
    with DemoEnvironment(seed=5, speed=SPEED) as again:
        sm = boto3.client("sagemaker", **_session_kwargs(again, again.targets[0]))
        names = [s["TrainingJobName"] for s in _summaries(sm)]
        sm.close()
        assert len(names) == len(set(names))
        with pytest.raises(RuntimeError):
            DemoEnvironment(seed=6).start()


def test_finished_jobs_are_pruned_so_the_fleet_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The real floor (2 min) keeps finished jobs long enough for a poller; shorten it here.
    monkeypatch.setattr(fleet, "MIN_TTL", 1.0)
    env = DemoEnvironment(seed=8, speed=6000.0, regions=("eu-west-1",))
    env.start()
    try:
        clients = [boto3.client("sagemaker", **_session_kwargs(env, t)) for t in env.targets]

        # Whole pages (100, the API's maximum): moto's NextToken names the last job of a page,
        # and a job pruned while a slow listing pages on makes that token invalid
        # (ValidationException), which says nothing about pruning.
        def listed() -> dict[str, str]:
            return {
                s["TrainingJobName"]: s["TrainingJobStatus"]
                for sm in clients
                for s in _summaries(sm, page_size=100)
            }

        first = listed()
        # Settled jobs: a warm pool still Available keeps changing, so it is kept.
        finished = {
            j["TrainingJobName"]
            for sm in clients
            for s in _summaries(sm, page_size=100)
            if s["TrainingJobStatus"] in TERMINAL
            and (j := sm.describe_training_job(TrainingJobName=s["TrainingJobName"]))
            .get("WarmPoolStatus", {})
            .get("Status")
            != "Available"
        }
        assert len(finished) >= 10
        seen = set(first)
        now = first
        deadline = time.monotonic() + 20
        while finished & set(now) and time.monotonic() < deadline:
            time.sleep(0.5)
            now = listed()
            seen |= set(now)
        assert not finished & set(now)
        assert len(now) < len(seen) - len(finished)  # arrivals that finished went too
        for sm in clients:
            sm.close()
    finally:
        env.stop()


def test_expired_assume_role_sessions_are_forgotten() -> None:
    # moto keeps every AssumeRole session (and its temporary key) it ever issued; the
    # exporter assumes the role again every hour, so the demo must let old ones go.
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    from exporter.demo.moto_backend import prune_expired_sessions

    env = DemoEnvironment(seed=9, regions=("eu-west-1",))
    env.start()
    try:
        second = next(t for t in env.targets if t.role_arn)
        account = second.account_id
        sessions = sts_backends[account]["aws"].assumed_roles
        before = len(sessions)
        old = [_session_kwargs(env, second) for _ in range(3)]
        assert len(sts_backends[account]["aws"].assumed_roles) == before + 3
        old_keys = {kw["aws_access_key_id"] for kw in old}
        assert old_keys <= set(iam_backends[account]["aws"].access_keys)
        now = fleet.utcnow()
        assert prune_expired_sessions([account], now) == 0  # none has expired yet
        # An hour from now the three have expired (moto's default 3600 s) ...
        assert prune_expired_sessions([account], now + timedelta(hours=1, minutes=1)) >= 3
        remaining = sts_backends[account]["aws"].assumed_roles
        assert not {r.access_key_id for r in remaining} & old_keys
        assert not old_keys & set(iam_backends[account]["aws"].access_keys)
        # ... and a session issued afterwards still reaches the second account.
        sm = boto3.client("sagemaker", **_session_kwargs(env, second))
        arns = [s["TrainingJobArn"] for s in _summaries(sm)]
        sm.close()
        assert arns and all(f":{account}:training-job/" in a for a in arns)
    finally:
        env.stop()
