"""The demo's EventBridge side: every simulated change is also published as the
"SageMaker Training Job State Change" event AWS would send, through moto's EventBridge
into one SQS queue (the second account forwards to the first account's bus), so `--demo`
runs the exporter in event mode.

Only public APIs over HTTP (boto3 against the embedded moto server): the same rule, target
and queue policy deploy/ creates. The detail is built from DescribeTrainingJob, shaped as
AWS sends it: timestamps in epoch milliseconds, in turn as strings, integers and floats (all
three are seen in AWS's examples), Tags as a map, and HyperParameters included (they hold
the demo's secret canary, which the exporter must never show). As AWS may, every fifth
event is sent twice.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session

log = logging.getLogger(__name__)

QUEUE_NAME = "sagemaker-exporter-demo-events"
RULE_NAME = "sagemaker-training-job-state-change"
SOURCE = "aws.sagemaker"
DETAIL_TYPE = "SageMaker Training Job State Change"
PATTERN = json.dumps({"source": [SOURCE], "detail-type": [DETAIL_TYPE]})
_TIMES = ("CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime")


def epoch_ms(value: datetime, style: int) -> str | int | float:
    """A datetime as epoch milliseconds: string, integer or float by `style` % 3."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    ms = int(value.timestamp() * 1000)  # truncated, as a millisecond clock reads
    return (str(ms), ms, float(ms))[style % 3]


def _ms_times(value: Any, style: int) -> Any:
    """Every datetime in a describe response, as epoch milliseconds."""
    if isinstance(value, datetime):
        return epoch_ms(value, style)
    if isinstance(value, Mapping):
        return {k: _ms_times(v, style) for k, v in value.items()}
    if isinstance(value, list):
        return [_ms_times(v, style) for v in value]
    return value


def _describe_fields() -> frozenset[str]:
    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.operation_model("DescribeTrainingJob").output_shape.members)


DESCRIBE_FIELDS = _describe_fields()


def event_detail(
    describe: Mapping[str, Any], tags: Iterable[tuple[str, str]], style: int
) -> dict[str, Any]:
    """DescribeTrainingJob's fields (as botocore models them), times in epoch ms, plus Tags."""
    detail: dict[str, Any] = {
        k: _ms_times(v, style) for k, v in describe.items() if k in DESCRIBE_FIELDS
    }
    detail["Tags"] = dict(tags)
    return detail


class _Account:
    """One account's EventBridge rule in the home region: the central account's rule sends to
    the queue, every other account's forwards to the central account's default bus."""

    def __init__(
        self, endpoint_url: str, region: str, creds: Mapping[str, str], central_bus: str | None
    ) -> None:
        def client(service: str) -> Any:
            return boto3.client(service, region_name=region, endpoint_url=endpoint_url, **creds)

        self.events = client("events")
        self.sqs: Any = None
        self.queue_url = ""
        rule_arn = self.events.put_rule(Name=RULE_NAME, EventPattern=PATTERN)["RuleArn"]
        if central_bus is not None:
            self.events.put_targets(
                Rule=RULE_NAME, Targets=[{"Id": "central-bus", "Arn": central_bus}]
            )
            return
        self.sqs = client("sqs")
        self.queue_url = self.sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        # What deploy/ grants: EventBridge may send, for this rule only (moto does not
        # enforce it; AWS does).
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        }
        self.sqs.set_queue_attributes(
            QueueUrl=self.queue_url, Attributes={"Policy": json.dumps(policy)}
        )
        self.events.put_targets(Rule=RULE_NAME, Targets=[{"Id": "exporter", "Arn": queue_arn}])

    def close(self) -> None:
        targets = self.events.list_targets_by_rule(Rule=RULE_NAME)["Targets"]
        self.events.remove_targets(Rule=RULE_NAME, Ids=[t["Id"] for t in targets])
        self.events.delete_rule(Name=RULE_NAME)
        if self.sqs is not None:
            self.sqs.delete_queue(QueueUrl=self.queue_url)


class DemoEvents:
    """Publishes the fleet's changes from its own thread, up to 10 events a call, so the
    fleet driver never waits on EventBridge."""

    def __init__(
        self,
        endpoint_url: str,
        access_key_id: str,
        secret_access_key: str,
        targets: Sequence[tuple[str, str | None]],  # (region, role ARN or None)
    ) -> None:
        base = {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
        # One queue, in the base account's first region, fed by its rule; the other
        # account's rule forwards to that account's bus: the central-bus pattern of
        # docs/deploy.md. The exporter routes each event by its job ARN, so one queue
        # carries every account and region.
        home = targets[0][0]
        by_role: dict[str | None, _Account] = {}
        central: str | None = None
        for _, role_arn in sorted(targets, key=lambda t: t[1] is not None):
            if role_arn in by_role:
                continue
            creds = dict(base)
            if role_arn:
                sts = boto3.client("sts", region_name=home, endpoint_url=endpoint_url, **base)
                c = sts.assume_role(RoleArn=role_arn, RoleSessionName="demo-events")["Credentials"]
                creds = {
                    "aws_access_key_id": c["AccessKeyId"],
                    "aws_secret_access_key": c["SecretAccessKey"],
                    "aws_session_token": c["SessionToken"],
                }
            by_role[role_arn] = _Account(endpoint_url, home, creds, central)
            if central is None:
                account = boto3.client(
                    "sts", region_name=home, endpoint_url=endpoint_url, **creds
                ).get_caller_identity()["Account"]
                central = f"arn:aws:events:{home}:{account}:event-bus/default"
        self._accounts = [by_role[role] for _, role in targets]
        self.queue_urls = [a.queue_url for a in by_role.values() if a.queue_url]
        self.sent = 0
        self.failed = 0  # entries EventBridge refused
        self._pending: queue.Queue[tuple[_Account, dict[str, Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="demo-events", daemon=True)
        self._thread.start()

    def publish(
        self, target: int, describe: Mapping[str, Any] | None, tags: Iterable[tuple[str, str]]
    ) -> None:
        """Queue the event of one change; `describe` is the job as it is now."""
        if describe is None:
            return
        detail = event_detail(describe, tags, self.sent)
        entry = {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(detail),
            "Resources": [str(describe.get("TrainingJobArn", ""))],
        }
        account = self._accounts[target]
        self._pending.put((account, entry))
        if self.sent % 5 == 4:  # as AWS may, the same event twice
            self._pending.put((account, entry))
        self.sent += 1

    def _run(self) -> None:
        while True:
            item = self._pending.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < 10:
                try:
                    more = self._pending.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._pending.put(None)
                    break
                batch.append(more)
            by_account: dict[int, list[tuple[_Account, dict[str, Any]]]] = {}
            for account, entry in batch:
                by_account.setdefault(id(account), []).append((account, entry))
            for items in by_account.values():
                try:
                    resp = items[0][0].events.put_events(Entries=[e for _, e in items])
                except Exception:  # the poll still sees the change: the demo goes on
                    log.exception("demo events not sent")
                    continue
                self.failed += int(resp.get("FailedEntryCount", 0))
                for r in resp.get("Entries", []):
                    if r.get("ErrorCode"):
                        log.warning("demo event refused: %s", r.get("ErrorMessage"))

    def close(self) -> None:
        """Stop publishing; remove the queues and rules, leaving moto's process-global
        backend as found."""
        self._pending.put(None)
        self._thread.join(timeout=5)
        for a in {id(a): a for a in self._accounts}.values():
            try:
                a.close()
            except Exception:  # best effort on the way out
                continue
