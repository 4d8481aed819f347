"""Event mode against moto over real sockets: an EventBridge rule with an SQS target,
`put_events` with detail shaped as AWS sends it, the exporter long-polling the queue.

Polling is set to an hour in most tests, so what shows on /metrics after the first poll
came through the queue."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import boto3
import pytest

from exporter.app import Exporter
from tests.support.exposition import Samples, find, value
from tests.support.harness import Harness
from tests.support.motofleet import CANARY, DEFAULT_ACCOUNT, MotoSageMaker

REGION = "us-east-1"
RULE = "sagemaker-state-change"
QUEUE = "exporter-events"
PATTERN = {"source": ["aws.sagemaker"], "detail-type": ["SageMaker Training Job State Change"]}


class EventBus:
    """The deploy/ shape in moto: rule -> queue (with the rule-conditioned policy)."""

    def __init__(self, sm: MotoSageMaker) -> None:
        kw: dict[str, Any] = dict(
            region_name=REGION,
            endpoint_url=sm.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self.sqs, self.events = boto3.client("sqs", **kw), boto3.client("events", **kw)
        self.url = self.create_queue()
        self.sent = 0

    def create_queue(self) -> str:
        url: str = self.sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        rule_arn = self.events.put_rule(Name=RULE, EventPattern=json.dumps(PATTERN))["RuleArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        }
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        self.events.put_targets(Rule=RULE, Targets=[{"Id": "q", "Arn": arn}])
        return url

    def put(self, *details: dict[str, Any], source: str = "aws.sagemaker") -> None:
        for i in range(0, len(details), 10):  # put_events takes at most 10 entries
            entries = [
                {
                    "Source": source,
                    "DetailType": "SageMaker Training Job State Change",
                    "Detail": json.dumps(d),
                    "Resources": [d.get("TrainingJobArn", "")],
                }
                for d in details[i : i + 10]
            ]
            resp = self.events.put_events(Entries=entries)
            assert resp["FailedEntryCount"] == 0, resp
            self.sent += len(entries)


def ms(t: float, style: str = "str") -> str | int | float:
    """Epoch milliseconds in one of the forms AWS is seen to send."""
    n = round(t * 1000)
    return {"str": str(n), "int": n, "float": float(n)}[style]


def detail(
    name: str,
    status: str,
    secondary: str,
    modified: float,
    style: str = "str",
    **extra: Any,
) -> dict[str, Any]:
    created = modified - 600
    d: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{DEFAULT_ACCOUNT}:training-job/{name}",
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary,
        "HyperParameters": {"password": CANARY},
        "Environment": {"API_TOKEN": CANARY},
        "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
        "ResourceConfig": {
            "InstanceType": "ml.g5.xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 50,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "CreationTime": ms(created, style),
        "TrainingStartTime": ms(created + 60, style),
        "LastModifiedTime": ms(modified, style),
        "SecondaryStatusTransitions": [
            {
                "Status": "Starting",
                "StartTime": ms(created, style),
                "EndTime": ms(created + 60, style),
            },
            {"Status": secondary, "StartTime": ms(modified, style)},
        ],
        "Tags": {"team": "nlp", "owner": "someone"},
    }
    d.update(extra)
    return d


@pytest.fixture
def bus(sm: MotoSageMaker) -> EventBus:
    return EventBus(sm)


@asynccontextmanager
async def running(make: Callable[..., Any], *flags: str) -> AsyncIterator[Harness]:
    """The exporter with its poll loops and event source running, as `serve` runs them."""
    async with make(*flags) as h:
        stop = asyncio.Event()
        task = asyncio.create_task(h.exporter.run(stop))
        try:
            await until(h, lambda s: value(s, "sagemaker_exporter_events_up") == 1, "events up")
            yield h
        finally:
            stop.set()
            await task


async def until(
    h: Harness, check: Callable[[Samples], Any], what: str, timeout: float = 15.0
) -> Samples:
    deadline = time.monotonic() + timeout
    while True:
        samples = await h.scrape()
        if check(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def status_of(samples: Samples, job: str) -> str | None:
    on = [
        dict(lbl)["status"]
        for lbl, v in find(samples, "sagemaker_training_job_status", training_job=job).items()
        if v == 1
    ]
    return on[0] if len(on) == 1 else None


def events(samples: Samples, outcome: str) -> float:
    return value(samples, "sagemaker_exporter_events_total", outcome=outcome) or 0.0


def polls(samples: Samples) -> float:
    return value(samples, "sagemaker_exporter_polls_total", result="success") or 0.0


HOUR = ("--poll-interval", "1h", "--events-poll-interval", "1h", "--tag-labels", "team")


async def test_failed_event_shows_before_the_next_poll(
    sm: MotoSageMaker, bus: EventBus, exporter_for: Callable[..., Any]
) -> None:
    now = time.time()
    sm.create("job-fail", tags={"team": "nlp"})
    sm.set(
        "job-fail", training_job_status="InProgress", secondary_status="Training", modified=now - 60
    )
    async with running(exporter_for, "--events-queue-url", bus.url, *HOUR) as h:
        first = await until(h, lambda s: status_of(s, "job-fail") == "InProgress", "first poll")
        assert polls(first) == 1
        # SageMaker changes the job and says so on EventBridge.
        changed = time.time()
        sm.set(
            "job-fail",
            training_job_status="Failed",
            secondary_status="Failed",
            failure_reason="AlgorithmError: boom",
            training_end_time=changed,
            modified=changed,
        )
        bus.put(
            detail(
                "job-fail",
                "Failed",
                "Failed",
                changed,
                "str",
                FailureReason="AlgorithmError: boom",
                TrainingEndTime=ms(changed),
            )
        )
        s = await until(h, lambda s: status_of(s, "job-fail") == "Failed", "the Failed event")
        seen = time.time() - changed
        assert polls(s) == 1, "only the event could have brought this"
        assert seen < 5, seen
        assert (
            value(
                s,
                "sagemaker_training_job_failure_info",
                training_job="job-fail",
                category="AlgorithmError",
            )
            == 1
        )
        assert value(
            s, "sagemaker_training_job_training_end_timestamp_seconds", training_job="job-fail"
        ) == pytest.approx(changed, abs=0.001)
        assert value(s, "sagemaker_training_job_tags", training_job="job-fail", tag_team="nlp") == 1
        assert events(s, "applied") == 1
        lag = value(s, "sagemaker_exporter_event_lag_seconds_count")
        assert lag == 1
        assert value(s, "sagemaker_training_jobs_finished_total", status="Failed") == 1


async def test_a_job_never_polled_arrives_by_event(
    sm: MotoSageMaker, bus: EventBus, exporter_for: Callable[..., Any]
) -> None:
    async with running(exporter_for, "--events-queue-url", bus.url, *HOUR) as h:
        # created after the only poll; its events are the only news of it
        t = time.time()
        sm.create("job-new", tags={"team": "nlp"})
        sm.set("job-new", training_job_status="InProgress", secondary_status="Starting", modified=t)
        bus.put(detail("job-new", "InProgress", "Starting", t, "int"))
        s = await until(h, lambda s: status_of(s, "job-new") == "InProgress", "a new job")
        assert value(s, "sagemaker_training_job_instances", training_job="job-new") == 1
        # the tags of the event, only the exported key
        assert value(s, "sagemaker_training_job_tags", training_job="job-new", tag_team="nlp") == 1
        assert polls(s) == 1


async def test_duplicates_and_reordering_leave_the_newest_state(
    sm: MotoSageMaker, bus: EventBus, exporter_for: Callable[..., Any]
) -> None:
    t0 = time.time() - 300
    sm.create("job-order")
    sm.set(
        "job-order",
        training_job_status="Completed",
        secondary_status="Completed",
        modified=t0 + 200,
        training_end_time=t0 + 200,
    )
    async with running(exporter_for, "--events-queue-url", bus.url, *HOUR) as h:
        await until(h, lambda s: status_of(s, "job-order") == "Completed", "first poll")
        newest = detail(
            "job-order",
            "Completed",
            "Completed",
            t0 + 200,
            "float",
            TrainingEndTime=ms(t0 + 200, "float"),
        )
        older = detail("job-order", "InProgress", "Training", t0 + 100, "int")
        oldest = detail("job-order", "InProgress", "Starting", t0, "str")
        # newest, then older ones, then the newest again (AWS may send several per change)
        bus.put(newest, older, oldest, newest, older)
        s = await until(h, lambda s: events(s, "stale") + events(s, "applied") == 5, "5 events")
        assert status_of(s, "job-order") == "Completed"
        # Finished with secondary status Completed, as its status says: no secondary series
        # (lean); an older event applied after it would show Training or Starting here.
        assert find(s, "sagemaker_training_job_secondary_status", training_job="job-order") == {}
        # The first copy of the newest event carries the event's own view of the job (same
        # LastModifiedTime as the polled record): applied once. Its duplicate and every
        # older event change nothing.
        assert events(s, "applied") == 1 and events(s, "stale") == 4
        assert value(s, "sagemaker_training_jobs_finished_total", status="Completed") == 0


async def test_poison_messages_are_counted_and_the_loop_goes_on(
    sm: MotoSageMaker,
    bus: EventBus,
    exporter_for: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with running(exporter_for, "--events-queue-url", bus.url, *HOUR) as h:
        bus.sqs.send_message(QueueUrl=bus.url, MessageBody=f"not json {CANARY}")
        bus.sqs.send_message(
            QueueUrl=bus.url,
            MessageBody=json.dumps(
                {
                    "source": "aws.sagemaker",
                    "detail-type": "SageMaker Training Job State Change",
                    "detail": {"HyperParameters": {"password": CANARY}},
                }
            ),
        )
        # a rule with a broader pattern could deliver other events: counted as ignored
        other = {
            "source": "aws.ec2",
            "detail-type": "EC2 Instance State-change Notification",
            "detail": {"state": "running"},
        }
        bus.sqs.send_message(QueueUrl=bus.url, MessageBody=json.dumps(other))
        sm.create("job-after")
        t = time.time()
        bus.put(detail("job-after", "InProgress", "Training", t, "str"))
        s = await until(h, lambda s: status_of(s, "job-after") == "InProgress", "a good event")
        s = await until(h, lambda s: events(s, "malformed") == 2, "two malformed")
        assert events(s, "ignored") == 1
        assert value(s, "sagemaker_exporter_events_up") == 1
        # deleted, not left to come back: the queue is empty
        attrs = bus.sqs.get_queue_attributes(
            QueueUrl=bus.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert attrs == {
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
        }
    out = capsys.readouterr()
    logs = out.out + out.err
    assert logs.count("malformed event") == 2
    assert CANARY not in logs


async def test_queue_vanishing_falls_back_to_polling_and_recovers(
    sm: MotoSageMaker, bus: EventBus, exporter_for: Callable[..., Any]
) -> None:
    flags = ("--poll-interval", "1s", "--events-poll-interval", "1h")
    async with running(exporter_for, "--events-queue-url", bus.url, *flags) as h:
        s = await until(
            h, lambda s: value(s, "sagemaker_exporter_poll_interval_seconds") == 3600, "event mode"
        )
        # a poll that began before the switch may still be finishing: let it
        settled = -1.0
        for _ in range(10):
            await asyncio.sleep(1.5)
            count = polls(await h.scrape())
            if count == settled:
                break
            settled = count
        await asyncio.sleep(2.5)
        assert polls(await h.scrape()) == settled, "no polling while events flow"

        bus.sqs.delete_queue(QueueUrl=bus.url)
        s = await until(
            h, lambda s: value(s, "sagemaker_exporter_events_up") == 0, "down", timeout=30
        )
        assert value(s, "sagemaker_exporter_poll_interval_seconds") == 1
        assert (
            value(s, "sagemaker_exporter_events_receive_errors_total", outcome="client_error") >= 1
        )
        # polling alone keeps the store current meanwhile
        sm.create("job-while-down")
        sm.set("job-while-down", training_job_status="InProgress", secondary_status="Training")
        s = await until(
            h,
            lambda s: status_of(s, "job-while-down") == "InProgress",
            "a poll to see a new job",
            timeout=10,
        )

        assert bus.create_queue() == bus.url  # the queue comes back
        s = await until(
            h, lambda s: value(s, "sagemaker_exporter_events_up") == 1, "up again", timeout=30
        )
        assert value(s, "sagemaker_exporter_poll_interval_seconds") == 3600
        t = time.time()
        sm.set(
            "job-while-down", training_job_status="Stopped", secondary_status="Stopped", modified=t
        )
        bus.put(detail("job-while-down", "Stopped", "Stopped", t, "int"))
        await until(h, lambda s: status_of(s, "job-while-down") == "Stopped", "events again")


async def test_event_hyperparameters_reach_no_metric_model_or_log(
    sm: MotoSageMaker,
    bus: EventBus,
    exporter_for: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with running(
        exporter_for, "--events-queue-url", bus.url, *HOUR, "--log-level", "debug"
    ) as h:
        sm.create("job-secret")
        t = time.time()
        bus.put(detail("job-secret", "InProgress", "Training", t, "float"))
        s = await until(h, lambda s: status_of(s, "job-secret") == "InProgress", "the event")
        text = await h.scrape_text()
        exp: Exporter = h.exporter
        job = exp.store.get(exp.syncs[0].key, "job-secret")
        assert job is not None and events(s, "applied") == 1
    assert CANARY not in text
    assert CANARY not in repr(job)
    out = capsys.readouterr()
    assert CANARY not in out.out + out.err


async def test_a_burst_of_1000_events_is_kept_up_with(
    bus: EventBus, exporter_for: Callable[..., Any]
) -> None:
    """1,000 state changes put through the rule as fast as moto takes them (10 a call):
    the receivers keep up, so the last one is applied within seconds of being put."""
    n = 1000
    async with running(exporter_for, "--events-queue-url", bus.url, *HOUR) as h:
        t = time.time()
        details = [detail(f"burst-{i:04d}", "InProgress", "Training", t, "str") for i in range(n)]
        await asyncio.to_thread(bus.put, *details)
        put_done = time.monotonic()
        s = await until(h, lambda s: events(s, "applied") == n, f"{n} events", timeout=60)
        behind = time.monotonic() - put_done
        print(f"\n{n} events: the last applied {behind:.1f} s after the last put")
        assert len(h.exporter.store) == n and polls(s) == 1
        assert behind < 10
