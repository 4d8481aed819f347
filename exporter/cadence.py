"""Every loop that keeps a cadence, in one place: wait, wait until, and every(interval).

A loop keeps its cadence by subtracting each cycle's run time from the wait; a cycle that
raises is logged and the loop goes on (the daemon never dies because an API misbehaved).
The poll interval that event mode changes is a `Cadence`: a change applies to the wait under
way, counted from its start.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def wait_any(
    stop: asyncio.Event, other: asyncio.Event | None = None, timeout: float | None = None
) -> None:
    """Until `stop` or `other` is set, or `timeout` seconds pass."""
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


async def until(stop: asyncio.Event, condition: Callable[[], bool], check: float = 0.2) -> None:
    """Until `condition()` holds (checked every `check` seconds) or `stop` is set."""
    while not stop.is_set() and not condition():
        await wait_any(stop, timeout=check)


class Cadence:
    """An interval that may change while loops wait on it (shared by every target's poll)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._changed: asyncio.Event | None = None

    def set(self, seconds: float) -> None:
        if seconds == self.interval:
            return
        self.interval = seconds
        if self._changed is not None:
            # Wakes every wait under way; later waits get an Event of their own, so no
            # sleeper can clear the wake-up another one has not seen yet.
            self._changed.set()
            self._changed = None

    async def sleep(self, stop: asyncio.Event, delay: float) -> None:
        """Wait `delay` seconds, or less if stopped; a new interval moves the end of the
        wait to where it would have been with that interval."""
        cycle_start = time.monotonic() + delay - self.interval
        deadline = time.monotonic() + delay
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            await wait_any(stop, changed, timeout=left)
            if changed.is_set():
                deadline = cycle_start + self.interval


async def every(
    stop: asyncio.Event,
    cadence: Cadence,
    cycle: Callable[[], Awaitable[float | None]],
    log: Any,
    crashed: str,
    offset: float = 0.0,
) -> None:
    """Run `cycle` now and then every interval until `stop`, keeping cadence. A cycle may
    return a shorter interval for the next wait (a retry after a failure). `offset` stretches
    the first wait once (a target's phase within the interval)."""
    while not stop.is_set():
        began = time.monotonic()
        interval: float | None = None
        try:
            interval = await cycle()
        except Exception:  # the daemon must never die because an API misbehaved
            log.exception(crashed)
        if interval is None:
            interval = cadence.interval
        delay = max(0.0, interval - (time.monotonic() - began)) + offset
        offset = 0.0
        await cadence.sleep(stop, delay)
