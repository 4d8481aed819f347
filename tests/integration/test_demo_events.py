"""The demo's events: what `--demo` puts through moto's EventBridge into its SQS queue is
shaped as AWS sends it, and the exporter's parser reads every message of it."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import boto3

from exporter.demo import SECRET_CANARY, DemoEnvironment
from exporter.parse.event import JobEvent, parse_event


def _drain(env: DemoEnvironment, seconds: float) -> list[dict[str, Any]]:
    sqs = boto3.client(
        "sqs",
        region_name="us-east-1",
        endpoint_url=env.endpoint_url,
        aws_access_key_id=env.access_key_id,
        aws_secret_access_key=env.secret_access_key,
    )
    (url,) = env.queue_urls
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for m in got.get("Messages", []):
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def test_demo_publishes_aws_shaped_events_for_every_account() -> None:
    with DemoEnvironment(speed=120, events=True) as env:
        bodies = _drain(env, 20)
    assert len(bodies) >= 20
    parsed = [parse_event(json.dumps(b), tag_labels=("team",)) for b in bodies]
    events = [p for p in parsed if isinstance(p, JobEvent)]
    assert len(events) == len(bodies), "every message is a state change the exporter reads"
    # both accounts through the one queue (the second forwards to the first one's bus)
    accounts = {(e.account_id, e.region) for e in events}
    assert {a for a, _ in accounts} == {"123456789012", "210987654321"}
    assert {b["source"] for b in bodies} == {"aws.sagemaker"}
    # timestamps as AWS sends them: epoch milliseconds as strings, integers and floats
    kinds = Counter(type(b["detail"]["LastModifiedTime"]).__name__ for b in bodies)
    assert set(kinds) == {"str", "int", "float"}, kinds
    for b, e in zip(bodies, events, strict=True):
        raw = float(b["detail"]["LastModifiedTime"])
        assert raw > 1e12 and e.job.last_modified == raw / 1000
        assert isinstance(b["detail"]["Tags"], dict) and "team" in b["detail"]["Tags"]
    # the canary rides in HyperParameters, as real jobs' secrets would
    assert any(SECRET_CANARY in json.dumps(b["detail"].get("HyperParameters")) for b in bodies)
    assert not any(SECRET_CANARY in repr(e) for e in events)
    # AWS may send an event twice: so does the demo
    ids = Counter((e.job.name, e.job.last_modified, e.job.status) for e in events)
    assert max(ids.values()) >= 2
