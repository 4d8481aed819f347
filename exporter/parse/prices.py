"""Prices and cost: pure. On-demand USD per hour per (region, instance type), where they come
from (a YAML file, the AWS Price List API's GetProducts records), and what a job cost.

Cost is billed instance-seconds x the on-demand hourly price / 3600: BillableTimeInSeconds
already has managed spot savings taken off (AWS: savings = 1 - billable/training), so
billable seconds are priced at the on-demand rate, never at a spot rate we would guess.
A type without a price gives no cost at all, never a partial sum or a guess.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from exporter.model import TrainingJob

#: Instance types as SageMaker names them; anything else in a price file is a typo.
_ITYPE_RE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9-]+$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
#: GetProducts usagetype of on-demand training instances, e.g. "USE1-Train:ml.m5.large".
#: The spot variant ("...-Train-Spot:...") and every other component are left out.
_TRAIN_USAGE_RE = re.compile(r"^(?:[A-Z]{2,4}\d?-)?Train:(ml\.[a-z0-9-]+\.[a-z0-9-]+)$")


class PriceError(Exception):
    """Every problem found in a price file, as one message."""


class Prices(Protocol):
    """What rendering needs: an hourly price, or None when the table has none."""

    def hourly(self, region: str, instance_type: str) -> float | None: ...


@dataclass(frozen=True, slots=True)
class PriceTable:
    """On-demand USD per hour by (region, instance type); `as_of` is when they were valid
    (the price file's date, or when the Price List API answered), as Unix time; None for a
    hand-written file that gives no date (its age cannot be told)."""

    source: str  # "file" or "api"
    as_of: float | None
    hourly_usd: Mapping[tuple[str, str], float] = field(default_factory=dict)

    def hourly(self, region: str, instance_type: str) -> float | None:
        return self.hourly_usd.get((region, instance_type))

    def merged_over(self, other: PriceTable | None) -> PriceTable:
        """This table, with `other`'s prices for what this one lacks (the API over a file)."""
        if other is None:
            return self
        return PriceTable(self.source, self.as_of, {**other.hourly_usd, **self.hourly_usd})


def _price(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        f = float(value)
    except ValueError:
        return None
    return f if math.isfinite(f) and f >= 0 else None


def _as_of(value: Any) -> float | None:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=value.tzinfo or dt.UTC).timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    if isinstance(value, str):
        try:
            return _as_of(dt.date.fromisoformat(value))
        except ValueError:
            return None
    return None


def parse_price_file(data: Any, name: str = "price file") -> PriceTable:
    """A loaded YAML document -> PriceTable, or PriceError naming every bad entry.

    Format: `as_of: YYYY-MM-DD` (prices change: the table's age is exported when it is
    given; a file without it is taken, with no age) and every other key a region mapping
    instance types to USD per hour.
    """
    if not isinstance(data, Mapping):
        raise PriceError(f"{name}: expected a mapping of region -> instance type -> USD/hour")
    problems: list[str] = []
    as_of = _as_of(data.get("as_of"))
    if as_of is None and data.get("as_of") is not None:
        problems.append("as_of: not a date (YYYY-MM-DD)")
    table: dict[tuple[str, str], float] = {}
    for region, types in data.items():
        if region == "as_of":
            continue
        if not isinstance(region, str) or not _REGION_RE.match(region):
            problems.append(f"{region!r}: not a region name")
            continue
        if not isinstance(types, Mapping):
            problems.append(f"{region}: expected a mapping of instance type -> USD/hour")
            continue
        for itype, usd in types.items():
            price = _price(usd)
            if not isinstance(itype, str) or not _ITYPE_RE.match(itype):
                problems.append(f"{region}.{itype}: not an instance type (ml.<family>.<size>)")
            elif price is None:
                problems.append(f"{region}.{itype}: {usd!r} is not a price (USD per hour)")
            else:
                table[(region, itype)] = price
    if problems:
        raise PriceError(f"{name}: " + "; ".join(problems))
    return PriceTable("file", as_of, table)


def load_price_file(path: str) -> PriceTable:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as exc:
        raise PriceError(f"{path}: {exc}".replace("\n", " ")) from exc
    return parse_price_file(data, path)


def parse_price_list(records: Iterable[Any], region: str) -> dict[tuple[str, str], float]:
    """GetProducts PriceList entries (JSON strings or dicts) -> on-demand training prices.

    Keeps records whose usagetype is `<prefix>-Train:<type>` and whose regionCode is
    `region`; the USD price is the OnDemand term's per-hour dimension. Anything else (spot,
    notebooks, hosting, a record in a shape we do not know) is skipped, never guessed.
    """
    out: dict[tuple[str, str], float] = {}
    for raw in records:
        try:
            rec = json.loads(raw) if isinstance(raw, str | bytes) else raw
        except ValueError:
            continue
        if not isinstance(rec, Mapping):
            continue
        attrs = _m(_m(rec.get("product")).get("attributes"))
        if attrs.get("regionCode") != region:
            continue
        m = _TRAIN_USAGE_RE.match(str(attrs.get("usagetype", "")))
        if not m:
            continue
        price = _on_demand_hourly(_m(rec.get("terms")).get("OnDemand"))
        if price is not None:
            out[(region, m.group(1))] = price
    return out


def _m(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _on_demand_hourly(terms: Any) -> float | None:
    if not isinstance(terms, Mapping):
        return None
    for term in terms.values():
        for dim in _m(_m(term).get("priceDimensions")).values():
            if str(_m(dim).get("unit", "")).lower() not in ("hrs", "hr", "hours"):
                continue
            price = _price(_m(dim.get("pricePerUnit")).get("USD"))
            if price is not None:
                return price
    return None


def instance_seconds_by_type(job: TrainingJob, billable: float | None) -> dict[str, float]:
    """Billed instance-seconds per instance type: billable seconds x each group's count,
    plus the warm pool's retained billable seconds x the same instances."""
    if billable is None or not job.instance_groups:
        return {}
    seconds = billable + (job.warm_pool_retained_billable_seconds or 0.0)
    out: dict[str, float] = {}
    for g in job.instance_groups:
        out[g.instance_type] = out.get(g.instance_type, 0.0) + seconds * g.count
    return out


def estimated_cost(
    job: TrainingJob, billable: float | None, prices: Prices | None, region: str
) -> float | None:
    """USD a job cost so far, or None: no billable time yet, no groups, no table, or any of
    its instance types without a price (a partial sum would read as a real, lower cost)."""
    if prices is None:
        return None
    by_type = instance_seconds_by_type(job, billable)
    if not by_type:
        return None
    total = 0.0
    for itype, seconds in by_type.items():
        hourly = prices.hourly(region, itype)
        if hourly is None:
            return None
        total += seconds * hourly / 3600.0
    # Micro-dollars: enough for any bill, and no float noise (77.00800000000001) in the text.
    return round(total, 6)


def hourly_rate(job: TrainingJob, prices: Prices | None, region: str) -> float | None:
    """USD per hour the job's instances cost while it runs (for projections), or None."""
    if prices is None or not job.instance_groups:
        return None
    total = 0.0
    for g in job.instance_groups:
        hourly = prices.hourly(region, g.instance_type)
        if hourly is None:
            return None
        total += hourly * g.count
    return round(total, 6)
