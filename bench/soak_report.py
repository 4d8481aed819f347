"""Pure part of the soak benchmark: samples -> trend verdicts, a markdown section, a plot.

How growth is judged (the same rule for every series): only samples after the warm-up count.
A least-squares line through them gives the slope; its rise over the measured window is the
growth. Noise is twice the standard deviation of the residuals around that line. A series is
flat when the growth is no larger than the noise, or than a floor below which nothing matters
(a share of the mean, or an absolute count for small integers such as descriptors and tasks).
A leak that outgrows the noise within the window fails; a saw-tooth (retention evicting,
garbage collection) with no trend passes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of the exporter process, `at` seconds after it started."""

    at: float
    rss_bytes: int
    open_fds: int
    threads: int
    asyncio_tasks: float
    tracked_jobs: float
    body_gzip_bytes: int
    cpu_seconds: float
    polls_ok: float
    polls_failed: float


@dataclass(frozen=True, slots=True)
class Series:
    """How to judge one field of Sample: the floor below which growth does not count."""

    field: str
    label: str
    unit: str  # "MiB" divides by MIB for display; anything else is shown as is
    rel_floor: float = 0.0  # share of the mean
    abs_floor: float = 0.0  # in the field's own unit (bytes for rss)


SERIES = (
    Series("rss_bytes", "RSS", "MiB", rel_floor=0.02),
    Series("open_fds", "open file descriptors", "", abs_floor=2),
    Series("threads", "threads", "", abs_floor=1),
    Series("asyncio_tasks", "asyncio tasks", "", abs_floor=2),
    Series("tracked_jobs", "store size (tracked jobs)", "", rel_floor=0.10),
    Series("body_gzip_bytes", "/metrics body (gzip)", "KiB", rel_floor=0.10),
)


@dataclass(frozen=True, slots=True)
class Trend:
    first: float
    last: float
    low: float
    high: float
    slope_per_hour: float
    growth: float  # slope x measured window
    noise: float  # 2 x residual standard deviation
    floor: float
    flat: bool


def trend(
    times: Sequence[float], values: Sequence[float], rel_floor: float = 0.0, abs_floor: float = 0.0
) -> Trend:
    """Least-squares trend of values over times (seconds); see the module docstring."""
    if len(times) != len(values) or len(values) < 3:
        raise ValueError("need at least three (time, value) pairs")
    mt, mv = statistics.fmean(times), statistics.fmean(values)
    var_t = sum((t - mt) ** 2 for t in times)
    slope = (
        0.0
        if var_t == 0
        else sum((t - mt) * (v - mv) for t, v in zip(times, values, strict=True)) / var_t
    )
    residuals = [v - (mv + slope * (t - mt)) for t, v in zip(times, values, strict=True)]
    noise = 2 * statistics.pstdev(residuals)
    growth = slope * (max(times) - min(times))
    floor = max(rel_floor * abs(mv), abs_floor)
    return Trend(
        values[0],
        values[-1],
        min(values),
        max(values),
        slope * 3600,
        growth,
        noise,
        floor,
        growth <= max(noise, floor),
    )


def judge(samples: Sequence[Sample], warmup: float) -> dict[str, Trend]:
    kept = [s for s in samples if s.at >= warmup]
    times = [s.at for s in kept]
    return {
        sr.field: trend(
            times, [float(getattr(s, sr.field)) for s in kept], sr.rel_floor, sr.abs_floor
        )
        for sr in SERIES
    }


def _fmt(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "MiB":
        return f"{value / MIB:.1f} MiB"
    if unit == "KiB":
        return f"{value / 1024:.1f} KiB"
    return f"{value:.1f}" if value != int(value) else f"{int(value)}"


def markdown(
    title: str, command: str, setup: str, samples: Sequence[Sample], warmup: float, image: str
) -> str:
    """The section docs/benchmarks.md carries for one soak run."""
    verdicts = judge(samples, warmup)
    minutes = samples[-1].at / 60
    last = samples[-1]
    cpu_share = last.cpu_seconds / last.at if last.at else 0.0
    lines = [
        f"### {title}",
        "",
        f"`{command}`",
        "",
        f"{setup} {len(samples)} samples over {minutes:.0f} minutes, the first "
        f"{warmup / 60:.0f} minutes counted as warm-up. Exporter CPU: {last.cpu_seconds:.0f} s "
        f"in all ({cpu_share:.1%} of a core); {int(last.polls_ok)} poll cycles succeeded, "
        f"{int(last.polls_failed)} failed.",
        "",
        "| series | after warm-up | at the end | min .. max | trend per hour | growth over the "
        "window | noise (2 sd) | flat |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for sr in SERIES:
        t = verdicts[sr.field]
        u = sr.unit
        lines.append(
            f"| {sr.label} | {_fmt(t.first, u)} | {_fmt(t.last, u)} | {_fmt(t.low, u)} .. "
            f"{_fmt(t.high, u)} | {_fmt(t.slope_per_hour, u)} | {_fmt(t.growth, u)} | "
            f"{_fmt(t.noise, u)} | {'yes' if t.flat else '**no**'} |"
        )
    lines += ["", f"![{title}]({image})", ""]
    return "\n".join(lines)


def replace_section(doc: str, marker: str, body: str) -> str:
    """Put body between <!-- marker:begin --> and <!-- marker:end -->, appending the pair
    at the end of doc the first time."""
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in doc and end in doc:
        head, _, rest = doc.partition(begin)
        _, _, tail = rest.partition(end)
        return head + block + tail
    return doc.rstrip("\n") + "\n\n" + block + "\n"


def plot(samples: Sequence[Sample], warmup: float, title: str, path: Path) -> None:
    """A PNG with one panel per series; needs matplotlib (pip install '.[bench]')."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s.at / 60 for s in samples]
    fig, axes = plt.subplots(3, 2, figsize=(10, 8), sharex=True)
    for ax, sr in zip(axes.flat, SERIES, strict=True):
        scale = MIB if sr.unit == "MiB" else 1024 if sr.unit == "KiB" else 1
        ax.plot(minutes, [getattr(s, sr.field) / scale for s in samples], marker=".")
        ax.axvspan(0, warmup / 60, color="0.9", label="warm-up")
        ax.set_title(sr.label + (f" ({sr.unit})" if sr.unit else ""), fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("minutes since start")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def sample_fields() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Sample))
