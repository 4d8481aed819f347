"""The AWS client layer: the only module that imports aiobotocore.

One aiobotocore client per (account, region) target, a discovered rate per operation
(exporter.aws.ratelimit: the quota is found, not configured), our own retries, and every HTTP
attempt counted by outcome through botocore's `needs-retry` event (which fires once per
attempt, success included).

botocore's own retries are off (one attempt per botocore call) because they would fight the
rate: its adaptive mode keeps a second, slower rate of its own, and its standard mode
retries a throttled call at once, at the rate that was just throttled. Here a throttled
attempt cuts the discovered rate and waits for a token at the new rate; a server or network
error backs off exponentially with jitter.
"""

from __future__ import annotations

import asyncio
import random
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
from botocore.loaders import create_loader

from exporter.aws.ratelimit import DiscoveredRate
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.model import Target

#: Every AWS operation this code calls, as IAM actions (deploy/iam-policy.json is tested
#: against this set). GetCallerIdentity needs no permission.
OPERATIONS_USED: frozenset[str] = frozenset(
    {
        "sagemaker:ListTrainingJobs",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:ListTags",
        "sagemaker:Search",
        "sts:AssumeRole",
        "sts:GetCallerIdentity",
        # --cloudwatch (exporter/sources/cloudwatch.py)
        "cloudwatch:GetMetricData",
        "ec2:DescribeInstanceTypes",
        # event mode (aws_sqs.py); DeleteMessageBatch is authorised as sqs:DeleteMessage
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sagemaker:ListHyperParameterTuningJobs",
        "sagemaker:DescribeHyperParameterTuningJob",
        "pricing:GetProducts",
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
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorized"}
)

#: Where each operation's discovered rate starts (calls/s): about what SageMaker allows an
#: account by default where that is known (List is the tightest), and slow start finds
#: the rest within seconds. Describe and ListTags start higher: a cold sync is mostly them.
INITIAL_RATES: dict[str, float] = {
    "ListTrainingJobs": 2.0,
    "DescribeTrainingJob": 10.0,
    "ListTags": 10.0,
    "Search": 1.0,
}
#: A throttled attempt costs the server little and the cut rate paces the retry, so a call
#: gets this many times --api-max-attempts for throttles, but not forever.
THROTTLED_ATTEMPTS_FACTOR = 2
BACKOFF_BASE, BACKOFF_CAP = 0.2, 5.0


class ApiError(Exception):
    """An AWS call that failed after retries; `outcome` is its self-metric outcome."""

    def __init__(self, operation: str, outcome: str, code: str, message: str) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.operation, self.outcome, self.code = operation, outcome, code

    @property
    def access_denied(self) -> bool:
        return self.code in ACCESS_DENIED_CODES


class JobNotFound(Exception):
    """DescribeTrainingJob says the job does not exist (any more)."""


@dataclass(frozen=True, slots=True)
class AwsSettings:
    endpoint_url: str | None = None
    list_rps: float | None = None  # optional caps on the discovered rates
    describe_rps: float | None = None
    max_concurrency: int = 32
    connect_timeout: float = 5.0
    read_timeout: float = 20.0
    max_attempts: int = 4
    access_key_id: str | None = None  # explicit base credentials (the demo); else the chain
    secret_access_key: str | None = None


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


async def assume_role(
    session: AioSession,
    base: AioSession,
    target: Target,
    endpoint_url: str | None,
    sts_config: AioConfig,
) -> None:
    """Give `session` the credentials of target.role_arn, assumed with `base`'s credentials
    (with target.external_id if set) and refreshed before they expire."""
    assert target.role_arn
    extra: dict[str, Any] = {"RoleSessionName": "sagemaker-training-exporter"}
    if target.external_id:
        extra["ExternalId"] = target.external_id

    def sts_client(service: str, **kwargs: Any) -> Any:
        return base.create_client(
            service,
            region_name=target.region,
            endpoint_url=endpoint_url,
            config=sts_config,
            **kwargs,
        )

    fetcher = AioAssumeRoleCredentialFetcher(
        client_creator=sts_client,
        source_credentials=await base.get_credentials(),
        role_arn=target.role_arn,
        extra_args=extra,
    )
    session._credentials = AioDeferredRefreshableCredentials(
        refresh_using=fetcher.fetch_credentials, method="assume-role"
    )


def backoff(attempt: int) -> float:
    """Full-jitter exponential backoff before retry number `attempt` (1, 2, ...)."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))


def account_from_role_arn(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else ""


class SageMakerTarget:
    """A client for one (account, region); use as an async context manager."""

    def __init__(
        self, target: Target, settings: AwsSettings, metrics: SelfMetrics, loader: Any = None
    ) -> None:
        self.target = target
        self._loader = loader  # see new_data_loader()
        self.region = target.region
        self.account_id = account_from_role_arn(target.role_arn or "")
        self._settings = settings
        self._metrics = metrics
        self._stack = AsyncExitStack()
        self._client: Any = None
        caps = {
            "ListTrainingJobs": settings.list_rps,
            "DescribeTrainingJob": settings.describe_rps,
            "ListTags": settings.describe_rps,
        }
        self.rates = {
            op: DiscoveredRate(initial, caps.get(op), on_change=self._rate_setter(op))
            for op, initial in INITIAL_RATES.items()
        }
        self.describe_slots = asyncio.Semaphore(settings.max_concurrency)
        #: HTTP attempts so far; the sync engine logs the difference per cycle.
        self.attempts = 0
        # Attempts made before the account id is known (GetCallerIdentity itself) are
        # counted once it is, so no series carries a placeholder account label.
        self._pending: list[tuple[str, str]] = []

    def _rate_setter(self, op: str) -> Any:
        def publish(rate: float) -> None:
            if self.account_id:
                self._metrics.api_rate_limit.labels(op, self.region, self.account_id).set(rate)

        return publish

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
        if self._loader is not None:
            session.register_component("data_loader", self._loader)
        s = self._settings
        if s.access_key_id and s.secret_access_key:
            session.set_credentials(s.access_key_id, s.secret_access_key)
        return session

    def _config(self, retries: bool = False) -> AioConfig:
        """botocore retries only for STS (see the module docstring for why not elsewhere)."""
        s = self._settings
        return AioConfig(
            region_name=self.region,
            connect_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            retries={
                "mode": "standard",
                "total_max_attempts": s.max_attempts if retries else 1,
            },
            max_pool_connections=max(10, s.max_concurrency + 2),
            user_agent_extra="sagemaker-training-exporter",
        )

    async def __aenter__(self) -> SageMakerTarget:
        base = self._session()
        session = base
        if self.target.role_arn:
            session = self._session()
            await assume_role(
                session, base, self.target, self._settings.endpoint_url, self._config(retries=True)
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
        rate = self.rates.get(operation)
        start = time.monotonic()
        attempt = throttled = 0
        try:
            while True:
                sent_at = await rate.acquire() if rate else time.monotonic()
                attempt += 1
                try:
                    result: Mapping[str, Any] = await getattr(self._client, method)(**params)
                except Exception as exc:
                    err = classify_error(operation, exc)
                    if err.outcome == "throttled" and rate is not None:
                        rate.on_throttle(sent_at)
                        throttled += 1
                        if throttled < THROTTLED_ATTEMPTS_FACTOR * self._settings.max_attempts:
                            continue  # the cut rate paces the retry
                    elif err.outcome in ("server_error", "network_error") and (
                        attempt - throttled < self._settings.max_attempts
                    ):
                        await asyncio.sleep(backoff(attempt - throttled))
                        continue
                    raise err from exc
                if rate is not None:
                    rate.on_success()
                return result
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
                config=self._config(retries=True),
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
        for op, rate in self.rates.items():
            self._rate_setter(op)(rate.rate)
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

    def describe_rate(self) -> float:
        return self.rates["DescribeTrainingJob"].rate

    async def search_training_jobs(self, **params: Any) -> Mapping[str, Any]:
        return await self._call("Search", "search", Resource="TrainingJob", **params)

    # -- tuning jobs (issue 12) ------------------------------------------------------------
    async def list_tuning_jobs(self, **params: Any) -> Mapping[str, Any]:
        return await self._call(
            "ListHyperParameterTuningJobs", "list_hyper_parameter_tuning_jobs", **params
        )

    async def describe_tuning_job(self, name: str) -> Mapping[str, Any]:
        try:
            return await self._call(
                "DescribeHyperParameterTuningJob",
                "describe_hyper_parameter_tuning_job",
                HyperParameterTuningJobName=name,
            )
        except ApiError as err:
            text = str(err).lower()
            if err.code in NOT_FOUND_CODES and ("not found" in text or "could not find" in text):
                raise JobNotFound(name) from err
            raise


def new_data_loader() -> Any:
    """One botocore data loader for every target's sessions. Each session otherwise loads
    and keeps its own parsed copy of the SageMaker model and the endpoint data: measured
    17 MiB per client, 0.8 MiB with a shared loader (bench/targets.py, 200 targets)."""
    return create_loader()
