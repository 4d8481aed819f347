"""The one way this exporter builds an aiobotocore session, client config and credentials.

Every client (SageMaker, STS, CloudWatch, EC2, Price List, SQS) comes from here: the same
base credentials (explicit ones for the demo, else the default chain), the same assume-role
for another account, one shared botocore data loader, and every HTTP attempt counted by
outcome through botocore's `needs-retry` event (which fires once per attempt, success
included) in `sagemaker_exporter_api_requests_total`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import botocore.session
from aiobotocore.config import AioConfig
from aiobotocore.credentials import (
    AioAssumeRoleCredentialFetcher,
    AioDeferredRefreshableCredentials,
)
from aiobotocore.session import AioSession
from botocore.loaders import create_loader

from exporter.aws.errors import classify_attempt, classify_error
from exporter.metrics.selfmetrics import OUTCOMES, SelfMetrics
from exporter.model import Target

USER_AGENT = "sagemaker-training-exporter"
T = TypeVar("T")


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


def default_region() -> str | None:
    """The AWS default region of the environment or ~/.aws/config, as botocore finds it."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return region
    try:
        found = botocore.session.get_session().get_config_variable("region")
    except Exception:  # an unreadable config file: no default region, not a crash
        return None
    return str(found) if found else None


def new_data_loader() -> Any:
    """One botocore data loader for every target's sessions. Each session otherwise loads
    and keeps its own parsed copy of the service models and the endpoint data: measured
    17 MiB per client, 0.8 MiB with a shared loader (bench/targets.py, 200 targets)."""
    return create_loader()


class AttemptCounter:
    """botocore's `needs-retry` handler: counts every HTTP attempt of one (account, region)
    by operation and outcome. Attempts made before the account id is known (GetCallerIdentity
    itself) are counted once it is, so no series carries a placeholder account label.
    `account` None: calls that belong to no account (the Price List API), label ""."""

    def __init__(
        self, metrics: SelfMetrics, region: str, account: Callable[[], str] | None
    ) -> None:
        self._metrics, self.region, self._account = metrics, region, account
        self._pending: list[tuple[str, str]] = []
        self.attempts = 0  # HTTP attempts so far; the poller logs the difference per cycle

    def account(self) -> str | None:
        """The account label, or None while it is not known yet."""
        if self._account is None:
            return ""
        return self._account() or None

    def __call__(
        self, response: Any = None, caught_exception: Any = None, operation: Any = None, **_: Any
    ) -> None:
        self.attempts += 1
        self._pending.append(
            (
                getattr(operation, "name", "unknown"),
                classify_attempt(response, caught_exception, operation),
            )
        )
        self.flush()

    def flush(self) -> None:
        account = self.account()
        if account is None:
            return
        for op, outcome in self._pending:
            self._metrics.api_requests.labels(op, self.region, account, outcome).inc()
        self._pending.clear()

    def init_operations(self, operations: tuple[str, ...]) -> None:
        """Start these operations' request counters at zero for every outcome."""
        account = self.account()
        if account is None:
            return
        for op in operations:
            for outcome in OUTCOMES:
                self._metrics.api_requests.labels(op, self.region, account, outcome)


def client_config(
    region: str,
    settings: AwsSettings,
    *,
    retry_mode: str = "standard",
    attempts: int = 1,
    pool: int | None = None,
    read_timeout: float | None = None,
    connect_timeout: float | None = None,
) -> AioConfig:
    """attempts=1: botocore does not retry (the caller does, paced by a discovered rate)."""
    kwargs: dict[str, Any] = {}
    if pool is not None:
        kwargs["max_pool_connections"] = pool
    return AioConfig(
        region_name=region,
        connect_timeout=settings.connect_timeout if connect_timeout is None else connect_timeout,
        read_timeout=settings.read_timeout if read_timeout is None else read_timeout,
        retries={"mode": retry_mode, "total_max_attempts": attempts},
        user_agent_extra=USER_AGENT,
        **kwargs,
    )


def new_session(
    settings: AwsSettings, counter: AttemptCounter | None = None, loader: Any = None
) -> AioSession:
    session = AioSession()
    if counter is not None:
        session.register("needs-retry", counter)
    if loader is not None:
        session.register_component("data_loader", loader)
    if settings.access_key_id and settings.secret_access_key:
        session.set_credentials(settings.access_key_id, settings.secret_access_key)
    return session


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
    extra: dict[str, Any] = {"RoleSessionName": USER_AGENT}
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


def sts_config(target: Target, settings: AwsSettings) -> AioConfig:
    """STS calls (AssumeRole, GetCallerIdentity) are rare and unthrottled: botocore retries
    them itself."""
    return client_config(target.region, settings, attempts=settings.max_attempts)


async def target_sessions(
    target: Target, settings: AwsSettings, counter: AttemptCounter, loader: Any
) -> tuple[AioSession, AioSession]:
    """(the session with the target's credentials, the base session): the same one unless
    the target is another account reached by assuming its role."""
    base = new_session(settings, counter, loader)
    if not target.role_arn:
        return base, base
    session = new_session(settings, counter, loader)
    await assume_role(session, base, target, settings.endpoint_url, sts_config(target, settings))
    return session, base


async def timed_call(
    metrics: SelfMetrics, operation: str, call: Callable[..., Awaitable[T]], **params: Any
) -> T:
    """One call, its failure as ApiError, its duration in sagemaker_exporter_api_call_duration."""
    start = time.monotonic()
    try:
        return await call(**params)
    except Exception as exc:
        raise classify_error(operation, exc) from exc
    finally:
        metrics.api_duration.labels(operation).observe(time.monotonic() - start)
