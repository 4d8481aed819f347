"""The AWS client layer: the only module that imports aiobotocore.

One aiobotocore client per (account, region) target, adaptive retries, a token-bucket
rate limiter per operation, and every HTTP attempt counted by outcome through botocore's
`needs-retry` event (which fires once per attempt, success included).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.credentials import (
    AioAssumeRoleCredentialFetcher,
    AioDeferredRefreshableCredentials,
)
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError

from .model import Target
from .selfmetrics import SelfMetrics

#: Every AWS operation this code calls, as IAM actions (deploy/iam-policy.json is tested
#: against this set). GetCallerIdentity needs no permission.
OPERATIONS_USED: frozenset[str] = frozenset(
    {
        "sagemaker:ListTrainingJobs",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:ListTags",
        "sts:AssumeRole",
        "sts:GetCallerIdentity",
        # --cloudwatch (exporter/sources/cloudwatch.py)
        "cloudwatch:GetMetricData",
        "ec2:DescribeInstanceTypes",
    }
)

THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "ProvisionedThroughputExceededException",
    }
)
NOT_FOUND_CODES = frozenset(
    {"ValidationException", "ResourceNotFound", "ResourceNotFoundException"}
)


class ApiError(Exception):
    """An AWS call that failed after retries; `outcome` is its self-metric outcome."""

    def __init__(self, operation: str, outcome: str, code: str, message: str) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.operation, self.outcome, self.code = operation, outcome, code


class JobNotFound(Exception):
    """DescribeTrainingJob says the job does not exist (any more)."""


@dataclass(frozen=True, slots=True)
class AwsSettings:
    endpoint_url: str | None = None
    list_rps: float = 2.0
    describe_rps: float = 10.0
    max_concurrency: int = 8
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_attempts: int = 4
    access_key_id: str | None = None  # explicit base credentials (the demo); else the chain
    secret_access_key: str | None = None


class RateLimiter:
    """Token bucket: at most `rate` calls per second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if self.rate <= 0:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)


def _garbled(parsed: Any, operation: Any) -> bool:
    """botocore parses a 200 body that is not JSON (an HTML page from a proxy, a body cut
    short) to a dict without any modeled field instead of raising; an answer that should
    have required fields but has none of its fields is that."""
    shape = getattr(operation, "output_shape", None)
    if shape is None or not shape.required_members or not isinstance(parsed, dict):
        return False
    return not any(name in parsed for name in shape.members)


def error_outcome(code: str, status: int) -> str:
    """The outcome label of an answer that carries an error code or an error status."""
    if code in THROTTLE_CODES or status == 429:
        return "throttled"
    return "server_error" if status >= 500 else "client_error"


def classify_attempt(response: Any, caught_exception: Any, operation: Any = None) -> str:
    """The outcome label of one HTTP attempt, from botocore's needs-retry arguments."""
    if caught_exception is not None or not response:
        return "network_error"
    http, parsed = response
    status = getattr(http, "status_code", 200)
    code = (parsed or {}).get("Error", {}).get("Code", "") if isinstance(parsed, dict) else ""
    if code or status >= 400:
        return error_outcome(code, status)
    if _garbled(parsed, operation):
        return "server_error"
    return "ok"


def classify_error(operation: str, exc: Exception) -> ApiError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, msg = str(err.get("Code", "")), str(err.get("Message", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return ApiError(operation, error_outcome(code, status), code or str(status), msg)
    if isinstance(exc, BotoCoreError | OSError | asyncio.TimeoutError):
        return ApiError(operation, "network_error", type(exc).__name__, str(exc))
    # A malformed response body surfaces as some parser exception: still the API's fault.
    return ApiError(operation, "server_error", type(exc).__name__, str(exc))


def account_from_role_arn(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else ""


class SageMakerTarget:
    """A client for one (account, region); use as an async context manager."""

    def __init__(self, target: Target, settings: AwsSettings, metrics: SelfMetrics) -> None:
        self.target = target
        self.region = target.region
        self.account_id = account_from_role_arn(target.role_arn or "")
        self._settings = settings
        self._metrics = metrics
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._limits = {
            "ListTrainingJobs": RateLimiter(settings.list_rps),
            "DescribeTrainingJob": RateLimiter(settings.describe_rps),
            "ListTags": RateLimiter(settings.describe_rps),
        }
        self.describe_slots = asyncio.Semaphore(settings.max_concurrency)
        #: HTTP attempts so far; the sync engine logs the difference per cycle.
        self.attempts = 0
        # Attempts made before the account id is known (GetCallerIdentity itself) are
        # counted once it is, so no series carries a placeholder account label.
        self._pending: list[tuple[str, str]] = []

    def _count_attempt(
        self, response: Any = None, caught_exception: Any = None, operation: Any = None, **_: Any
    ) -> None:
        self.attempts += 1
        op, outcome = (
            getattr(operation, "name", "unknown"),
            classify_attempt(response, caught_exception, operation),
        )
        if not self.account_id:
            self._pending.append((op, outcome))
            return
        self._metrics.api_requests.labels(op, self.region, self.account_id, outcome).inc()

    def _session(self) -> AioSession:
        session = AioSession()
        session.register("needs-retry", self._count_attempt)
        s = self._settings
        if s.access_key_id and s.secret_access_key:
            session.set_credentials(s.access_key_id, s.secret_access_key)
        return session

    def _config(self) -> AioConfig:
        s = self._settings
        return AioConfig(
            region_name=self.region,
            connect_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            retries={"mode": "adaptive", "total_max_attempts": s.max_attempts},
            max_pool_connections=max(10, s.max_concurrency + 2),
            user_agent_extra="sagemaker-training-exporter",
        )

    async def __aenter__(self) -> SageMakerTarget:
        base = self._session()
        session = base
        if self.target.role_arn:
            session = self._session()
            extra: dict[str, Any] = {"RoleSessionName": "sagemaker-training-exporter"}
            if self.target.external_id:
                extra["ExternalId"] = self.target.external_id

            def sts_client(service: str, **kwargs: Any) -> Any:
                return base.create_client(
                    service,
                    region_name=self.region,
                    endpoint_url=self._settings.endpoint_url,
                    config=self._config(),
                    **kwargs,
                )

            fetcher = AioAssumeRoleCredentialFetcher(
                client_creator=sts_client,
                source_credentials=await base.get_credentials(),
                role_arn=self.target.role_arn,
                extra_args=extra,
            )
            session._credentials = AioDeferredRefreshableCredentials(
                refresh_using=fetcher.fetch_credentials, method="assume-role"
            )
        self._base = base
        self._client = await self._stack.enter_async_context(
            session.create_client(
                "sagemaker", endpoint_url=self._settings.endpoint_url, config=self._config()
            )
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _call(self, operation: str, method: str, **params: Any) -> Mapping[str, Any]:
        limiter = self._limits.get(operation)
        if limiter:
            await limiter.acquire()
        start = time.monotonic()
        try:
            result: Mapping[str, Any] = await getattr(self._client, method)(**params)
            return result
        except Exception as exc:
            raise classify_error(operation, exc) from exc
        finally:
            self._metrics.api_duration.labels(operation).observe(time.monotonic() - start)

    async def resolve_account(self) -> str:
        """The account id label: from the role ARN, else one GetCallerIdentity call."""
        if self.account_id:
            return self.account_id
        start = time.monotonic()
        try:
            async with self._base.create_client(
                "sts",
                region_name=self.region,
                endpoint_url=self._settings.endpoint_url,
                config=self._config(),
            ) as sts:
                ident = await sts.get_caller_identity()
        except Exception as exc:
            raise classify_error("GetCallerIdentity", exc) from exc
        finally:
            self._metrics.api_duration.labels("GetCallerIdentity").observe(time.monotonic() - start)
        self.account_id = str(ident.get("Account", ""))
        for op, outcome in self._pending:
            self._metrics.api_requests.labels(op, self.region, self.account_id, outcome).inc()
        self._pending.clear()
        return self.account_id

    async def list_training_jobs(self, **params: Any) -> Mapping[str, Any]:
        return await self._call("ListTrainingJobs", "list_training_jobs", **params)

    async def describe_training_job(self, name: str) -> Mapping[str, Any]:
        try:
            return await self._call(
                "DescribeTrainingJob", "describe_training_job", TrainingJobName=name
            )
        except ApiError as err:
            # AWS says "Requested resource not found."; moto "Could not find training job".
            text = str(err).lower()
            if err.code in NOT_FOUND_CODES and ("not found" in text or "could not find" in text):
                raise JobNotFound(name) from err
            raise

    async def list_tags(self, arn: str) -> list[Mapping[str, Any]]:
        tags: list[Mapping[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"ResourceArn": arn, "MaxResults": 100}
            if token:
                params["NextToken"] = token
            page = await self._call("ListTags", "list_tags", **params)
            tags.extend(page.get("Tags") or [])
            token = page.get("NextToken")
            if not token:
                return tags
