"""The event source: SageMaker state-change events from SQS, applied to the store at once.

Per queue, RECEIVERS long-polls run side by side (20 s waits, batches of 10). Each batch is
parsed, routed to its (account, region) target and applied without an await, then the
applied messages are deleted: a message is deleted only once it is applied, so a crash
between the two costs a redelivery, which is then "stale" and harmless. A poison message
(not JSON, no job) is counted, logged once by message id (never its body: it carries
HyperParameters) and deleted: it would never parse later either, and leaving it to the
queue's redrive policy would only repeat it maxReceiveCount times before the dead-letter
queue. The dead-letter queue still catches what the exporter cannot delete or route.

Polling stays on as the safety net: while every queue answers, targets poll at
--events-poll-interval; when any queue fails (AccessDenied, queue deleted, throttling,
network), they poll at --poll-interval again, events_up says which queue, and one receiver
per failed queue probes it with backoff until it answers again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from exporter.aws.errors import ApiError
from exporter.aws.sqs import WAIT_SECONDS, Message
from exporter.cadence import Cadence, until, wait_any
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.model import TrainingJob
from exporter.parse.event import JobEvent, Rejected, merge_event, parse_event

#: Long polls per queue. Measured on a burst of 1,000 events (tests/integration/test_events_moto.py,
#: docs/benchmarks.md): 1 receiver drains it in ~3.4 s, 4 in ~1.4 s, 8 no faster on 2 cores.
RECEIVERS = 4
RETRY_FIRST, RETRY_MAX = 1.0, 10.0  # backoff of the probe of a failed queue, seconds


class Queue(Protocol):
    url: str

    async def receive(self, wait_seconds: int = ...) -> list[Message]: ...
    async def delete(self, messages: Sequence[Message]) -> int: ...


class Target(Protocol):
    """What events need of a training-job target (exporter.sources.training.TargetSync):
    its identity and a narrow API, never its store, client or settings."""

    @property
    def account_id(self) -> str: ...

    @property
    def region(self) -> str: ...

    def get(self, name: str) -> TrainingJob | None: ...

    def wants(self, name: str) -> bool: ...

    def apply_job(self, job: TrainingJob) -> bool: ...

    def want_describe(self, name: str) -> None: ...

    def rerender_running(self, now: float) -> None: ...

    def cancel_describes(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EventSettings:
    poll_interval: float = 30.0  # fallback, and the cadence of elapsed-time re-renders
    events_poll_interval: float = 300.0
    tag_labels: tuple[str, ...] = ()
    receivers: int = RECEIVERS


class QueueConsumer:
    """One queue: its receivers, its health, its outcome counts."""

    def __init__(self, queue: Queue, source: EventSource) -> None:
        self.queue, self.source = queue, source
        self.up: bool | None = None  # None until the first receive answers
        self._healthy = asyncio.Event()
        self._log = structlog.get_logger("events").bind(queue=queue.url)
        source.metrics.init_queue(queue.url)

    def _count(self, outcome: str) -> None:
        self.source.metrics.events.labels(self.queue.url, outcome).inc()

    def _set_up(self, up: bool, err: ApiError | None = None) -> None:
        m = self.source.metrics
        m.events_up.labels(self.queue.url).set(1 if up else 0)
        if err is not None:
            m.events_receive_errors.labels(self.queue.url, err.outcome).inc()
        if up != self.up:
            if up:
                self._log.info("events queue up")
                self._healthy.set()
            else:
                # Once per outage, not once per retry.
                self._log.warning(
                    "events queue failing; polling at --poll-interval until it answers",
                    error=str(err),
                )
                self._healthy.clear()
            self.up = up
            self.source.update_mode()

    async def receiver(self, index: int, stop: asyncio.Event) -> None:
        delay = RETRY_FIRST
        while not stop.is_set():
            if index and not self._healthy.is_set():
                # Only receiver 0 probes a failed queue; the others wait for it to answer.
                await wait_any(stop, self._healthy)
                continue
            try:
                # Until the queue has answered, ask without waiting: a long poll of an empty
                # queue would keep event mode (and a recovery) 20 s from being known.
                messages = await self.queue.receive(0 if not self.up else WAIT_SECONDS)
            except ApiError as err:
                self._set_up(False, err)
                await wait_any(stop, timeout=delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            except Exception:  # the daemon never dies because a queue misbehaved
                self._log.exception("receive crashed")
                self._set_up(False)
                await wait_any(stop, timeout=delay)
                continue
            delay = RETRY_FIRST
            self._set_up(True)
            done = self.handle(messages)
            try:
                refused = await self.queue.delete(done)
            except ApiError as err:
                self.source.metrics.events_receive_errors.labels(self.queue.url, err.outcome).inc()
                self._log.warning("delete failed; the messages come back as stale", error=str(err))
                continue
            if refused:
                self._log.warning("delete refused for some messages", count=refused)

    def handle(self, messages: Sequence[Message]) -> list[Message]:
        """Apply a batch (no await: each event lands in the store in one step); the
        messages to delete."""
        done = []
        for m in messages:
            try:
                outcome = self.apply(m)
            except Exception as exc:  # one bad message must not stop the receiver
                # The type only: an exception's text may quote the body (HyperParameters).
                self._log.error(
                    "event not applied", message_id=m.message_id, error=type(exc).__name__
                )
                outcome = "malformed"
            self._count(outcome)
            if outcome != "deferred":
                done.append(m)
        return done

    def apply(self, m: Message) -> str:
        parsed = parse_event(m.body, self.source.settings.tag_labels)
        if isinstance(parsed, Rejected):
            if parsed.outcome == "malformed":
                self._log.warning("malformed event", message_id=m.message_id, reason=parsed.reason)
            return parsed.outcome
        sync = self.source.route(parsed)
        if sync is None:
            # A target whose account is not known yet may be the one: let SQS redeliver.
            return "deferred" if self.source.unresolved() else "ignored"
        if not sync.wants(parsed.job.name):
            return "ignored"
        job = merge_event(sync.get(parsed.job.name), parsed.job)
        if not sync.apply_job(job):
            return "stale"
        now = self.source.clock()
        happened = parsed.time if parsed.time is not None else job.last_modified
        if happened is not None:
            self.source.metrics.events_lag.labels(self.queue.url).observe(max(0.0, now - happened))
        sync.want_describe(job.name)
        return "applied"


class EventSource:
    """Every --events-queue-url, feeding the targets' sync engines."""

    def __init__(
        self,
        queues: Sequence[Queue],
        targets: Sequence[Target],
        metrics: SelfMetrics,
        settings: EventSettings,
        cadence: Cadence,
        precompress: Callable[[], Awaitable[None]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.targets, self.metrics, self.settings, self.clock = targets, metrics, settings, clock
        self.cadence, self._precompress = cadence, precompress
        self.consumers = [QueueConsumer(q, self) for q in queues]
        self.update_mode()

    @property
    def event_mode(self) -> bool:
        return bool(self.consumers) and all(c.up for c in self.consumers)

    def update_mode(self) -> None:
        """Targets poll at --events-poll-interval while every queue answers, else at
        --poll-interval: one cadence for all of them."""
        s = self.settings
        interval = s.events_poll_interval if self.event_mode else s.poll_interval
        self.metrics.poll_interval.set(interval)
        self.cadence.set(interval)

    def route(self, event: JobEvent) -> Target | None:
        for t in self.targets:
            if (t.account_id, t.region) == (event.account_id, event.region):
                return t
        return None

    def unresolved(self) -> bool:
        return any(not t.account_id for t in self.targets)

    def rerender_running(self) -> None:
        """Elapsed-time values of running jobs count up to now; the poll re-renders them
        every cycle, which in event mode is minutes apart. No API call, and only running
        jobs are touched (finished ones stay packed)."""
        now = self.clock()
        for t in self.targets:
            if t.account_id:
                t.rerender_running(now)

    async def _rerender_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await wait_any(stop, timeout=self.settings.poll_interval)
            if self.event_mode and not stop.is_set():
                self.rerender_running()
                await self._precompress()

    async def run(self, stop: asyncio.Event, ready: Callable[[], bool]) -> None:
        # Wait for every target's first poll: it resolves the account ids events are
        # routed by, and backfills what happened before the exporter started.
        await until(stop, ready)
        tasks = [
            asyncio.create_task(c.receiver(i, stop), name=f"events-{i}")
            for c in self.consumers
            for i in range(self.settings.receivers)
        ]
        tasks.append(asyncio.create_task(self._rerender_loop(stop), name="events-rerender"))
        try:
            await stop.wait()
        finally:
            # A long poll cannot be drained: cancel it. A batch received but not deleted
            # comes back after the visibility timeout, as stale.
            for task in tasks:
                task.cancel()
            for target in self.targets:
                target.cancel_describes()
            await asyncio.gather(*tasks, return_exceptions=True)
