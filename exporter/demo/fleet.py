"""DemoEnvironment: embedded moto SageMaker/STS plus a driver thread simulating a fleet.

See the package docstring (exporter/demo/__init__.py) for the interface.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from exporter.demo.events import DemoEvents
from exporter.demo.extras import DemoTuning, snapshot
from exporter.demo.initial import initial_fleet
from exporter.demo.jobs import LIVE, Features, Placement, make_plan
from exporter.demo.lifecycles import ARRIVAL_WEIGHTS, HOUR, MIN
from exporter.demo.moto_backend import (
    CloudWatchStore,
    MotoServer,
    SageMakerStore,
    prune_expired_sessions,
)
from exporter.demo.plan import JobPlan
from exporter.demo.utilization import NAMESPACE, datapoints

log = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "123456789012"  # moto's default account: what the base credentials reach
SECOND_ACCOUNT = "210987654321"
SECOND_ROLE_ARN = f"arn:aws:iam::{SECOND_ACCOUNT}:role/sagemaker-exporter-demo"

ARRIVAL_EVERY = 6 * MIN  # nominal mean gap between two new jobs, fleet-wide
FINISHED_TTL = 6 * HOUR  # nominal time a settled job stays in moto before it is deleted
MIN_TTL = 120.0  # real floor, so a poller always gets to see a finished job
MAX_JOBS_PER_TARGET = 150  # hard bound on top of the TTL
PUBLISH_EVERY = 60.0  # real seconds between utilisation datapoints, as SageMaker's 1-minute data
KEEP_DATAPOINTS = timedelta(minutes=20)
SESSION_GRACE = timedelta(minutes=10)  # AssumeRole sessions expired this long are forgotten

# moto's backend is process-global: two environments at once would see each other's jobs.
_active_lock = threading.Lock()
_active = False


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class DemoTarget:
    region: str
    account_id: str
    role_arn: str | None  # None = the default (base-credentials) account


@dataclass
class _Tracked:
    plan: JobPlan
    store: SageMakerStore
    view: dict[str, Any]
    inserted: datetime
    written: datetime


class DemoEnvironment:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    targets: list[DemoTarget]

    def __init__(
        self,
        *,
        seed: int = 1,
        speed: float = 30.0,
        regions: tuple[str, ...] = ("us-east-1", "eu-west-1"),
        events: bool = False,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        if not regions:
            raise ValueError("at least one region is needed")
        self.seed, self.speed = seed, speed
        self.endpoint_url = ""
        self.access_key_id = "AKIADEMOEXPORTER0001"
        self.secret_access_key = "demo-secret-access-key-not-for-aws"
        self.targets = [DemoTarget(r, DEFAULT_ACCOUNT, None) for r in regions] + [
            DemoTarget(r, SECOND_ACCOUNT, SECOND_ROLE_ARN) for r in regions
        ]
        self._server = MotoServer()
        self._stores: list[SageMakerStore] = []
        self._metrics: list[CloudWatchStore] = []
        self._next_publish = utcnow()
        self._usage = random.Random(f"{seed}/utilization")
        self._jobs: dict[tuple[int, str], _Tracked] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._tick = min(1.0, max(0.05, 5.0 / speed))
        self._ttl = max(FINISHED_TTL / speed, MIN_TTL)
        self._arrivals = random.Random(f"{seed}/arrivals")
        self._serial = 0
        self._next_arrival = utcnow()
        self._next_prune = utcnow()
        self._fleet_tag = random.Random(f"{seed}/tag").getrandbits(16).to_bytes(2).hex()
        self._events_on = events
        self._events: DemoEvents | None = None
        #: SQS queues the simulated changes are published to as EventBridge events.
        self.queue_urls: list[str] = []
        self._tuning = DemoTuning()  # a tuning job in moto per group of trials (issue 12)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        global _active
        with _active_lock:
            if self._started:
                raise RuntimeError("DemoEnvironment already started")
            if _active:
                raise RuntimeError("another DemoEnvironment is running in this process")
            _active = True
            self._started = True
        try:
            self._stores = [SageMakerStore(t.account_id, t.region) for t in self.targets]
            self._metrics = [CloudWatchStore(t.account_id, t.region) for t in self.targets]
            self._server.start()
            self.endpoint_url = self._server.endpoint_url
            if self._events_on:
                self._events = DemoEvents(
                    self.endpoint_url,
                    self.access_key_id,
                    self.secret_access_key,
                    [(t.region, t.role_arn) for t in self.targets],
                )
                self.queue_urls = list(self._events.queue_urls)
            now = utcnow()
            self._seed_initial(now)
            self._publish(now)
            self._tuning.update(self._jobs.values(), now)
            self._next_arrival = now + self._gap()
            self._next_prune = now + self._prune_every()
            self._thread = threading.Thread(target=self._run, name="demo-fleet-driver", daemon=True)
            self._thread.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        global _active
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)
        events, self._events = self._events, None
        if events is not None:
            events.close()
        self._server.stop()
        # Leave moto's process-global backend as we found it.
        for tracked in self._jobs.values():
            tracked.store.delete(tracked.plan.name)
        self._jobs.clear()
        for cloudwatch in self._metrics:
            cloudwatch.prune(datetime.max)
        self._tuning.remove()
        with _active_lock:
            if self._started:
                _active = False
                self._started = False

    def __enter__(self) -> DemoEnvironment:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- fleet -------------------------------------------------------------------------

    def _seed_initial(self, now: datetime) -> None:
        rng = random.Random(f"{self.seed}/initial")
        for seeded in initial_fleet(rng, len(self.targets)):
            self._add(
                seeded.target, seeded.scenario, seeded.placement, seeded.features, now, initial=True
            )

    def _gap(self) -> timedelta:
        nominal = self._arrivals.uniform(0.5, 1.5) * ARRIVAL_EVERY
        return timedelta(seconds=nominal / self.speed)

    def _add(
        self,
        target: int,
        scenario: str,
        placement: Placement,
        features: Features,
        now: datetime,
        *,
        initial: bool,
    ) -> None:
        serial = self._serial
        self._serial += 1
        t = self.targets[target]
        plan = make_plan(
            scenario=scenario,
            rng=random.Random(f"{self.seed}/job/{serial}"),
            serial=serial,
            region=t.region,
            account_id=t.account_id,
            now=now,
            speed=self.speed,
            placement=placement,
            features=features,
            fleet_tag=self._fleet_tag,
        )
        view, last_event = snapshot(plan, now)
        store = self._stores[target]
        # Jobs present before the first poll carry their real history; a job appearing later
        # is a change the poller must notice, so it is stamped now.
        modified = last_event if initial else now
        store.insert(plan.name, plan.static, plan.tags, plan.created, view, modified)
        self._jobs[(target, plan.name)] = _Tracked(plan, store, view, now, now)
        if not initial:
            self._publish_event(target, plan, store)

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self._step(utcnow())
            except Exception:  # keep the demo alive; the traceback says what broke
                log.exception("demo fleet driver step failed")

    def _step(self, now: datetime) -> None:
        """Advance the fleet to `now`: arrivals, state changes, pruning."""
        if now - self._next_arrival > timedelta(minutes=1):
            # The process was suspended: resume the steady rate instead of a burst of jobs.
            self._next_arrival = now
        while self._next_arrival <= now and not self._stop.is_set():
            target = self._arrivals.randrange(len(self.targets))
            scenario = self._arrivals.choices(
                list(ARRIVAL_WEIGHTS), list(ARRIVAL_WEIGHTS.values())
            )[0]
            self._add(target, scenario, LIVE, Features(), now, initial=False)
            self._next_arrival += self._gap()
        for tracked in self._jobs.values():
            if tracked.written > tracked.plan.settles:
                continue
            view, _ = snapshot(tracked.plan, now)
            if view != tracked.view:
                tracked.store.update(tracked.plan.name, view, now)
                tracked.view = view
                self._publish_event(self._stores.index(tracked.store), tracked.plan, tracked.store)
            tracked.written = now
        if now >= self._next_publish:
            self._publish(now)
        self._tuning.update(self._jobs.values(), now)
        if now >= self._next_prune:
            self._prune(now)
            self._next_prune = now + self._prune_every()

    def _publish(self, now: datetime) -> None:
        """One utilisation datapoint per running host and metric, as SageMaker publishes."""
        for target, cloudwatch in enumerate(self._metrics):
            data = [
                point
                for (t, _), tracked in sorted(self._jobs.items())
                if t == target
                for point in datapoints(
                    tracked.plan.name,
                    tracked.plan.scenario,
                    tracked.plan.static,
                    tracked.view,
                    now,
                    self._usage,
                )
            ]
            if data:
                cloudwatch.put(NAMESPACE, data)
            cloudwatch.prune(now - KEEP_DATAPOINTS)
        self._next_publish = now + timedelta(seconds=PUBLISH_EVERY)

    def _publish_event(self, target: int, plan: JobPlan, store: SageMakerStore) -> None:
        if self._events is None:
            return
        try:
            self._events.publish(target, store.describe(plan.name), plan.tags)
        except Exception:  # the poll still sees the change: the demo goes on
            log.exception("demo event for %s not sent", plan.name)

    def _prune_every(self) -> timedelta:
        # Rare enough that moto's index-based NextToken seldom shifts under a paginating poller.
        return timedelta(seconds=min(max(self._ttl / 8, 5.0), 30.0))

    def _prune(self, now: datetime) -> None:
        ttl = timedelta(seconds=self._ttl)
        doomed = [k for k, t in self._jobs.items() if now - max(t.plan.settles, t.inserted) > ttl]
        for target in range(len(self.targets)):
            keys = [k for k in self._jobs if k[0] == target and k not in doomed]
            excess = len(keys) - MAX_JOBS_PER_TARGET
            finished = sorted(
                (k for k in keys if self._jobs[k].plan.ends <= now),
                key=lambda k: self._jobs[k].plan.ends,
            )
            doomed += finished[: max(0, excess)]
        for key in doomed:
            tracked = self._jobs.pop(key)
            tracked.store.delete(tracked.plan.name)
        # Sessions are real time, not simulated: a poller refreshes its credentials minutes
        # before they expire, so one expired SESSION_GRACE ago is no longer in use.
        prune_expired_sessions(
            {t.account_id for t in self.targets if t.role_arn}, now - SESSION_GRACE
        )
