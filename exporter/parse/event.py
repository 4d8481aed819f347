"""Pure parsing of EventBridge "SageMaker Training Job State Change" events (SQS bodies).

`detail` mirrors DescribeTrainingJob, with three differences this module absorbs: its
timestamps are epoch milliseconds (seen as strings, integers and floats), Tags are a map,
and it carries HyperParameters (and may carry Environment), which are dropped before
anything else reads the detail: what is never kept can never leak. Nothing in a body can
raise; a body that is not such an event is "ignored", one that claims to be but cannot be
read is "malformed", each with a reason that quotes no value from the body.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exporter.model import TrainingJob
from exporter.parse.api import parse_training_job, to_epoch

SOURCE = "aws.sagemaker"
DETAIL_TYPE = "SageMaker Training Job State Change"
#: Never read past the envelope: they may hold secrets.
SECRET_KEYS = frozenset({"HyperParameters", "Environment"})
_TOP_TIMES = ("CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime")
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")
_ACCOUNT = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
#: Epoch seconds this large would be after the year 5000; epoch milliseconds this small
#: would be before 1973. Events use milliseconds; a value below this is read as seconds.
_MS_THRESHOLD = 1e11


@dataclass(frozen=True, slots=True)
class JobEvent:
    """A state-change event, read: where it belongs and what it says of the job."""

    account_id: str
    region: str
    job: TrainingJob
    time: float | None  # when EventBridge says the event happened, epoch seconds
    event_id: str


@dataclass(frozen=True, slots=True)
class Rejected:
    outcome: str  # "ignored" or "malformed"
    reason: str


def event_timestamp(value: Any) -> float | None:
    """An event timestamp as epoch seconds: epoch ms as a number or a numeric string, or
    an ISO 8601 string; None when it is none of these."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER.fullmatch(text):
            return to_epoch(text)
        try:
            value = float(text)
        except ValueError:
            return None
    number = to_epoch(value) if isinstance(value, int | float) else None
    if number is None:
        return None
    return number / 1000.0 if abs(number) >= _MS_THRESHOLD else number


def _with_times(items: Any, keys: tuple[str, ...]) -> Any:
    if not isinstance(items, list):
        return items
    out = []
    for item in items:
        if isinstance(item, Mapping):
            item = dict(item)
            for key in keys:
                if key in item:
                    item[key] = event_timestamp(item[key])
        out.append(item)
    return out


def describe_shape(detail: Mapping[str, Any]) -> dict[str, Any]:
    """The detail as a DescribeTrainingJob response (times in epoch seconds), secrets and
    the Tags map left out."""
    out = {k: v for k, v in detail.items() if k not in SECRET_KEYS and k != "Tags"}
    for key in _TOP_TIMES:
        if key in out:
            out[key] = event_timestamp(out[key])
    out["SecondaryStatusTransitions"] = _with_times(
        out.get("SecondaryStatusTransitions"), ("StartTime", "EndTime")
    )
    out["FinalMetricDataList"] = _with_times(out.get("FinalMetricDataList"), ("Timestamp",))
    return out


def event_tags(detail: Mapping[str, Any], wanted: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The Tags map, only the keys --tag-labels exports (the rest is memory for nothing)."""
    tags = detail.get("Tags")
    if not isinstance(tags, Mapping):
        return ()
    return tuple((k, v) for k, v in tags.items() if k in wanted and isinstance(v, str))


def _arn_parts(arn: Any) -> tuple[str, str]:
    """(region, account) of an ARN, "" where absent or not of the right form."""
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) < 6 or parts[0] != "arn":
        return "", ""
    region = parts[3] if _REGION.fullmatch(parts[3]) else ""
    account = parts[4] if _ACCOUNT.fullmatch(parts[4]) else ""
    return region, account


def parse_event(body: str | bytes, tag_labels: tuple[str, ...] = ()) -> JobEvent | Rejected:
    """One SQS message body -> the event it carries, or why not."""
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Rejected("malformed", "body is not JSON")
    if not isinstance(envelope, dict):
        return Rejected("malformed", "body is not a JSON object")
    if envelope.get("source") != SOURCE or envelope.get("detail-type") != DETAIL_TYPE:
        return Rejected("ignored", "not a SageMaker training job state change")
    detail = envelope.get("detail")
    if not isinstance(detail, dict):
        return Rejected("malformed", "detail is not an object")
    job = parse_training_job(describe_shape(detail), event_tags(detail, tag_labels))
    if job is None:
        return Rejected("malformed", "detail has no TrainingJobName")
    if "EnableManagedSpotTraining" not in detail:
        # Not "on-demand": unknown until a describe (or the stored record) says, so no
        # billable time is guessed for a running job seen first through an event.
        job = dataclasses.replace(job, managed_spot=None)
    if not job.status:
        return Rejected("malformed", "detail has no TrainingJobStatus")
    resources = envelope.get("resources")
    arn = job.arn or (resources[0] if isinstance(resources, list) and resources else "")
    arn_region, arn_account = _arn_parts(arn)
    # The job ARN names where the job lives by construction; the envelope names where the
    # event was put, which a forwarder that re-puts events (moto's bus-to-bus targets, a
    # Lambda relay) changes. So the ARN first, the envelope where the ARN says nothing.
    account = envelope.get("account")
    region = envelope.get("region")
    account = arn_account or (
        account if isinstance(account, str) and _ACCOUNT.fullmatch(account) else ""
    )
    region = arn_region or (region if isinstance(region, str) and _REGION.fullmatch(region) else "")
    if not account or not region:
        return Rejected(
            "malformed", "neither the envelope nor the job ARN names account and region"
        )
    event_id = envelope.get("id")
    return JobEvent(
        account_id=account,
        region=region,
        job=job,
        time=to_epoch(envelope.get("time")),
        event_id=event_id if isinstance(event_id, str) else "",
    )


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == ()


def merge_event(prev: TrainingJob | None, job: TrainingJob) -> TrainingJob:
    """The event's record, with what an event may lack (final metrics, rule results,
    billable time, tags) kept from the record the store holds."""
    if prev is None:
        return job
    kept = {
        f.name: getattr(prev, f.name)
        for f in dataclasses.fields(job)
        if _empty(getattr(job, f.name)) and not _empty(getattr(prev, f.name))
    }
    return dataclasses.replace(job, **kept) if kept else job
