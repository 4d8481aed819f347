"""Pure part of the many-targets benchmark: poll log events -> spread and cadence figures."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TargetId = tuple[str, str]  # (region, account id)


@dataclass(frozen=True, slots=True)
class PollEvent:
    target: TargetId
    start: float  # Unix time the cycle began (log time minus its duration)
    duration: float
    ok: bool


def poll_events(events: Iterable[Mapping[str, Any]]) -> list[PollEvent]:
    """The exporter's JSON 'poll' / 'poll failed' log lines as PollEvents, by start time."""
    out = []
    for e in events:
        if e.get("event") not in ("poll", "poll failed"):
            continue
        end = datetime.fromisoformat(str(e["timestamp"]).replace("Z", "+00:00")).timestamp()
        duration = float(e["duration_s"])
        out.append(
            PollEvent(
                (str(e["region"]), str(e["account_id"])),
                end - duration,
                duration,
                e["event"] == "poll",
            )
        )
    return sorted(out, key=lambda p: p.start)


@dataclass(frozen=True, slots=True)
class Spread:
    """How poll cycle starts fall within the poll interval, over whole intervals."""

    polls: int
    intervals: int
    busiest_second: int  # most cycle starts within any one second
    mean_per_second: float  # polls / (intervals x interval): what a perfect spread gives
    share_in_busiest_tenth: float  # share of starts in the busiest tenth of the interval


def spread(starts: Sequence[float], begin: float, interval: float, cycles: int) -> Spread:
    """Starts within [begin, begin + cycles x interval); the busiest second is a sliding
    one-second window within each interval."""
    end = begin + cycles * interval
    kept = sorted(s for s in starts if begin <= s < end)
    by_cycle: dict[int, list[float]] = defaultdict(list)
    tenths: dict[int, int] = defaultdict(int)
    for s in kept:
        k, phase = divmod(s - begin, interval)
        by_cycle[int(k)].append(s)
        tenths[int(phase * 10 / interval)] += 1
    busiest = 0
    for times in by_cycle.values():
        lo = 0
        for hi, t in enumerate(times):
            while t - times[lo] >= 1.0:
                lo += 1
            busiest = max(busiest, hi - lo + 1)
    return Spread(
        len(kept),
        cycles,
        busiest,
        len(kept) / (cycles * interval),
        max(tenths.values(), default=0) / len(kept) if kept else 0.0,
    )


@dataclass(frozen=True, slots=True)
class Cadence:
    """Gaps between consecutive cycle starts of the same target, in seconds."""

    gaps: int
    median: float
    max_late: float  # largest gap minus the poll interval
    late_over_1s: int  # gaps more than a second longer than the interval


def cadence(
    polls: Sequence[PollEvent],
    interval: float,
    begin: float,
    end: float,
    exclude: Iterable[TargetId] = (),
) -> Cadence:
    """Gaps whose later start falls within [begin, end), for every target not excluded."""
    skip = set(exclude)
    by_target: dict[TargetId, list[float]] = defaultdict(list)
    for p in polls:
        if p.target not in skip:
            by_target[p.target].append(p.start)
    gaps = [
        b - a
        for starts in by_target.values()
        for a, b in itertools.pairwise(starts)
        if begin <= b < end
    ]
    if not gaps:
        return Cadence(0, 0.0, 0.0, 0)
    return Cadence(
        len(gaps),
        statistics.median(gaps),
        max(gaps) - interval,
        sum(1 for g in gaps if g > interval + 1.0),
    )
