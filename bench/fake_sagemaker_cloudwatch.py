"""CloudWatch GetMetricData for the fake SageMaker server, so tests can throttle CloudWatch
while SageMaker answers.

aiobotocore talks to CloudWatch in its JSON protocol (awsJson1_0, X-Amz-Target
GraniteServiceVersion20100801.<op>, timestamps as epoch seconds), which the fake's one
endpoint already dispatches on. Every query gets one datapoint per minute of its window (at
most the last 10 minutes), its value fixed per (host, metric) by the caller, so a test knows
what to expect; as in moto, there is no 500-query check and no NextToken.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

SERVICE = "GraniteServiceVersion20100801"
CONTENT_TYPE = "application/x-amz-json-1.0"
#: CloudWatch is "query compatible": this header carries the query protocol's error code.
THROTTLE_HEADERS = {"x-amzn-query-error": "Throttling;Sender"}


def get_metric_data(params: dict[str, Any], now: float,
                    value: Callable[[str, str], float]) -> bytes:
    """value(host dimension, metric name) -> the percent every datapoint of it carries."""
    end = min(float(params["EndTime"]), now)
    start = max(float(params["StartTime"]), end - 600)
    stamps = list(range(int(end) // 60 * 60, int(start), -60))
    results = []
    for q in params.get("MetricDataQueries") or []:
        metric = q["MetricStat"]["Metric"]
        host = next((d["Value"] for d in metric.get("Dimensions") or [] if d["Name"] == "Host"),
                    "")
        v = value(host, metric["MetricName"])
        results.append({"Id": q["Id"], "Label": metric["MetricName"], "Timestamps": stamps,
                        "Values": [v] * len(stamps), "StatusCode": "Complete"})
    return json.dumps({"MetricDataResults": results, "Messages": []}).encode()
