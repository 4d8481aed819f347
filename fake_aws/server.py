"""A fast, controllable fake of the SageMaker API (awsJson1_1) for benchmarks and fault tests.

moto gets the behaviour right but serves ~150 describes/s; this serves thousands, and lets a
test or a benchmark inject latency, rate limits and faults at runtime:

    async with FakeSageMaker(jobs=500, in_progress=50, seed=1) as fake:
        client = session.create_client("sagemaker", endpoint_url=fake.endpoint_url, ...)
        fake.inject("throttle", operation="DescribeTrainingJob", count=3)
        ...
        fake.calls("DescribeTrainingJob", "ok")

or as a process: python -m fake_aws --port 0 --jobs 5000 --in-progress 1000, with
the same controls over HTTP under /_fake/ (see fake_aws.control).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from fake_aws import cloudwatch
from fake_aws.control import control_routes
from fake_aws.data import Doc, generate
from fake_aws.faults import (
    CLOUDWATCH_OPERATIONS,
    OPERATIONS,
    FaultKind,
    FaultPlan,
    FaultRule,
    Stats,
    TokenBucket,
)
from fake_aws.ops import (
    NOT_FOUND,
    ApiError,
    JobStore,
    Paging,
    list_tags,
    list_training_jobs,
    search,
)
from fake_aws.pricing import PricingFake
from fake_aws.sts import caller, sts_answer
from fake_aws.tuning import TuningJobs

CONTENT_TYPE = "application/x-amz-json-1.1"
_CANNED: dict[str, ApiError] = {
    "throttle": ApiError("ThrottlingException", "Rate exceeded"),
    "access_denied": ApiError(
        "AccessDeniedException",
        "User: arn:aws:sts::123456789012:assumed-role/exporter/fake is "
        "not authorized to perform this action because no identity-based policy allows it",
    ),
    "expired_token": ApiError(
        "ExpiredTokenException", "The security token included in the request is expired"
    ),
}
# Not JSON at all, as an HTML error page from a proxy would be.
MALFORMED_BODY = b"<html><body><h1>200 OK</h1><p>Welcome to nginx!</p></body></html>"


class FakeSageMaker:
    """In-process fake SageMaker endpoint; use as an async context manager."""

    def __init__(
        self,
        *,
        jobs: int = 200,
        in_progress: int = 20,
        seed: int = 0,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        latency_ms_by_op: Mapping[str, float] | None = None,
        rate_limits: Mapping[str, float] | None = None,
        burst: float | None = None,
        churn: float = 0.0,
        tick_interval: float = 1.0,
        replenish: bool = True,
        empty_page_every: int = 0,
        max_page_size: int = 0,
        hang_seconds: float = 30.0,
        now: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host, self.port = host, port
        self.region, self.account_id, self.seed = region, account_id, seed
        self._spec = (jobs, in_progress, clock() if now is None else now)
        self.store = self._build_store()
        self._knobs = (
            latency_ms,
            dict(latency_ms_by_op or {}),
            dict(rate_limits or {}),
            burst,
            Paging(empty_page_every, max_page_size),
        )
        self.churn, self.tick_interval, self.replenish = churn, tick_interval, replenish
        self.hang_seconds = hang_seconds
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self.latency_ms, self.latency_ms_by_op, self.paging = 0.0, dict[str, float](), Paging()
        self._restore_knobs()
        self._faults = FaultPlan(seed)
        self._stats = Stats()
        self._request_no = 0
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        #: CloudWatch: (host dimension, metric name) -> the percent of every datapoint.
        self.cloudwatch_value: Callable[[str, str], float] = lambda host, metric: 50.0
        self.pricing = PricingFake()  # GetProducts of the Price List API (fake_aws.pricing)
        self.tuning = TuningJobs()  # none until a test adds some (fake_aws.tuning)

    def _build_store(self) -> JobStore:
        count, running, now = self._spec
        jobs = generate(count, running, self.seed, now, self.region, self.account_id)
        return JobStore(jobs, self.seed, self.region, self.account_id)

    # lifecycle
    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/", self._api)
        control_routes(app, self)
        # handler_cancellation: a hung "timeout" handler ends when the client gives up
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._closing = asyncio.Event()
        if self.tick_interval > 0:
            self._ticker = asyncio.create_task(self._tick_forever())

    async def stop(self) -> None:
        self._closing.set()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSageMaker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            if self.churn > 0:
                self.store.tick(self.clock(), self.churn, self.replenish)

    # data
    def tick(self, n: int = 1, churn: float | None = None) -> list[str]:
        """Run n state-change ticks now (churn defaults to the configured one)."""
        changed: list[str] = []
        for _ in range(n):
            changed += self.store.tick(
                self.clock(), self.churn if churn is None else churn, self.replenish
            )
        return changed

    def job_names(self, status: str | None = None) -> list[str]:
        return [j.name for j in self.store.jobs if status in (None, j.status)]

    def job(self, name: str) -> Doc:
        """A copy of the DescribeTrainingJob body (epoch-second timestamps) of a job."""
        return copy.deepcopy(self.store.get(name).doc)

    def tags(self, name: str) -> list[dict[str, str]]:
        return [dict(t) for t in self.store.get(name).tags]

    def remove_job(self, name: str) -> bool:
        """Delete a job: later lists omit it, describe answers ValidationException."""
        return self.store.remove(name)

    # faults, latency, rate limits
    def inject(
        self,
        kind: FaultKind,
        *,
        operation: str | None = None,
        count: int | None = None,
        fraction: float = 1.0,
        status: int = 500,
        hang_seconds: float | None = None,
        region: str | None = None,
        account_id: str | None = None,
    ) -> int:
        """Add a fault rule; returns its id (for remove_fault). See FaultRule."""
        return self._faults.add(
            FaultRule(kind, operation, count, fraction, status, hang_seconds, region, account_id)
        )

    def add_fault(self, rule: FaultRule) -> int:
        return self._faults.add(rule)

    def remove_fault(self, rule_id: int) -> bool:
        return self._faults.remove(rule_id)

    def clear_faults(self) -> None:
        self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        return self._faults.describe()

    def set_latency(self, ms: float, operation: str | None = None) -> None:
        if operation is None:
            self.latency_ms = ms
        else:
            self.latency_ms_by_op[_check_op(operation)] = ms

    def set_rate_limit(self, operation: str, rps: float | None, burst: float | None = None) -> None:
        """Token bucket of rps per second (burst defaults to max(1, rps)); None removes it."""
        _check_op(operation)
        if rps is None:
            self._buckets.pop(operation, None)
        else:
            self._buckets[operation] = TokenBucket(rps, burst or max(1.0, rps))

    def set_paging(
        self, *, empty_page_every: int | None = None, max_page_size: int | None = None
    ) -> None:
        self.paging = Paging(
            self.paging.empty_page_every if empty_page_every is None else empty_page_every,
            self.paging.max_page_size if max_page_size is None else max_page_size,
        )

    # stats
    def stats(self) -> dict[str, Any]:
        """{"operations": {op: {"ok": n, "throttled": n, "error": n}}, "faults": {...},
        "total": n}"""
        return self._stats.snapshot()

    def calls(self, operation: str | None = None, outcome: str | None = None) -> int:
        return self._stats.calls(operation, outcome)

    def reset_stats(self) -> None:
        self._stats.reset()

    def reset(self, *, data: bool = False) -> None:
        """Clear stats and faults, restore the constructor's latency, rate limits and paging;
        data=True also regenerates the original jobs."""
        self._stats.reset()
        self._faults.clear()
        self._restore_knobs()
        if data:
            self.store = self._build_store()

    def _restore_knobs(self) -> None:
        latency_ms, by_op, limits, burst, paging = self._knobs
        self.latency_ms, self.latency_ms_by_op, self.paging = latency_ms, dict(by_op), paging
        self._buckets.clear()
        for op, rps in limits.items():
            self.set_rate_limit(op, rps, burst)

    def info(self) -> dict[str, Any]:
        return {
            "endpoint_url": self.endpoint_url,
            "jobs": len(self.store.jobs),
            "running": len(self.store.running),
            "by_status": dict(Counter(j.status for j in self.store.jobs)),
            "faults": self.faults(),
            "latency_ms": self.latency_ms,
            "rate_limits": {op: b.rate for op, b in self._buckets.items()},
            "paging": {
                "empty_page_every": self.paging.empty_page_every,
                "max_page_size": self.paging.max_page_size,
            },
        }

    # the API
    def _call(self, op: str, params: Doc) -> bytes:
        try:
            return self._dispatch(op, params)
        except (TypeError, KeyError, AttributeError) as exc:  # e.g. a token from another sort
            raise ApiError("ValidationException", f"Invalid request: {exc}") from exc

    def _dispatch(self, op: str, params: Doc) -> bytes:
        if op == "DescribeTrainingJob":
            return self.store.get(str(params.get("TrainingJobName", ""))).encoded()
        if op == "ListTrainingJobs":
            out = list_training_jobs(self.store, params, self.paging)
        elif op == "ListTags":
            out = list_tags(self.store, params)
        elif op == "ListHyperParameterTuningJobs":
            out = self.tuning.list(params)
        elif op == "DescribeHyperParameterTuningJob":
            out = self.tuning.describe(params)
        else:
            out = search(self.store, params, self.paging)
        return json.dumps(out, separators=(",", ":")).encode()

    def _response(self, status: int, body: bytes) -> web.Response:
        self._request_no += 1
        return web.Response(
            status=status,
            body=body,
            headers={
                "Content-Type": CONTENT_TYPE,
                "x-amzn-RequestId": f"fake-{self._request_no:012d}",
            },
        )

    def _error(self, err: ApiError) -> web.Response:
        body = json.dumps({"__type": err.code, "message": err.message}).encode()
        return self._response(err.status, body)

    async def _sts(self, request: web.Request, account: str) -> web.Response:
        self._request_no += 1
        rid = f"fake-{self._request_no:012d}"
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)
        raw = await request.read()
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        if form.get("Action") == "DescribeInstanceTypes":  # EC2, for --cloudwatch
            op = "DescribeInstanceTypes"
            status, body = cloudwatch.describe_instance_types(form, rid)
            self._stats.record(op, "ok" if status == 200 else "error")
            return web.Response(status=status, body=body, content_type="text/xml")
        op, status, body = sts_answer(raw, account, rid)
        self._stats.record(op, "ok" if status == 200 else "error")
        return web.Response(status=status, body=body, content_type="text/xml")

    async def _api(self, request: web.Request) -> web.StreamResponse:
        region, account = caller(
            request.headers.get("Authorization", ""), self.account_id, self.region
        )
        if "X-Amz-Target" not in request.headers:  # STS: query protocol, form-encoded body
            return await self._sts(request, account)
        if request.headers["X-Amz-Target"] == "AWSPriceListService.GetProducts":
            status, doc = self.pricing.answer(await request.read())
            self._stats.record("GetProducts", "ok" if status == 200 else "error")
            return self._response(status, json.dumps(doc).encode())
        service, _, op = request.headers.get("X-Amz-Target", "").partition(".")
        cw = service == cloudwatch.SERVICE and op in CLOUDWATCH_OPERATIONS
        if not cw and (service != "SageMaker" or op not in OPERATIONS):
            self._stats.record(op or "Unknown", "error")
            return self._error(ApiError("UnknownOperationException", f"Unknown operation {op!r}"))
        try:
            params = json.loads(await request.read() or b"{}")
            if not isinstance(params, dict):
                raise ValueError("body is not a JSON object")
        except ValueError:
            self._stats.record(op, "error")
            return self._error(ApiError("SerializationException", "Malformed request body"))
        delay = self.latency_ms_by_op.get(op, self.latency_ms)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if cw:
            return await self._cloudwatch(op, params, region, account)
        bucket = self._buckets.get(op)
        if bucket is not None and not bucket.take():
            self._stats.record(op, "throttled")
            return self._error(_CANNED["throttle"])
        rule = self._faults.pick(op, region, account)
        if rule is not None:
            return await self._fault(rule, op, params, request)
        try:
            body = self._call(op, params)
        except ApiError as err:
            self._stats.record(op, "error")
            return self._error(err)
        self._stats.record(op, "ok")
        return self._response(200, body)

    async def _fault(
        self, rule: FaultRule, op: str, params: Doc, request: web.Request
    ) -> web.StreamResponse:
        kind = rule.kind
        self._stats.record(op, "throttled" if kind == "throttle" else "error", kind)
        if kind in _CANNED:
            return self._error(_CANNED[kind])
        if kind == "server_error":
            if rule.status not in (500, 503):  # as a load balancer in front would answer
                page = f"<html><body><h1>{rule.status} Gateway Error</h1></body></html>"
                return web.Response(status=rule.status, text=page, content_type="text/html")
            code = "ServiceUnavailable" if rule.status == 503 else "InternalFailure"
            return self._error(
                ApiError(code, "We encountered an internal error. Please try again.", rule.status)
            )
        if kind == "vanish":
            name = str(params.get("TrainingJobName", ""))
            job = self.store.by_arn.get(str(params.get("ResourceArn", "")))
            self.store.remove(job.name if job is not None else name)
            return self._error(ApiError("ValidationException", NOT_FOUND))
        if kind == "reset":
            _abort(request, rst=True)
            raise asyncio.CancelledError  # nothing to send; aiohttp drops the request
        if kind == "timeout":
            hang = self.hang_seconds if rule.hang_seconds is None else rule.hang_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), hang)
        try:
            body = self._call(op, params)
        except ApiError as err:
            if kind == "timeout":
                return self._error(err)
            body = json.dumps({"__type": err.code, "message": err.message}).encode()
        if kind == "malformed_json":
            body = MALFORMED_BODY
        elif kind == "truncated_json":
            body = body[: max(1, len(body) // 2)]
        elif kind == "short_body":
            resp = web.StreamResponse(status=200, headers={"Content-Type": CONTENT_TYPE})
            resp.content_length = len(body)
            await resp.prepare(request)
            await resp.write(body[: len(body) // 2])
            _abort(request, rst=False)
            raise asyncio.CancelledError
        return self._response(200, body)

    async def _cloudwatch(self, op: str, params: Doc, region: str, account: str) -> web.Response:
        """CloudWatch: rate limits and throttle/access_denied/server_error faults apply as
        for SageMaker; other fault kinds are ignored."""
        bucket = self._buckets.get(op)
        rule = self._faults.pick(op, region, account)
        if (bucket is not None and not bucket.take()) or (rule and rule.kind == "throttle"):
            self._stats.record(op, "throttled", rule.kind if rule else None)
            resp = self._error(ApiError("ThrottlingException", "Rate exceeded"))
            resp.headers.update(cloudwatch.THROTTLE_HEADERS)
            return resp
        if rule is not None and rule.kind in ("access_denied", "server_error"):
            self._stats.record(op, "error", rule.kind)
            if rule.kind == "server_error":
                return self._error(ApiError("InternalServiceError", "Internal error", 500))
            return self._error(_CANNED["access_denied"])
        try:
            body = cloudwatch.get_metric_data(params, self.clock(), self.cloudwatch_value)
        except (KeyError, TypeError, ValueError) as exc:
            self._stats.record(op, "error")
            return self._error(ApiError("InvalidParameterValueException", f"Invalid: {exc}"))
        self._stats.record(op, "ok")
        resp = self._response(200, body)
        resp.headers["Content-Type"] = cloudwatch.CONTENT_TYPE
        return resp


def _abort(request: web.Request, *, rst: bool) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if rst and sock is not None:  # linger 0: closing sends RST instead of FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if rst:
        transport.abort()
    else:
        transport.close()  # flushes the half body written so far, then FIN


def _check_op(operation: str) -> str:
    if operation not in OPERATIONS + CLOUDWATCH_OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; one of {OPERATIONS}")
    return operation
