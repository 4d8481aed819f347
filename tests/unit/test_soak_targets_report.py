"""The pure parts of the soak and many-targets benchmarks: how growth is judged, how poll
spread and cadence are measured, and where each target's phase falls."""

from __future__ import annotations

import json
import math

import pytest

from bench.soak_report import replace_section, trend
from bench.targets_report import PollEvent, cadence, poll_events, spread
from exporter.sources.training import phase_offset

MINUTES = [60.0 * i for i in range(25)]


@pytest.mark.parametrize(
    ("values", "rel_floor", "abs_floor", "flat"),
    [
        ([100.0] * 25, 0.0, 0.0, True),  # constant
        ([100.0 + (i % 2) for i in range(25)], 0.0, 0.0, True),  # jitter, no trend
        ([100.0 + 10 * (i % 5) for i in range(25)], 0.0, 0.0, True),  # saw-tooth (eviction)
        ([100.0 + i for i in range(25)], 0.0, 0.0, False),  # a steady leak
        ([100.0 + i for i in range(25)], 0.0, 30.0, True),  # ... below an absolute floor
        ([100.0 + i for i in range(25)], 0.5, 0.0, True),  # ... below 50% of the mean
        ([100.0 + 0.2 * i + 5 * (i % 2) for i in range(25)], 0.0, 0.0, True),  # lost in noise
        ([100.0] * 20 + [150.0] * 5, 0.0, 0.0, False),  # a late jump that stays
    ],
)
def test_trend_judges_growth_against_noise_and_floor(
    values: list[float], rel_floor: float, abs_floor: float, flat: bool
) -> None:
    t = trend(MINUTES, values, rel_floor, abs_floor)
    assert t.flat is flat, t
    assert (t.first, t.last, t.low, t.high) == (values[0], values[-1], min(values), max(values))


def test_trend_slope_is_per_hour() -> None:
    t = trend(MINUTES, [float(i) for i in range(25)])  # one per minute
    assert math.isclose(t.slope_per_hour, 60.0)
    assert math.isclose(t.growth, 24.0)
    assert t.noise < 1e-9


def test_trend_needs_three_points() -> None:
    with pytest.raises(ValueError):
        trend([0.0, 1.0], [1.0, 2.0])


def test_replace_section_appends_once_then_replaces() -> None:
    doc = "# Benchmarks\n\ntext\n"
    once = replace_section(doc, "soak-fake", "first")
    assert (
        once == "# Benchmarks\n\ntext\n\n<!-- soak-fake:begin -->\nfirst\n<!-- soak-fake:end -->\n"
    )
    twice = replace_section(once + "after\n", "soak-fake", "second\n")
    assert twice == once.replace("first", "second") + "after\n"


def _event(kind: str, region: str, account: str, ts: str, duration: float) -> dict[str, object]:
    return {
        "event": kind,
        "region": region,
        "account_id": account,
        "timestamp": ts,
        "duration_s": duration,
        "listed": 0,
    }


def test_poll_events_take_the_start_from_the_log_time_minus_the_duration() -> None:
    lines = [
        _event("poll", "us-east-1", "1", "2026-11-30T12:00:10.500000Z", 0.5),
        {"event": "listening", "timestamp": "2026-11-30T12:00:00Z"},
        _event("poll failed", "eu-west-1", "2", "2026-11-30T12:00:05Z", 80.0),
    ]
    events = poll_events(json.loads(json.dumps(lines)))
    base = 1796040000.0  # 2026-11-30T12:00:00Z
    assert events == [
        PollEvent(("eu-west-1", "2"), base + 5 - 80, 80.0, False),
        PollEvent(("us-east-1", "1"), base + 10.0, 0.5, True),
    ]


def test_spread_of_a_burst_and_of_an_even_spread() -> None:
    burst = [100.0 + 30 * k + 0.004 * i for k in range(4) for i in range(200)]
    s = spread(burst, 100.0, 30.0, 4)
    assert (s.polls, s.busiest_second, s.share_in_busiest_tenth) == (800, 200, 1.0)
    even = [100.0 + 30 * k + 30 * i / 200 for k in range(4) for i in range(200)]
    s = spread(even, 100.0, 30.0, 4)
    assert s.polls == 800 and s.busiest_second == 7  # 200 / 30 s, rounded up
    assert s.share_in_busiest_tenth == pytest.approx(0.1)
    assert s.mean_per_second == pytest.approx(800 / 120)


def test_cadence_counts_late_gaps_and_skips_excluded_targets() -> None:
    a, b = ("us-east-1", "1"), ("us-east-1", "2")
    polls = [PollEvent(a, t, 0.1, True) for t in (0.0, 30.0, 60.0, 92.5)]
    polls += [PollEvent(b, t, 80.0, False) for t in (0.0, 80.0)]
    c = cadence(polls, 30.0, 10.0, 100.0, exclude=[b])
    assert (c.gaps, c.median, c.max_late, c.late_over_1s) == (3, 30.0, 2.5, 1)
    assert cadence(polls, 30.0, 10.0, 100.0).late_over_1s == 2  # b's 80 s gap counts too


def test_phase_offsets_are_stable_per_target_and_spread_over_the_interval() -> None:
    keys = [
        f"{r}/{100000000000 + i}"
        for i in range(50)
        for r in ("us-east-1", "eu-west-1", "us-west-2", "ap-northeast-1")
    ]
    offsets = [phase_offset(k, 30.0) for k in keys]
    assert offsets == [phase_offset(k, 30.0) for k in keys]
    assert all(0.0 <= o < 30.0 for o in offsets)
    tenths = [sum(1 for o in offsets if d * 3 <= o < (d + 1) * 3) for d in range(10)]
    assert max(tenths) <= 40, tenths  # 20 each if even; a burst would put 200 in one
    assert len({round(o, 6) for o in offsets}) == len(keys)
