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


def get_metric_data(
    params: dict[str, Any], now: float, value: Callable[[str, str], float]
) -> bytes:
    """value(host dimension, metric name) -> the percent every datapoint of it carries."""
    end = min(float(params["EndTime"]), now)
    start = max(float(params["StartTime"]), end - 600)
    stamps = list(range(int(end) // 60 * 60, int(start), -60))
    results = []
    for q in params.get("MetricDataQueries") or []:
        metric = q["MetricStat"]["Metric"]
        host = next((d["Value"] for d in metric.get("Dimensions") or [] if d["Name"] == "Host"), "")
        v = value(host, metric["MetricName"])
        results.append(
            {
                "Id": q["Id"],
                "Label": metric["MetricName"],
                "Timestamps": stamps,
                "Values": [v] * len(stamps),
                "StatusCode": "Complete",
            }
        )
    return json.dumps({"MetricDataResults": results, "Messages": []}).encode()


#: EC2 DescribeInstanceTypes for the fake: vCPUs and GPUs of the types the fake's jobs use
#: (EC2's published figures), so the CloudWatch source can turn percents into ratios.
DEVICES = {
    "m5.xlarge": (4, 0),
    "m5.4xlarge": (16, 0),
    "c5.2xlarge": (8, 0),
    "c5.4xlarge": (16, 0),
    "g5.2xlarge": (8, 1),
    "g5.12xlarge": (48, 4),
    "p3.2xlarge": (8, 1),
    "p4d.24xlarge": (96, 8),
    "trn1.32xlarge": (128, 0),
}
_EC2_NS = "http://ec2.amazonaws.com/doc/2016-11-15/"


def describe_instance_types(form: dict[str, str], request_id: str) -> tuple[int, bytes]:
    """EC2 query protocol: InstanceTypes.N -> (HTTP status, XML body)."""
    asked = [v for k, v in sorted(form.items()) if k.startswith("InstanceType.")]
    unknown = [t for t in asked if t not in DEVICES]
    if unknown:
        return 400, (
            f"<Response><Errors><Error><Code>InvalidInstanceType</Code><Message>The "
            f"following supplied instance types do not exist: [{', '.join(unknown)}]"
            f"</Message></Error></Errors><RequestID>{request_id}</RequestID>"
            f"</Response>"
        ).encode()
    items = []
    for t in asked:
        vcpus, gpus = DEVICES[t]
        gpu = f"<gpuInfo><gpus><item><count>{gpus}</count></item></gpus></gpuInfo>" if gpus else ""
        items.append(
            f"<item><instanceType>{t}</instanceType><vCpuInfo><defaultVCpus>{vcpus}"
            f"</defaultVCpus></vCpuInfo>{gpu}</item>"
        )
    return 200, (
        f'<DescribeInstanceTypesResponse xmlns="{_EC2_NS}"><requestId>{request_id}'
        f"</requestId><instanceTypeSet>{''.join(items)}</instanceTypeSet>"
        f"</DescribeInstanceTypesResponse>"
    ).encode()
