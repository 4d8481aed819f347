"""The SageMaker client of one (account, region) target: discovered rates, our own retries.

A discovered rate per operation (exporter.aws.ratelimit: the quota is found, not
configured), and every HTTP attempt counted (exporter.aws.session.AttemptCounter).

botocore's own retries are off (one attempt per botocore call) because they would fight the
rate: its adaptive mode keeps a second, slower rate of its own, and its standard mode
retries a throttled call at once, at the rate that was just throttled. Here a throttled
attempt cuts the discovered rate and waits for a token at the new rate; a server or network
error backs off exponentially with jitter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

from exporter.aws.errors import ApiError, JobNotFound, backoff, classify_error
from exporter.aws.paging import collect
from exporter.aws.ratelimit import DiscoveredRate
from exporter.aws.session import (
    AttemptCounter,
    AwsSettings,
    client_config,
    sts_config,
    target_sessions,
    timed_call,
)
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.model import Target

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


def account_from_role_arn(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else ""


class SageMakerTarget:
    """A client for one (account, region); use as an async context manager.

    `rates`: the operations that get a discovered rate (default: the training jobs'); the
    others run unpaced. A client that calls none of them publishes no rate series."""

    def __init__(
        self,
        target: Target,
        settings: AwsSettings,
        metrics: SelfMetrics,
        loader: Any = None,
        rates: Mapping[str, float] = INITIAL_RATES,
    ) -> None:
        self.target = target
        self._loader = loader  # see session.new_data_loader()
        self.region = target.region
        self.account_id = account_from_role_arn(target.role_arn or "")
        self._settings = settings
        self._metrics = metrics
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._base: Any = None
        caps = {
            "ListTrainingJobs": settings.list_rps,
            "DescribeTrainingJob": settings.describe_rps,
            "ListTags": settings.describe_rps,
        }
        self.rates = {
            op: DiscoveredRate(initial, caps.get(op), on_change=self._rate_setter(op))
            for op, initial in rates.items()
        }
        self.describe_slots = asyncio.Semaphore(settings.max_concurrency)
        self.counter = AttemptCounter(metrics, self.region, lambda: self.account_id)

    @property
    def attempts(self) -> int:
        """HTTP attempts so far; the poller logs the difference per cycle."""
        return self.counter.attempts

    def _rate_setter(self, op: str) -> Any:
        def publish(rate: float) -> None:
            if self.account_id:
                self._metrics.api_rate_limit.labels(op, self.region, self.account_id).set(rate)

        return publish

    async def __aenter__(self) -> SageMakerTarget:
        s = self._settings
        session, self._base = await target_sessions(self.target, s, self.counter, self._loader)
        self._client = await self._stack.enter_async_context(
            session.create_client(
                "sagemaker",
                endpoint_url=s.endpoint_url,
                config=client_config(self.region, s, pool=max(10, s.max_concurrency + 2)),
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

    async def _describe(
        self, operation: str, method: str, name: str, **params: Any
    ) -> Mapping[str, Any]:
        try:
            return await self._call(operation, method, **params)
        except ApiError as err:
            if err.not_found:
                raise JobNotFound(name) from err
            raise

    async def resolve_account(self) -> str:
        """The account id label: from the role ARN, else one GetCallerIdentity call."""
        if self.account_id:
            return self.account_id
        s = self._settings
        async with self._base.create_client(
            "sts", endpoint_url=s.endpoint_url, config=sts_config(self.target, s)
        ) as sts:
            ident = await timed_call(self._metrics, "GetCallerIdentity", sts.get_caller_identity)
        self.account_id = str(ident.get("Account", ""))
        self.counter.flush()
        for op, rate in self.rates.items():
            self._rate_setter(op)(rate.rate)
        return self.account_id

    def describe_rate(self) -> float:
        return self.rates["DescribeTrainingJob"].rate

    # -- training jobs -------------------------------------------------------------------
    async def list_training_jobs(self, **params: Any) -> Mapping[str, Any]:
        return await self._call("ListTrainingJobs", "list_training_jobs", **params)

    async def describe_training_job(self, name: str) -> Mapping[str, Any]:
        return await self._describe(
            "DescribeTrainingJob", "describe_training_job", name, TrainingJobName=name
        )

    async def list_tags(self, arn: str) -> list[Mapping[str, Any]]:
        async def call(**params: Any) -> Mapping[str, Any]:
            return await self._call("ListTags", "list_tags", **params)

        return await collect(call, "ListTags", "Tags", {"ResourceArn": arn}, required=False)

    async def search_training_jobs(self, **params: Any) -> Mapping[str, Any]:
        return await self._call("Search", "search", Resource="TrainingJob", **params)

    # -- tuning jobs ---------------------------------------------------------------------
    async def list_tuning_jobs(self, **params: Any) -> Mapping[str, Any]:
        return await self._call(
            "ListHyperParameterTuningJobs", "list_hyper_parameter_tuning_jobs", **params
        )

    async def describe_tuning_job(self, name: str) -> Mapping[str, Any]:
        return await self._describe(
            "DescribeHyperParameterTuningJob",
            "describe_hyper_parameter_tuning_job",
            name,
            HyperParameterTuningJobName=name,
        )
