"""What an option's value must be: the checks and item parsers exporter.options declares
beside each option (a typed value -> what is wrong with it; a list item's text -> its value).
Pure: no I/O, nothing read from the environment."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from typing import Any

from exporter.metrics.training_jobs import TRAINING_JOBS, tag_label_name
from exporter.metrics.tuning_jobs import TUNING_JOBS
from exporter.metrics.utilization import HOSTS
from exporter.parse.values import parse_listen_address

#: A typed value -> what is wrong with it, each as the text after "--flag: ".
Check = Callable[[Any], Iterator[str]]


def bound(ok: Callable[[Any], bool], why: str) -> Check:
    def check(value: Any) -> Iterator[str]:
        if not ok(value):
            yield why

    return check


POSITIVE = bound(lambda v: v > 0, "must be greater than zero")
AT_LEAST_ONE = bound(lambda v: v >= 1, "must be at least 1")
AT_LEAST_ONE_SECOND = bound(lambda v: v >= 1, "must be at least 1s")
NOT_NEGATIVE = bound(lambda v: v >= 0, "must not be negative")


#: Paths the exporter serves itself; the metrics cannot take one of them.
OWN_PATHS = ("/", "/healthz", "/readyz")


def telemetry_path(value: Any) -> Iterator[str]:
    path = str(value)
    if not path.startswith("/") or any(c.isspace() for c in path):
        yield f"{path!r}: a path starts with / and has no spaces"
    elif path in OWN_PATHS:
        yield f"{path!r}: taken by the exporter itself ({', '.join(OWN_PATHS)})"


def listen_address(value: Any) -> Iterator[str]:
    try:
        parse_listen_address(str(value))
    except ValueError as exc:
        yield str(exc)


def distinct_labels(keys: tuple[str, ...]) -> Iterator[str]:
    # Two keys that sanitise to one label name would overwrite each other's value.
    labels: dict[str, str] = {}
    for key in keys:
        label = tag_label_name(key)
        if label in labels:
            yield f"{labels[label]!r} and {key!r} would both be label {label}"
        labels[label] = key


def shaped(pattern: str, why: str) -> Callable[[str], str]:
    shape = re.compile(pattern)

    def item(text: str) -> str:
        if not shape.fullmatch(text):
            raise ValueError(f"{text!r} {why}")
        return text

    return item


role_arn = shaped(r"arn:aws[a-z-]*:iam::\d{12}:role/.+", "is not an IAM role ARN")
#: https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, or a local server's http://HOST:PORT/...
queue_url = shaped(
    r"https?://[^/\s]+/\d{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?",
    "is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
)


def regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise ValueError(f"bad regex {text!r}: {exc}") from exc


#: What --metric-allowlist/--metric-denylist choose from: every family of the object tables.
FAMILY_NAMES: tuple[str, ...] = TRAINING_JOBS.names + TUNING_JOBS.names + HOSTS.names


def family_patterns(patterns: tuple[re.Pattern[str], ...]) -> Iterator[str]:
    # A pattern that selects nothing is a typo or a family that does not exist: said at
    # start, with what it could have meant, rather than silently serving everything.
    for p in patterns:
        if any(p.fullmatch(name) for name in FAMILY_NAMES):
            continue
        if p.pattern.startswith("sagemaker_exporter_"):
            yield f"{p.pattern!r}: the sagemaker_exporter_* self-metrics cannot be filtered"
            continue
        close = difflib.get_close_matches(p.pattern, FAMILY_NAMES, n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        yield f"{p.pattern!r} matches no family{hint}"
