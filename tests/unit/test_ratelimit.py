"""The discovered rate against a simulated quota (pure: a virtual clock, no sleeping).

The server is a token bucket like AWS's (and the fake's): `quota` calls/s, a burst of
max(1, quota); a caller always has work, calls take `latency` seconds, and responses come
back in order. The same rate class meets the real fake server in tests/integration/test_faults.py and
in the cold-sync benchmark.
"""

from __future__ import annotations

import heapq

import pytest

from exporter.aws.ratelimit import FLOOR, DiscoveredRate


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Quota:
    def __init__(self, rate: float) -> None:
        self.rate, self.burst = rate, max(1.0, rate)
        self.tokens, self.last = self.burst, 0.0

    def take(self, t: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (t - self.last) * self.rate)
        self.last = t
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def simulate(
    quota: float,
    seconds: float,
    latency: float = 0.05,
    initial: float = 10.0,
    storm: tuple[float, float] | None = None,
) -> list[tuple[float, bool]]:
    """(send time, throttled) of every call a saturated caller makes in `seconds`."""
    clock = Clock()
    rate = DiscoveredRate(initial, clock=clock)
    server = Quota(quota)
    inflight: list[tuple[float, float, bool]] = []  # (response time, sent at, throttled)
    calls: list[tuple[float, bool]] = []
    while clock.t < seconds:
        while inflight and inflight[0][0] <= clock.t:
            _, sent, throttled = heapq.heappop(inflight)
            if throttled:
                rate.on_throttle(sent)
            else:
                rate.on_success()
        wait = rate.try_take()
        if wait > 0:
            clock.t = min(clock.t + wait, inflight[0][0]) if inflight else clock.t + wait
            continue
        sent = clock.t
        in_storm = storm is not None and storm[0] <= sent < storm[1]
        throttled = in_storm or not server.take(sent + latency / 2)
        calls.append((sent, throttled))
        heapq.heappush(inflight, (sent + latency, sent, throttled))
    return calls


def window(calls: list[tuple[float, bool]], start: float, end: float) -> tuple[float, float]:
    """(calls/s that succeeded, throttled fraction) between start and end."""
    inside = [th for t, th in calls if start <= t < end]
    ok = sum(1 for th in inside if not th)
    return ok / (end - start), (len(inside) - ok) / max(1, len(inside))


@pytest.mark.parametrize("quota", [1.0, 2.0, 5.0, 20.0, 100.0, 300.0])
def test_converges_to_an_untold_quota_with_few_throttles(quota: float) -> None:
    calls = simulate(quota, 400)
    rate, throttled = window(calls, 100, 400)
    assert rate >= 0.85 * quota, f"only {rate:.1f}/s of {quota}/s once converged"
    assert throttled < 0.05, f"{throttled:.1%} throttled once converged"


@pytest.mark.parametrize("quota", [5.0, 100.0])
def test_reaches_the_quota_fast_from_either_side(quota: float) -> None:
    for initial in (1.0, 10.0, 500.0):
        calls = simulate(quota, 40, initial=initial)
        rate, _ = window(calls, 20, 40)
        assert rate >= 0.8 * quota, (initial, rate)


def test_recovers_after_a_storm_of_throttles() -> None:
    """Every call throttled for 20 s (an account-wide burst by another tool) drives the
    rate to the floor; within a minute of the storm's end the rate is back at the quota."""
    calls = simulate(20.0, 150, storm=(20.0, 40.0))
    assert window(calls, 30, 40)[0] == 0
    storm_calls = [t for t, _ in calls if 20 <= t < 40]
    assert len(storm_calls) < 20 * 20 * 0.1, "the storm was not answered by slowing down"
    rate, _ = window(calls, 100, 150)
    assert rate >= 0.8 * 20.0


def test_cap_and_floor() -> None:
    clock = Clock()
    seen: list[float] = []
    r = DiscoveredRate(50.0, cap=5.0, clock=clock, on_change=seen.append)
    assert r.rate == 5.0 and seen == [5.0]
    for _ in range(100):
        r.on_success()
    assert r.rate == 5.0
    for _ in range(50):
        clock.t += 1
        r.on_throttle(clock.t - 0.01)
    assert r.rate == FLOOR
    # A throttle of a call sent before the last cut does not cut again.
    before = r.rate
    r.on_throttle(0.0)
    assert r.rate == before and r.throttles == 51
