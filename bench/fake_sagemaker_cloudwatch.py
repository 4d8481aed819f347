"""CloudWatch GetMetricData for the fake SageMaker server (Smithy RPC v2 CBOR, as botocore
speaks it to CloudWatch), so tests can throttle CloudWatch while SageMaker answers.

Requests are decoded and answers encoded with botocore's own CBOR parser and serializer
against CloudWatch's service model. Every query gets one datapoint per minute of its window
(at most the last 10 minutes), the value fixed per query (`value`), so a test knows what to
expect; there is no 500-query check and no NextToken, as in moto.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer

PATH = "/service/GraniteServiceVersion20100801/operation/{op}"
CONTENT_TYPE = "application/cbor"
_MODEL = botocore.session.get_session().get_service_model("cloudwatch")


def decode(body: bytes) -> Any:
    parser = RpcV2CBORParser()
    return parser.parse_data_item(parser.get_peekable_stream_from_bytes(body)) if body else {}


def _encode(value: Any, shape: Any) -> bytes:
    out = bytearray()
    RpcV2CBORSerializer()._serialize_data_item(out, value, shape)
    return bytes(out)


def encode_error(code: str, message: str) -> bytes:
    """A two-string CBOR map {"__type": code, "message": message}."""
    out = bytearray([0xA2])
    for text in ("__type", code, "message", message):
        raw = text.encode()
        if len(raw) < 24:
            out.append(0x60 | len(raw))
        elif len(raw) < 256:
            out += bytes([0x78, len(raw)])
        else:
            out += bytes([0x79]) + len(raw).to_bytes(2, "big")
        out += raw
    return bytes(out)


def _when(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(float(value), dt.UTC)


def get_metric_data(params: dict[str, Any], now: float,
                    value: Callable[[str, str], float]) -> bytes:
    """value(host dimension, metric name) -> the percent every datapoint of it carries."""
    end = min(_when(params["EndTime"]).timestamp(), now)
    start = max(_when(params["StartTime"]).timestamp(), end - 600)
    stamps = [dt.datetime.fromtimestamp(t, dt.UTC)
              for t in range(int(end) // 60 * 60, int(start), -60)]
    results = []
    for q in params.get("MetricDataQueries") or []:
        metric = q["MetricStat"]["Metric"]
        host = next((d["Value"] for d in metric.get("Dimensions") or [] if d["Name"] == "Host"),
                    "")
        v = value(host, metric["MetricName"])
        results.append({"Id": q["Id"], "Label": metric["MetricName"], "Timestamps": stamps,
                        "Values": [v] * len(stamps), "StatusCode": "Complete"})
    shape = _MODEL.operation_model("GetMetricData").output_shape
    return _encode({"MetricDataResults": results, "Messages": []}, shape)
