"""The AWS Price List API's GetProducts for the fake server (moto has no pricing service).

Records have the shape real GetProducts answers have (checked against AWS's documented
examples for AmazonSageMaker): a JSON *string* per product, with `product.attributes`
(regionCode, usagetype such as `USE1-Train:ml.m5.xlarge`, instanceName, instanceType with a
`-Training` suffix, component) and `terms.OnDemand.<sku>.<term>.priceDimensions.<rate>.
pricePerUnit.USD` as a decimal string. Hosting, notebook and spot-training records are
served too, so a client must pick the on-demand training ones itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

_PREFIX = {
    "us-east-1": "USE1",
    "us-west-2": "USW2",
    "eu-west-1": "EU",
    "eu-central-1": "EUC1",
    "ap-south-1": "APS3",
    "ap-northeast-1": "APN1",
}
_LOCATION = {
    "us-east-1": "US East (N. Virginia)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
}
#: Default on-demand training USD/hour served by the fake (round, made-up figures).
DEFAULT_PRICES: dict[tuple[str, str], float] = {
    ("us-east-1", "ml.m5.xlarge"): 0.23,
    ("us-east-1", "ml.m5.4xlarge"): 0.922,
    ("us-east-1", "ml.c5.2xlarge"): 0.408,
    ("us-east-1", "ml.g5.2xlarge"): 1.515,
    ("us-east-1", "ml.g5.12xlarge"): 7.09,
    ("us-east-1", "ml.p3.2xlarge"): 3.825,
    ("us-east-1", "ml.p4d.24xlarge"): 37.688,
    ("us-east-1", "ml.trn1.32xlarge"): 24.725,
    ("eu-west-1", "ml.m5.xlarge"): 0.257,
}


def _sku(*parts: str) -> str:
    return hashlib.sha1("/".join(parts).encode()).hexdigest()[:16].upper()


def product_record(
    region: str,
    itype: str,
    usd: float,
    usage: str = "Train",
    component: str = "Training",
    published: str = "2025-06-01T00:00:00Z",
) -> str:
    """One PriceList entry, as the JSON string GetProducts returns."""
    sku = _sku(region, itype, usage)
    prefix = _PREFIX.get(region, "")
    term, rate = f"{sku}.JRTCKXETXF", f"{sku}.JRTCKXETXF.6YS6EN2CT7"
    where = _LOCATION.get(region, region)
    record = {
        "product": {
            "productFamily": "ML Instance",
            "attributes": {
                "regionCode": region,
                "servicecode": "AmazonSageMaker",
                "usagetype": f"{prefix}-{usage}:{itype}" if prefix else f"{usage}:{itype}",
                "instanceName": itype,
                "instanceType": f"{itype}-{component}",
                "component": component,
                "location": where,
                "locationType": "AWS Region",
                "operation": "RunInstance",
                "servicename": "Amazon SageMaker",
            },
            "sku": sku,
        },
        "serviceCode": "AmazonSageMaker",
        "terms": {
            "OnDemand": {
                term: {
                    "priceDimensions": {
                        rate: {
                            "unit": "Hrs",
                            "endRange": "Inf",
                            "beginRange": "0",
                            "appliesTo": [],
                            "description": f"${usd} per On Demand {component} {itype} in {where}",
                            "rateCode": rate,
                            "pricePerUnit": {"USD": f"{usd:.10f}"},
                        }
                    },
                    "sku": sku,
                    "effectiveDate": published,
                    "offerTermCode": "JRTCKXETXF",
                    "termAttributes": {},
                }
            }
        },
        "version": published.replace("-", "").replace(":", "").replace("T", "")[:14],
        "publicationDate": published,
    }
    return json.dumps(record, separators=(",", ":"))


@dataclass
class PricingFake:
    """The price list the fake serves, and a knob to make GetProducts fail."""

    prices: dict[tuple[str, str], float] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    fail_next: int = 0  # answer this many calls with a 500
    calls: int = 0

    def records(self) -> list[str]:
        out = []
        for (region, itype), usd in sorted(self.prices.items()):
            out.append(product_record(region, itype, usd))
            # Neighbours a client must not take for the training price.
            out.append(product_record(region, itype, round(usd * 1.25, 4), "Host", "Hosting"))
            out.append(
                product_record(region, itype, round(usd * 0.3, 4), "Train-Spot", "SpotTraining")
            )
        return out

    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) of one GetProducts request."""
        self.calls += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            return 500, {"__type": "InternalErrorException", "message": "internal error"}
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            return 400, {"__type": "InvalidParameterException", "message": "bad body"}
        if params.get("ServiceCode") != "AmazonSageMaker":
            return 200, {"PriceList": [], "FormatVersion": "aws_v1"}
        filters = {f.get("Field"): f.get("Value") for f in params.get("Filters") or []}
        items = [
            r
            for r in self.records()
            if all(json.loads(r)["product"]["attributes"].get(k) == v for k, v in filters.items())
        ]
        size = min(int(params.get("MaxResults") or 100), 100)
        start = int(params.get("NextToken") or 0)
        out: dict[str, Any] = {"PriceList": items[start : start + size], "FormatVersion": "aws_v1"}
        if start + size < len(items):
            out["NextToken"] = str(start + size)
        return 200, out
