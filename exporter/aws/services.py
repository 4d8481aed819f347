"""Clients of the services beside SageMaker: CloudWatch and EC2 per target, the Price List.

Built by exporter.aws.session like the SageMaker client (same credentials, assume-role,
data loader, attempt counting), but with botocore's own retries (adaptive for the per-target
services, standard for the daily Price List call): none of them has a quota worth
discovering. A client set of its own, so these calls never show in the SageMaker poll
cycle's call count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

from exporter.aws.session import (
    AttemptCounter,
    AwsSettings,
    client_config,
    new_session,
    target_sessions,
    timed_call,
)
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.model import Target

#: The Price List API answers from these regions only; us-east-1 serves every region's prices.
PRICING_REGION = "us-east-1"


class ServiceClients:
    """Clients of one (account, region) for any services; an async context manager.

    `account_id` None: calls that belong to no account (the Price List API): the base
    credentials, counted with account_id "". Otherwise the target's credentials, counted
    once `account_id()` is known (set by the owner, from the SageMaker target).
    """

    def __init__(
        self,
        target: Target,
        settings: AwsSettings,
        metrics: SelfMetrics,
        services: tuple[str, ...],
        account_id: Callable[[], str] | None,
        loader: Any = None,
        retry_mode: str = "adaptive",
    ) -> None:
        self.target, self.region = target, target.region
        self._settings, self._metrics = settings, metrics
        self._services = services
        self._loader = loader  # shared with the SageMaker clients: see session.new_data_loader()
        self._retry_mode = retry_mode
        self._stack = AsyncExitStack()
        self._clients: dict[str, Any] = {}
        self.counter = AttemptCounter(metrics, self.region, account_id)

    @property
    def attempts(self) -> int:
        return self.counter.attempts

    def init_operations(self, account_id: str, operations: tuple[str, ...]) -> None:
        """Start the request counters of these operations at zero for every outcome."""
        self.counter.init_operations(operations)

    async def __aenter__(self) -> ServiceClients:
        s = self._settings
        if self.counter.account() == "":  # no account: the base credentials
            session = new_session(s, self.counter, self._loader)
        else:
            session, _ = await target_sessions(self.target, s, self.counter, self._loader)
        config = client_config(self.region, s, retry_mode=self._retry_mode, attempts=s.max_attempts)
        try:
            for service in self._services:
                self._clients[service] = await self._stack.enter_async_context(
                    session.create_client(service, endpoint_url=s.endpoint_url, config=config)
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
        """One API call; failures (after botocore's retries) raise ApiError."""
        fn = getattr(self._clients[service], method)
        result: Mapping[str, Any] = await timed_call(self._metrics, operation, fn, **params)
        return result


def pricing_clients(
    settings: AwsSettings, metrics: SelfMetrics, loader: Any = None
) -> ServiceClients:
    """GetProducts with the base credentials, standard retries (a daily call)."""
    return ServiceClients(
        Target(PRICING_REGION),
        settings,
        metrics,
        ("pricing",),
        None,
        loader,
        retry_mode="standard",
    )
