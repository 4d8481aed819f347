"""The price source: the table rendering reads (PriceBook) and the task that refreshes it
from the AWS Price List API once a day (PriceRefresher).

The book is the one mutable holder of prices, created by the wiring and read by rendering
through the `Prices` protocol. A lookup that finds no price is a warning, logged and counted
once per (region, instance type) each time the table changes, never a guess.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import structlog

from exporter.aws.errors import ApiError
from exporter.aws.paging import collect
from exporter.cadence import Cadence, every
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.parse.prices import PriceTable, parse_price_list

SERVICE_CODE = "AmazonSageMaker"
RETRY_AFTER_FAILURE = 900.0  # a failed refresh is retried sooner than the daily cadence


class PriceBook:
    """The prices in use: the API's over the file's (the API knows newer prices; the file can
    fill in types or regions the API did not return)."""

    def __init__(self, metrics: SelfMetrics, file_table: PriceTable | None = None) -> None:
        self._metrics = metrics
        self._file = file_table
        self._api: PriceTable | None = None
        self._missing: set[tuple[str, str]] = set()
        self._log = structlog.get_logger("prices")
        self.on_change: Callable[[], None] = lambda: None
        if file_table is not None:
            self._publish(file_table)

    @property
    def table(self) -> PriceTable | None:
        if self._api is not None:
            return self._api.merged_over(self._file)
        return self._file

    def set_api_table(self, table: PriceTable) -> None:
        self._api = table
        self._publish(table)

    def _publish(self, table: PriceTable) -> None:
        self._missing.clear()
        if table.as_of is not None:
            self._metrics.price_table_timestamp.labels(table.source).set(table.as_of)
        else:
            self._log.warning(
                "price table has no as_of date: its prices are used, its age is not exported",
                source=table.source,
            )
        self._metrics.price_entries.labels(table.source).set(len(table.hourly_usd))
        self.on_change()

    def hourly(self, region: str, instance_type: str) -> float | None:
        table = self.table
        if table is None:
            return None
        price = table.hourly(region, instance_type)
        if price is None and instance_type and (region, instance_type) not in self._missing:
            self._missing.add((region, instance_type))
            self._metrics.price_missing.labels(region, instance_type).inc()
            self._log.warning(
                "no price for instance type: its jobs get no cost series",
                region=region,
                instance_type=instance_type,
            )
        return price


class PricingAPI(Protocol):
    """What the refresher needs of aws.services.pricing_clients()."""

    async def call(
        self, service: str, operation: str, method: str, **params: Any
    ) -> Mapping[str, Any]: ...


async def fetch_prices(api: PricingAPI, region: str) -> dict[tuple[str, str], float]:
    """Every on-demand training price of `region`, paging GetProducts to the end."""

    async def call(**params: Any) -> Mapping[str, Any]:
        return await api.call("pricing", "GetProducts", "get_products", **params)

    params = {
        "ServiceCode": SERVICE_CODE,
        "FormatVersion": "aws_v1",
        "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}],
    }
    records = await collect(call, "GetProducts", "PriceList", params)
    return parse_price_list(records, region)


class PriceRefresher:
    """Refreshes the book from the Price List API every `interval`; a failure keeps the last
    table (logged once, counted) and is retried after RETRY_AFTER_FAILURE."""

    def __init__(
        self,
        api: PricingAPI,
        book: PriceBook,
        metrics: SelfMetrics,
        regions: Callable[[], list[str]],
        interval: float = 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api, self.book, self.metrics = api, book, metrics
        self.regions, self.interval, self.clock = regions, interval, clock
        self._log = structlog.get_logger("prices")
        for result in ("success", "failure"):
            metrics.price_refreshes.labels(result)

    async def refresh(self) -> bool:
        now = self.clock()
        table: dict[tuple[str, str], float] = {}
        try:
            for region in sorted(set(self.regions())):
                table.update(await fetch_prices(self.api, region))
        except ApiError as err:
            self.metrics.price_refreshes.labels("failure").inc()
            self._log.warning("price refresh failed; keeping the last prices", error=str(err))
            return False
        self.metrics.price_refreshes.labels("success").inc()
        self.book.set_api_table(PriceTable("api", now, table))
        self._log.info("prices refreshed", source="api", entries=len(table))
        return True

    async def run(self, stop: asyncio.Event) -> None:
        async def cycle() -> float | None:
            try:
                ok = await self.refresh()
            except Exception:  # the daemon never dies for a price table
                ok = False
                self._log.exception("price refresh crashed")
            # A failure keeps the last table and is retried sooner than the daily cadence.
            return None if ok else min(self.interval, RETRY_AFTER_FAILURE)

        await every(stop, Cadence(self.interval), cycle, self._log, "price refresh crashed")
