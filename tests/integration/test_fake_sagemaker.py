"""The fake SageMaker server, driven by real aiobotocore clients over real sockets."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import botocore.exceptions
import botocore.session
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.model import Shape

from fake_aws.data import CANARY_SECRET
from fake_aws.server import FakeSageMaker

REPO = Path(__file__).resolve().parents[2]
MODEL = botocore.session.get_session().get_service_model("sagemaker")
# total_max_attempts=1 means no retries. Note: retries={"max_attempts": 1} would still allow
# one retry (max_attempts counts retries, not attempts) and hide every injected fault.
NO_RETRY = {"total_max_attempts": 1, "mode": "standard"}
SESSION = get_session()  # shared: loading the service model per client costs ~0.2 s


@pytest.fixture
async def fake() -> AsyncIterator[FakeSageMaker]:
    async with FakeSageMaker(jobs=300, in_progress=40, seed=7, tick_interval=0) as server:
        yield server


def _client(url: str, read_timeout: float = 5.0) -> Any:
    config = AioConfig(retries=NO_RETRY, read_timeout=read_timeout, connect_timeout=2)
    return SESSION.create_client(
        "sagemaker",
        region_name="us-east-1",
        endpoint_url=url,
        config=config,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
async def sm(fake: FakeSageMaker) -> AsyncIterator[Any]:
    async with _client(fake.endpoint_url) as client:
        yield client


async def _list_all(sm: Any, **params: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Page by hand (not the paginator) so empty pages and tokens are visible."""
    names: list[str] = []
    pages: list[dict[str, Any]] = []
    token = None
    while True:
        kwargs = dict(params, **({"NextToken": token} if token else {}))
        page = await sm.list_training_jobs(**kwargs)
        pages.append(page)
        names += [s["TrainingJobName"] for s in page["TrainingJobSummaries"]]
        token = page.get("NextToken")
        if not token:
            return names, pages
        assert len(pages) < 1000, "pagination does not terminate"


def _error_code(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _conforms(value: Any, shape: Shape, path: str) -> None:
    """Raw JSON value matches botocore's SageMaker model (botocore would silently drop
    misspelled members, so the parser alone cannot catch them)."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), path
        assert not set(value) - set(shape.members), f"{path}: {set(value) - set(shape.members)}"
        for req in shape.required_members:
            assert req in value, f"{path}.{req} is required"
        for key, item in value.items():
            _conforms(item, shape.members[key], f"{path}.{key}")
    elif kind == "list":
        assert isinstance(value, list), path
        for i, item in enumerate(value):
            _conforms(item, shape.member, f"{path}[{i}]")
    elif kind == "map":
        assert isinstance(value, dict), path
        for key, item in value.items():
            _conforms(item, shape.value, f"{path}[{key}]")
    elif kind == "string":
        assert isinstance(value, str), path
        assert not shape.enum or value in shape.enum, f"{path}: {value!r} not in enum"
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), path
    elif kind in ("float", "double", "timestamp"):  # awsJson1_1 timestamps: epoch seconds
        assert isinstance(value, int | float) and not isinstance(value, bool), path
    elif kind == "boolean":
        assert isinstance(value, bool), path


async def test_list_pages_return_every_job_exactly_once(fake: FakeSageMaker, sm: Any) -> None:
    names, pages = await _list_all(sm, MaxResults=37)
    assert len(names) == len(set(names)) == 300
    assert set(names) == set(fake.job_names())
    assert all(len(p["TrainingJobSummaries"]) <= 37 for p in pages)
    running, _ = await _list_all(sm, MaxResults=100, StatusEquals="InProgress")
    assert sorted(running) == sorted(fake.job_names("InProgress"))
    assert running


async def test_forced_empty_and_short_pages_still_cover_every_job(
    fake: FakeSageMaker, sm: Any
) -> None:
    fake.set_paging(empty_page_every=3, max_page_size=20)
    names, pages = await _list_all(sm, MaxResults=100)
    assert sorted(names) == sorted(fake.job_names())
    empty = [p for p in pages if not p["TrainingJobSummaries"]]
    assert empty and all("NextToken" in p for p in empty)
    short = [p for p in pages if 0 < len(p["TrainingJobSummaries"]) < 100 and "NextToken" in p]
    assert short, "pages shorter than MaxResults that still carry a NextToken"
    # botocore's paginator must also survive them
    seen = [
        s["TrainingJobName"]
        async for page in sm.get_paginator("list_training_jobs").paginate()
        for s in page["TrainingJobSummaries"]
    ]
    assert sorted(seen) == sorted(fake.job_names())


async def test_pagination_is_stable_while_jobs_change(fake: FakeSageMaker, sm: Any) -> None:
    before = set(fake.job_names())
    first = await sm.list_training_jobs(MaxResults=50)
    names = [s["TrainingJobName"] for s in first["TrainingJobSummaries"]]
    changed = fake.tick(3, churn=0.5)  # some end, replacements are created
    assert changed
    rest, _ = await _list_all(sm, MaxResults=50, NextToken=first["NextToken"])
    names += rest
    assert len(names) == len(set(names))
    assert before <= set(names)
    assert set(names) == set(fake.job_names())


async def test_list_filters_and_sort(fake: FakeSageMaker, sm: Any) -> None:
    docs = {n: fake.job(n) for n in fake.job_names()}
    stamps = sorted(d["LastModifiedTime"] for d in docs.values())
    cut = (stamps[200] + stamps[201]) / 2  # between two jobs: no float rounding at the edge
    after, _ = await _list_all(
        sm, MaxResults=100, LastModifiedTimeAfter=datetime.fromtimestamp(cut, UTC)
    )
    assert set(after) == {n for n, d in docs.items() if d["LastModifiedTime"] > cut}
    desc = await sm.list_training_jobs(MaxResults=100, SortOrder="Descending")
    created = [s["CreationTime"] for s in desc["TrainingJobSummaries"]]
    assert created == sorted(created, reverse=True)
    failed, _ = await _list_all(sm, MaxResults=100, StatusEquals="Failed")
    assert failed and all(docs[n]["TrainingJobStatus"] == "Failed" for n in failed)


async def test_every_job_matches_the_botocore_model(fake: FakeSageMaker) -> None:
    describe = MODEL.operation_model("DescribeTrainingJob").output_shape
    for name in fake.job_names():
        _conforms(fake.job(name), describe, name)
    listing = MODEL.operation_model("ListTrainingJobs").output_shape
    async with aiohttp.ClientSession() as http:
        headers = {
            "X-Amz-Target": "SageMaker.ListTrainingJobs",
            "Content-Type": "application/x-amz-json-1.1",
        }
        async with http.post(
            fake.endpoint_url + "/", json={"MaxResults": 100}, headers=headers
        ) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/x-amz-json-1.1"
            _conforms(json.loads(await resp.read()), listing, "ListTrainingJobs")


async def test_describe_fields_parse(fake: FakeSageMaker, sm: Any) -> None:
    docs = {n: fake.job(n) for n in fake.job_names()}
    spot = next(
        n
        for n, d in docs.items()
        if d["EnableManagedSpotTraining"] and d["TrainingJobStatus"] == "Completed"
    )
    grouped = next(n for n, d in docs.items() if "InstanceGroups" in d["ResourceConfig"])
    early_fail = next(
        n
        for n, d in docs.items()
        if d["TrainingJobStatus"] == "Failed" and "TrainingStartTime" not in d
    )

    job = await sm.describe_training_job(TrainingJobName=spot)
    assert isinstance(job["CreationTime"], datetime) and job["CreationTime"].tzinfo
    assert job["CreationTime"].timestamp() == pytest.approx(docs[spot]["CreationTime"])
    assert job["TrainingEndTime"] > job["TrainingStartTime"] >= job["CreationTime"]
    assert 0 < job["BillableTimeInSeconds"] < job["TrainingTimeInSeconds"]
    assert (
        job["StoppingCondition"]["MaxWaitTimeInSeconds"]
        >= job["StoppingCondition"]["MaxRuntimeInSeconds"]
    )
    assert job["HyperParameters"]["wandb_api_key"] == CANARY_SECRET
    transitions = job["SecondaryStatusTransitions"]
    assert [t["Status"] for t in transitions][-1] == "Completed"
    assert all(isinstance(t["StartTime"], datetime) for t in transitions)
    metrics = job["FinalMetricDataList"]
    assert metrics and all(isinstance(m["Value"], float) for m in metrics)

    groups = (await sm.describe_training_job(TrainingJobName=grouped))["ResourceConfig"]
    assert len(groups["InstanceGroups"]) >= 2 and "InstanceType" not in groups

    failed = await sm.describe_training_job(TrainingJobName=early_fail)
    assert failed["FailureReason"].startswith("CapacityError:")
    assert not {
        "TrainingStartTime",
        "TrainingEndTime",
        "TrainingTimeInSeconds",
        "BillableTimeInSeconds",
    } & set(failed)

    tags = await sm.list_tags(ResourceArn=job["TrainingJobArn"])
    assert tags["Tags"] == fake.tags(spot)


async def test_unknown_job_is_a_validation_exception(sm: Any) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        await sm.describe_training_job(TrainingJobName="no-such-job")
    assert _error_code(exc) == "ValidationException"
    assert exc.value.response["Error"]["Message"] == "Requested resource not found."
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


async def test_rate_limit_answers_throttling_exception(fake: FakeSageMaker, sm: Any) -> None:
    name = fake.job_names()[0]
    fake.set_rate_limit("DescribeTrainingJob", rps=0.001, burst=2)
    for _ in range(2):
        await sm.describe_training_job(TrainingJobName=name)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        await sm.describe_training_job(TrainingJobName=name)
    assert _error_code(exc) == "ThrottlingException"
    assert exc.value.response["Error"]["Message"] == "Rate exceeded"
    await sm.list_training_jobs()  # other operations have their own budget
    assert fake.stats()["operations"]["DescribeTrainingJob"] == {
        "ok": 2,
        "throttled": 1,
        "error": 0,
    }
    fake.reset()  # drops the runtime limit and the counters
    assert fake.stats()["total"] == 0
    await sm.describe_training_job(TrainingJobName=name)


async def test_fault_codes_and_operation_scope(fake: FakeSageMaker, sm: Any) -> None:
    name = fake.job_names()[0]
    arn = fake.job(name)["TrainingJobArn"]
    fake.inject("access_denied", operation="ListTags", count=1)
    fake.inject("expired_token", operation="ListTrainingJobs", count=1)
    await sm.describe_training_job(TrainingJobName=name)  # not in scope of either rule
    with pytest.raises(botocore.exceptions.ClientError) as denied:
        await sm.list_tags(ResourceArn=arn)
    assert _error_code(denied) == "AccessDeniedException"
    with pytest.raises(botocore.exceptions.ClientError) as expired:
        await sm.list_training_jobs()
    assert _error_code(expired) == "ExpiredTokenException"
    await sm.list_tags(ResourceArn=arn)  # count=1: rules are spent
    fake.inject("server_error", count=1)
    fake.inject("server_error", count=1, status=502)
    with pytest.raises(botocore.exceptions.ClientError) as internal:
        await sm.list_training_jobs()
    assert _error_code(internal) == "InternalFailure"
    with pytest.raises(botocore.exceptions.ClientError) as gateway:
        await sm.list_training_jobs()
    # an HTML 5xx page has no __type: botocore uses the status code as the error code
    assert _error_code(gateway) == "502"
    assert fake.faults() == []


async def test_throttled_fraction_matches_counters(fake: FakeSageMaker, sm: Any) -> None:
    fake.inject("throttle", operation="ListTrainingJobs", fraction=0.5)
    seen: Counter[str] = Counter()
    for _ in range(40):
        try:
            await sm.list_training_jobs(MaxResults=1)
            seen["ok"] += 1
        except botocore.exceptions.ClientError as err:
            assert err.response["Error"]["Code"] == "ThrottlingException"
            seen["throttled"] += 1
    assert seen["ok"] and seen["throttled"]
    assert fake.stats()["operations"]["ListTrainingJobs"] == {**seen, "error": 0}


async def test_job_vanishes_between_list_and_describe(fake: FakeSageMaker, sm: Any) -> None:
    page = await sm.list_training_jobs(MaxResults=5)
    listed = [s["TrainingJobName"] for s in page["TrainingJobSummaries"]]
    fake.inject("vanish", count=1)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        await sm.describe_training_job(TrainingJobName=listed[0])
    assert _error_code(exc) == "ValidationException"
    await sm.describe_training_job(TrainingJobName=listed[1])
    assert fake.remove_job(listed[2])
    with pytest.raises(botocore.exceptions.ClientError):
        await sm.describe_training_job(TrainingJobName=listed[2])
    names, _ = await _list_all(sm, MaxResults=100)
    assert listed[0] not in names and listed[2] not in names and listed[1] in names
    fake.reset(data=True)
    assert {listed[0], listed[2]} <= set(fake.job_names())


async def test_malformed_and_truncated_json_parse_to_empty_responses(
    fake: FakeSageMaker, sm: Any
) -> None:
    """botocore's awsJson1_1 parser swallows JSON errors in 200 responses (the body becomes
    {"message": <text>}), so a broken body yields a response without any modeled field."""
    name = fake.job_names()[0]
    for kind in ("malformed_json", "truncated_json"):
        fake.inject(kind, count=1)
        job = await sm.describe_training_job(TrainingJobName=name)
        assert set(job) == {"ResponseMetadata"}, kind
    fake.inject("malformed_json", operation="ListTrainingJobs", count=1)
    pages = [p async for p in sm.get_paginator("list_training_jobs").paginate()]
    # the broken page has no NextToken either, so the paginator stops silently
    assert len(pages) == 1 and "TrainingJobSummaries" not in pages[0]
    assert fake.stats()["faults"] == {"malformed_json": 2, "truncated_json": 1}


async def test_transport_faults_raise_botocore_errors(fake: FakeSageMaker) -> None:
    name = fake.job_names()[0]
    async with _client(fake.endpoint_url, read_timeout=0.3) as sm:
        fake.inject("short_body", count=1)
        with pytest.raises(botocore.exceptions.ConnectionClosedError):
            await sm.describe_training_job(TrainingJobName=name)
        fake.inject("reset", count=1)
        # aiobotocore reports a reset mid-request as "Could not connect"
        with pytest.raises(botocore.exceptions.EndpointConnectionError):
            await sm.describe_training_job(TrainingJobName=name)
        fake.inject("timeout", count=1, hang_seconds=30)
        with pytest.raises(botocore.exceptions.ReadTimeoutError):
            await sm.describe_training_job(TrainingJobName=name)
        job = await sm.describe_training_job(TrainingJobName=name)
        assert job["TrainingJobName"] == name
    ops = fake.stats()["operations"]["DescribeTrainingJob"]
    assert ops == {"ok": 1, "throttled": 0, "error": 3}


async def test_stats_count_calls_and_match_http_endpoint(fake: FakeSageMaker, sm: Any) -> None:
    names = fake.job_names()[:4]
    for name in names:
        await sm.describe_training_job(TrainingJobName=name)
    with pytest.raises(botocore.exceptions.ClientError):
        await sm.describe_training_job(TrainingJobName="missing")
    await sm.list_training_jobs(MaxResults=10)
    await sm.list_tags(ResourceArn=fake.job(names[0])["TrainingJobArn"])
    await sm.search(Resource="TrainingJob", MaxResults=5)
    expected = {
        "DescribeTrainingJob": {"ok": 4, "throttled": 0, "error": 1},
        "ListTrainingJobs": {"ok": 1, "throttled": 0, "error": 0},
        "ListTags": {"ok": 1, "throttled": 0, "error": 0},
        "Search": {"ok": 1, "throttled": 0, "error": 0},
    }
    assert fake.stats() == {"operations": expected, "faults": {}, "total": 8}
    assert fake.calls("DescribeTrainingJob") == 5 and fake.calls(outcome="error") == 1
    async with aiohttp.ClientSession() as http:
        async with http.get(fake.endpoint_url + "/_fake/stats") as resp:
            assert await resp.json() == fake.stats()
        async with http.post(fake.endpoint_url + "/_fake/reset", json={"stats_only": True}):
            pass
    assert fake.stats() == {"operations": {}, "faults": {}, "total": 0}


async def test_http_control_endpoint_sets_faults(fake: FakeSageMaker, sm: Any) -> None:
    async with aiohttp.ClientSession() as http:
        rule = {"kind": "server_error", "operation": "ListTrainingJobs", "count": 2, "status": 503}
        async with http.post(fake.endpoint_url + "/_fake/faults", json=rule) as resp:
            assert resp.status == 200 and len((await resp.json())["ids"]) == 1
        async with http.post(fake.endpoint_url + "/_fake/faults", json={"kind": "nope"}) as resp:
            assert resp.status == 400
        for _ in range(2):
            with pytest.raises(botocore.exceptions.ClientError) as exc:
                await sm.list_training_jobs()
            assert _error_code(exc) == "ServiceUnavailable"
        await sm.list_training_jobs()
        async with http.post(
            fake.endpoint_url + "/_fake/faults", json={"kind": "throttle"}
        ) as resp:
            assert resp.status == 200
        async with http.delete(fake.endpoint_url + "/_fake/faults") as resp:
            assert resp.status == 200
        await sm.list_training_jobs()
        async with http.post(
            fake.endpoint_url + "/_fake/config",
            json={"rate_limits": {"ListTags": 0.001}, "burst": 1},
        ) as resp:
            assert (await resp.json())["rate_limits"] == {"ListTags": 0.001}


async def test_search_last_modified_filter_with_tags(fake: FakeSageMaker, sm: Any) -> None:
    docs = {n: fake.job(n) for n in fake.job_names()}
    stamps = sorted(d["LastModifiedTime"] for d in docs.values())
    cut = (stamps[250] + stamps[251]) / 2
    expr = {
        "Filters": [
            {
                "Name": "LastModifiedTime",
                "Operator": "GreaterThan",
                "Value": datetime.fromtimestamp(cut, UTC).isoformat(),
            }
        ]
    }
    found: list[dict[str, Any]] = []
    token = None
    while True:
        extra: dict[str, str] = {"NextToken": token} if token else {}
        page = await sm.search(
            Resource="TrainingJob", SearchExpression=expr, MaxResults=20, **extra
        )
        found += [r["TrainingJob"] for r in page["Results"]]
        token = page.get("NextToken")
        if not token:
            break
    assert {j["TrainingJobName"] for j in found} == {
        n for n, d in docs.items() if d["LastModifiedTime"] > cut
    }
    found_stamps = [j["LastModifiedTime"] for j in found]
    # AWS's default Search order: LastModifiedTime, Descending
    assert found_stamps == sorted(found_stamps, reverse=True)
    assert all(j["Tags"] == fake.tags(j["TrainingJobName"]) for j in found)


async def test_state_changes_are_deterministic() -> None:
    def build(seed: int = 11) -> FakeSageMaker:
        # each fake gets its own identical clock: new jobs are named after their creation time
        ticks = iter(range(1_800_000_000, 1_800_100_000, 7))
        return FakeSageMaker(
            jobs=80,
            in_progress=30,
            seed=seed,
            now=1_799_990_000.0,
            tick_interval=0,
            clock=lambda: float(next(ticks)),
        )

    a, b = build(), build()
    assert [a.job(n) for n in a.job_names()] == [b.job(n) for n in b.job_names()]
    changed_a, changed_b = a.tick(5, churn=0.3), b.tick(5, churn=0.3)
    assert changed_a == changed_b and changed_a
    job = a.job(changed_a[0])
    assert job["LastModifiedTime"] >= 1_800_000_000
    assert job["SecondaryStatusTransitions"][-1]["StartTime"] == job["LastModifiedTime"]
    assert build(seed=12).job_names() != build().job_names()


async def test_background_ticks_advance_running_jobs() -> None:
    async with FakeSageMaker(
        jobs=50, in_progress=20, seed=3, churn=0.5, tick_interval=0.05
    ) as fake:
        before = {n: fake.job(n)["LastModifiedTime"] for n in fake.job_names("InProgress")}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if any(
                fake.job(n)["LastModifiedTime"] != t
                for n, t in before.items()
                if n in fake.job_names()
            ):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("no running job changed within 5 s")


async def test_cli_process_serves_and_reports_endpoint(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fake_aws",
            "--port",
            "0",
            "--jobs",
            "60",
            "--in-progress",
            "6",
            "--port-file",
            str(port_file),
            "--fault",
            '{"kind": "access_denied", "operation": "ListTags"}',
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        announced = json.loads(await asyncio.to_thread(proc.stdout.readline))
        assert announced["endpoint_url"].endswith(f":{port_file.read_text().strip()}")
        async with _client(announced["endpoint_url"]) as sm:
            names, _ = await _list_all(sm, MaxResults=100)
            assert len(names) == 60
            with pytest.raises(botocore.exceptions.ClientError) as exc:
                await sm.list_tags(ResourceArn="arn:aws:sagemaker:us-east-1:1:training-job/x")
            assert _error_code(exc) == "AccessDeniedException"
    finally:
        proc.terminate()
        assert await asyncio.to_thread(proc.wait, 10) == 0
