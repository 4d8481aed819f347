"""aiobotocore clients for the services a source needs besides SageMaker (CloudWatch, EC2).

Built the way exporter/aws/sagemaker.py builds the SageMaker client: the same base credentials
(explicit ones for the demo, else the default chain), the same assume-role for another
account, adaptive retries, and every HTTP attempt counted through botocore's `needs-retry`
event in `sagemaker_exporter_api_requests_total`. A separate session, so these calls never
show in the SageMaker poll cycle's call count.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from exporter.aws.sagemaker import (
    AwsSettings,
    assume_role,
    classify_attempt,
    classify_error,
)
from exporter.metrics.selfmetrics import OUTCOMES, SelfMetrics
from exporter.model import Target


class ServiceClients:
    """Clients of one (account, region) for any services; an async context manager.

    `account_id` must be set (by the owner, from the SageMaker target) before calls are
    counted; attempts made before that are counted once it is.
    """

    def __init__(
        self,
        target: Target,
        settings: AwsSettings,
        metrics: SelfMetrics,
        services: tuple[str, ...],
        account_id: Callable[[], str],
        loader: Any = None,
    ) -> None:
        self.target, self.region = target, target.region
        self._settings, self._metrics = settings, metrics
        self._services = services
        self._account_id = account_id
        self._loader = loader  # shared with the SageMaker clients: see aws.new_data_loader()
        self._stack = AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self._pending: list[tuple[str, str]] = []
        self.attempts = 0

    def init_operations(self, account_id: str, operations: tuple[str, ...]) -> None:
        """Start the request counters of these operations at zero for every outcome."""
        for op in operations:
            for outcome in OUTCOMES:
                self._metrics.api_requests.labels(op, self.region, account_id, outcome)

    def _count_attempt(
        self, response: Any = None, caught_exception: Any = None, operation: Any = None, **_: Any
    ) -> None:
        self.attempts += 1
        op = getattr(operation, "name", "unknown")
        outcome = classify_attempt(response, caught_exception, operation)
        account = self._account_id()
        if not account:
            self._pending.append((op, outcome))
            return
        for p_op, p_outcome in self._pending:
            self._metrics.api_requests.labels(p_op, self.region, account, p_outcome).inc()
        self._pending.clear()
        self._metrics.api_requests.labels(op, self.region, account, outcome).inc()

    def _session(self) -> AioSession:
        session = AioSession()
        if self._loader is not None:
            session.register_component("data_loader", self._loader)
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
            user_agent_extra="sagemaker-training-exporter",
        )

    async def __aenter__(self) -> ServiceClients:
        base = self._session()
        session = base
        if self.target.role_arn:
            session = self._session()
            await assume_role(
                session, base, self.target, self._settings.endpoint_url, self._config()
            )
        try:
            for service in self._services:
                self._clients[service] = await self._stack.enter_async_context(
                    session.create_client(
                        service, endpoint_url=self._settings.endpoint_url, config=self._config()
                    )
                )
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def call(
        self, service: str, operation: str, method: str, **params: Any
    ) -> Mapping[str, Any]:
        """One API call; failures (after botocore's retries) raise aws.ApiError."""
        start = time.monotonic()
        try:
            result: Mapping[str, Any] = await getattr(self._clients[service], method)(**params)
            return result
        except Exception as exc:
            raise classify_error(operation, exc) from exc
        finally:
            self._metrics.api_duration.labels(operation).observe(time.monotonic() - start)
