"""The demo's EventBridge side: every simulated change is also published as the
"SageMaker Training Job State Change" event AWS would send, through moto's EventBridge
into an SQS queue per (account, region), so `--demo` runs the exporter in event mode.

Only public APIs over HTTP (boto3 against the embedded moto server): the same rule, target
and queue policy deploy/ creates. The detail is built from DescribeTrainingJob, shaped as
AWS sends it: timestamps in epoch milliseconds, in turn as strings, integers and floats (all
three are seen in AWS's examples), Tags as a map, and HyperParameters included (they hold
the demo's secret canary, which the exporter must never show). As AWS may, every fifth
event is sent twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3

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
    ms = round(value.timestamp() * 1000)
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


def event_detail(
    describe: Mapping[str, Any], tags: Iterable[tuple[str, str]], style: int
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        k: _ms_times(v, style) for k, v in describe.items() if k != "ResponseMetadata"
    }
    detail["Tags"] = dict(tags)
    return detail


class _Account:
    """The clients and queue of one (account, region)."""

    def __init__(self, endpoint_url: str, region: str, creds: Mapping[str, str]) -> None:
        self._endpoint_url, self._creds = endpoint_url, dict(creds)
        self.events, self.sqs = self.client_in(region, "events"), self.client_in(region, "sqs")
        self.queue_url: str = self.sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        rule_arn = self.events.put_rule(Name=RULE_NAME, EventPattern=PATTERN)["RuleArn"]
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

    def client_in(self, region: str, service: str) -> Any:
        return boto3.client(
            service, region_name=region, endpoint_url=self._endpoint_url, **self._creds
        )


class DemoEvents:
    """Publishes the fleet's changes; used by the fleet driver's thread only."""

    def __init__(
        self,
        endpoint_url: str,
        access_key_id: str,
        secret_access_key: str,
        targets: Sequence[tuple[str, str | None]],  # (region, role ARN or None)
    ) -> None:
        base = {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
        # One rule and queue per account, in the first region: the shape of a central bus
        # that every region forwards to (docs/deploy.md). The exporter routes each event by
        # its job ARN, so one queue carries both regions.
        home = targets[0][0]
        by_role: dict[str | None, _Account] = {}
        for _, role_arn in targets:
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
            by_role[role_arn] = _Account(endpoint_url, home, creds)
        self._sagemaker = [
            by_role[role].client_in(region, "sagemaker") for region, role in targets
        ]
        self._accounts = [by_role[role] for _, role in targets]
        self.queue_urls = [a.queue_url for a in by_role.values()]
        self.sent = 0

    def publish(self, target: int, name: str, tags: Iterable[tuple[str, str]]) -> None:
        account = self._accounts[target]
        describe = self._sagemaker[target].describe_training_job(TrainingJobName=name)
        detail = event_detail(describe, tags, self.sent)
        entry = {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(detail),
            "Resources": [describe["TrainingJobArn"]],
        }
        copies = 2 if self.sent % 5 == 4 else 1
        account.events.put_events(Entries=[entry] * copies)
        self.sent += 1

    def close(self) -> None:
        """Remove the queues and rules, leaving moto's process-global backend as found."""
        for a in {id(a): a for a in self._accounts}.values():
            try:
                a.events.remove_targets(Rule=RULE_NAME, Ids=["exporter"])
                a.events.delete_rule(Name=RULE_NAME)
                a.sqs.delete_queue(QueueUrl=a.queue_url)
            except Exception:  # best effort on the way out
                continue
