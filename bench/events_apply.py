"""What applying one EventBridge state change costs the exporter, without any I/O: parse the
SQS body, merge it with the stored record, render it into the store.

    .venv/bin/python -m bench.events_apply

The receive side is SQS's (tens of milliseconds a call for up to 10 messages); see
docs/benchmarks.md, "Event mode".
"""

from __future__ import annotations

import json
import time

from exporter.metrics.family import RenderContext
from exporter.parse.event import JobEvent, merge_event, parse_event
from exporter.store.objects import training_store

N = 1000


def body(i: int) -> str:
    arn = f"arn:aws:sagemaker:eu-west-1:210987654321:training-job/job-{i}"
    t = 1796040000000 + i
    return json.dumps(
        {
            "version": "0",
            "id": f"id-{i}",
            "detail-type": "SageMaker Training Job State Change",
            "source": "aws.sagemaker",
            "time": "2026-11-30T12:00:00Z",
            "region": "eu-west-1",
            "resources": [arn],
            "detail": {
                "TrainingJobName": f"job-{i}",
                "TrainingJobArn": arn,
                "TrainingJobStatus": "InProgress",
                "SecondaryStatus": "Training",
                "HyperParameters": {"epochs": "10", "lr": "0.001"},
                "CreationTime": str(t - 600000),
                "TrainingStartTime": t - 500000,
                "LastModifiedTime": float(t),
                "SecondaryStatusTransitions": [
                    {"Status": "Starting", "StartTime": str(t - 600000), "EndTime": t - 500000},
                    {"Status": "Training", "StartTime": t - 500000},
                ],
                "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 2},
                "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
                "Tags": {"team": "nlp", "project": "search"},
            },
        }
    )


def main() -> None:
    bodies = [body(i) for i in range(N)]
    store, best = training_store(), float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for raw in bodies:
            ev = parse_event(raw, ("team",))
            assert isinstance(ev, JobEvent)
            job = merge_event(store.get("t", ev.job.name), ev.job)
            store.upsert("t", job, RenderContext(ev.region, ev.account_id, time.time(), ("team",)))
        best = min(best, time.perf_counter() - start)
    print(
        f"{N} events parsed, merged and stored: {best * 1000:.0f} ms (best of 5), "
        f"{best / N * 1000:.3f} ms an event"
    )


if __name__ == "__main__":
    main()
