"""The AWS Price List API client (GetProducts), for --price-list-api.

Beside aws.py, the other aiobotocore user, one module per service: a daily call with the
base credentials and botocore's own retries (no discovered rate: nothing to discover at one
call a day). Its attempts are counted like SageMaker's, under region us-east-1 and an empty
account_id (prices are not per account).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from exporter.aws.sagemaker import AwsSettings, classify_attempt, classify_error
from exporter.metrics.selfmetrics import SelfMetrics

#: The Price List API answers from these regions only; us-east-1 serves every region's prices.
PRICING_REGION = "us-east-1"


class PricingClient:
    """GetProducts with the base credentials; an async context manager."""

    def __init__(self, settings: AwsSettings, metrics: SelfMetrics) -> None:
        self._settings, self._metrics = settings, metrics
        self._stack = AsyncExitStack()
        self._client: Any = None
        self.attempts = 0

    def _count_attempt(
        self, response: Any = None, caught_exception: Any = None, operation: Any = None, **_: Any
    ) -> None:
        self.attempts += 1
        outcome = classify_attempt(response, caught_exception, operation)
        op = getattr(operation, "name", "unknown")
        self._metrics.api_requests.labels(op, PRICING_REGION, "", outcome).inc()

    async def __aenter__(self) -> PricingClient:
        s = self._settings
        session = AioSession()
        session.register("needs-retry", self._count_attempt)
        if s.access_key_id and s.secret_access_key:
            session.set_credentials(s.access_key_id, s.secret_access_key)
        config = AioConfig(
            region_name=PRICING_REGION,
            connect_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            # No discovered rate here: a daily call needs none, so botocore retries it, as
            # it does STS calls.
            retries={"mode": "standard", "total_max_attempts": s.max_attempts},
            user_agent_extra="sagemaker-training-exporter",
        )
        self._client = await self._stack.enter_async_context(
            session.create_client("pricing", endpoint_url=s.endpoint_url, config=config)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def get_products(self, **params: Any) -> Mapping[str, Any]:
        start = time.monotonic()
        try:
            result: Mapping[str, Any] = await self._client.get_products(**params)
            return result
        except Exception as exc:
            raise classify_error("GetProducts", exc) from exc
        finally:
            self._metrics.api_duration.labels("GetProducts").observe(time.monotonic() - start)
