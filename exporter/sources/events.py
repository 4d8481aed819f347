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
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from exporter.aws.errors import ApiError
from exporter.aws.sqs import WAIT_SECONDS, Message
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.metrics.training_jobs import RenderContext
from exporter.parse.event import JobEvent, Rejected, merge_event, parse_event
from exporter.sources.training import TargetSync

#: Long polls per queue. Measured on a burst of 1,000 events (tests/test_events_burst.py,
#: docs/benchmarks.md): 1 receiver drains it in ~3.4 s, 4 in ~1.4 s, 8 no faster on 2 cores.
RECEIVERS = 4
RETRY_FIRST, RETRY_MAX = 1.0, 10.0  # backoff of the probe of a failed queue, seconds


class Queue(Protocol):
    url: str

    async def receive(self, wait_seconds: int = ...) -> list[Message]: ...
    async def delete(self, messages: Sequence[Message]) -> int: ...


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
                await _wait_any(stop, self._healthy)
                continue
            try:
                # Until the queue has answered, ask without waiting: a long poll of an empty
                # queue would keep event mode (and a recovery) 20 s from being known.
                messages = await self.queue.receive(0 if not self.up else WAIT_SECONDS)
            except ApiError as err:
                self._set_up(False, err)
                await _wait_any(stop, timeout=delay)
                delay = min(delay * 2, RETRY_MAX)
                continue
            except Exception:  # the daemon never dies because a queue misbehaved
                self._log.exception("receive crashed")
                self._set_up(False)
                await _wait_any(stop, timeout=delay)
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
        if not sync.settings.wants(parsed.job.name):
            return "ignored"
        job = merge_event(sync.store.get(sync.key, parsed.job.name), parsed.job)
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
        syncs: Sequence[TargetSync],
        metrics: SelfMetrics,
        settings: EventSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.syncs, self.metrics, self.settings, self.clock = syncs, metrics, settings, clock
        self.consumers = [QueueConsumer(q, self) for q in queues]
        self.update_mode()

    @property
    def event_mode(self) -> bool:
        return bool(self.consumers) and all(c.up for c in self.consumers)

    def update_mode(self) -> None:
        s = self.settings
        interval = s.events_poll_interval if self.event_mode else s.poll_interval
        self.metrics.poll_interval.set(interval)
        for sync in self.syncs:
            sync.set_poll_interval(interval)

    def route(self, event: JobEvent) -> TargetSync | None:
        for sync in self.syncs:
            if (sync.api.account_id, sync.api.region) == (event.account_id, event.region):
                return sync
        return None

    def unresolved(self) -> bool:
        return any(not s.api.account_id for s in self.syncs)

    def rerender_running(self) -> None:
        """Elapsed-time values of running jobs count up to now; the poll re-renders them
        every cycle, which in event mode is minutes apart. No API call."""
        for sync in self.syncs:
            if not sync.api.account_id:
                continue
            ctx = RenderContext(
                sync.api.region,
                sync.api.account_id,
                self.clock(),
                sync.settings.tag_labels,
                prices=sync.settings.prices,
            )
            for job in list(sync.store.jobs(sync.key)):
                if job.is_active:
                    sync.store.upsert(sync.key, job, ctx)

    async def _rerender_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await _wait_any(stop, timeout=self.settings.poll_interval)
            if self.event_mode and not stop.is_set():
                self.rerender_running()
                for sync in self.syncs[:1]:  # one store behind every target
                    await sync.store.precompress()

    async def run(self, stop: asyncio.Event, ready: Callable[[], bool]) -> None:
        # Wait for every target's first poll: it resolves the account ids events are
        # routed by, and backfills what happened before the exporter started.
        while not stop.is_set() and not ready():
            await _wait_any(stop, timeout=0.2)
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
            for t in tasks:
                t.cancel()
            for sync in self.syncs:
                sync.cancel_describes()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _wait_any(
    stop: asyncio.Event, other: asyncio.Event | None = None, timeout: float | None = None
) -> None:
    waits = [asyncio.ensure_future(stop.wait())]
    if other is not None:
        waits.append(asyncio.ensure_future(other.wait()))
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*waits, return_exceptions=True)
