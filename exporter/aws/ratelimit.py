"""A client-side rate that finds an API's quota instead of being told it.

AWS does not publish SageMaker's per-API request rates, and they differ per account and
region, so a fixed client rate is either too slow (the old default of 10 describes/s
against a quota of 100/s made a cold sync 11x slower than the API allows) or too fast (a
storm of throttles). `DiscoveredRate` paces calls with a token bucket whose rate it moves,
the way TCP CUBIC (and botocore's adaptive mode) move a window:

- slow start: until the first throttle, every success multiplies the rate by
  SLOW_START_GROWTH, so a busy caller's rate grows exponentially, and faster the more calls
  it makes (x1.05 a second at 1 call/s, x2.7 at 20/s);
- on a throttle: the rate actually sent at becomes W_max, and the rate is cut to
  BETA x W_max; one cut per round trip (a throttle of a call sent before the last cut says
  nothing new);
- then the rate follows the cubic W_max (1 + c (t - K)^3), c = (1 - BETA) / K^3, with K
  the longer of RECOVER seconds and RECOVER_CALLS calls at W_max (at most RECOVER_MAX): fast back towards W_max, flat near it (where the quota is), then
  probing above it, so the rate spends most of its time just under the quota and
  throttles stay rare. Unlike botocore's cubic (C in calls/s^3), this one is relative to
  W_max and at least RECOVER_CALLS long, so a quota of 2 calls/s sees a throttle every
  ~25 s, not every second (botocore's constants throttled 17% of calls at 2/s in
  tests/unit/test_ratelimit.py's simulation);
- after 2 K seconds without a throttle the quota has grown (or the throttles were
  someone else's burst): slow start again;
- never more than twice the rate actually measured, so a quiet steady state does not
  inflate it, and never under FLOOR.

Pure logic with an injectable clock; the sleeping lives in `acquire`. tests/unit/test_ratelimit.py
and bench (cold sync at three quotas) measure convergence and the throttled fraction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

SLOW_START_GROWTH = 1.05  # per success, until the first throttle
BETA = 0.8
RECOVER = 8.0  # s from BETA x W_max back to W_max (K) ...
RECOVER_CALLS = 40  # ... or this many calls at W_max, whichever is longer ...
RECOVER_MAX = 20.0  # ... but no longer than this: after a storm drove W_max to the floor
FLOOR = 0.5  # calls/s: as botocore's adaptive mode
MEASURE_BUCKET = 0.5  # s; the measured send rate is smoothed over buckets of this length
SMOOTH = 0.8


class DiscoveredRate:
    """Token-bucket pacing at a rate discovered from throttling (see module docstring)."""

    def __init__(
        self,
        initial: float,
        cap: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[float], None] | None = None,
    ) -> None:
        self.cap = cap
        self._clock = clock
        self._on_change = on_change
        self.rate = 0.0
        self.w_max: float | None = None  # the sent rate at the last throttle
        self._k = RECOVER
        self.throttles = 0
        self._last_cut = float("-inf")
        now = clock()
        self._tokens, self._last = 1.0, now
        self._measured, self._bucket_start, self._bucket_count = initial, now, 0
        self._lock = asyncio.Lock()
        self._set(initial)

    def _set(self, rate: float) -> None:
        if self.cap:
            rate = min(rate, self.cap)
        rate = max(FLOOR, rate)
        if rate != self.rate:
            self.rate = rate
            if self._on_change is not None:
                self._on_change(rate)

    # -- pacing ---------------------------------------------------------------------
    def try_take(self) -> float:
        """Take a token now (returns 0), or return how long to wait for one."""
        now = self._clock()
        # Burst of one call: the quota's own bucket may be small, and pacing evenly is
        # what keeps a call from landing just before the server's refill.
        self._tokens = min(1.0, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0 - 1e-9:  # float dust must not make a wait of 1e-17 s
            self._tokens -= 1.0
            self._record_send(now)
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def _record_send(self, now: float) -> None:
        self._bucket_count += 1
        elapsed = now - self._bucket_start
        if elapsed >= MEASURE_BUCKET:
            current = self._bucket_count / elapsed
            self._measured = SMOOTH * current + (1 - SMOOTH) * self._measured
            self._bucket_start, self._bucket_count = now, 0

    async def acquire(self) -> float:
        """Wait for a token; returns the send time (for `on_throttle`)."""
        async with self._lock:
            while (wait := self.try_take()) > 0:
                await asyncio.sleep(wait)
            return self._clock()

    # -- adapting -------------------------------------------------------------------
    def on_success(self) -> None:
        t = self._clock() - self._last_cut
        if self.w_max is None or t > 2 * self._k:
            target = self.rate * SLOW_START_GROWTH
        else:
            target = self.w_max * (1 + (1 - BETA) * ((t - self._k) / self._k) ** 3)
        self._set(min(target, max(2 * self._measured, FLOOR)))

    def on_throttle(self, sent_at: float) -> None:
        """A call sent at `sent_at` (from `acquire`) was throttled."""
        self.throttles += 1
        if sent_at <= self._last_cut:
            return  # sent at the old rate: that rate was cut already
        # What was really sent, not the allowance: a rate the caller never used says
        # nothing about the quota.
        self.w_max = min(self.rate, max(self._measured, FLOOR))
        self._k = min(RECOVER_MAX, max(RECOVER, RECOVER_CALLS / self.w_max))
        self._last_cut = self._clock()
        self._set(self.w_max * BETA)
        self._tokens = min(self._tokens, 0.0)
