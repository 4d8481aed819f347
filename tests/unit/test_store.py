"""The segmented store: the cached gzip body always equals the plain body, whatever
sequence of upserts, state changes and removals led to it."""

from __future__ import annotations

import gzip
import random

import pytest

from exporter.metrics.family import RenderContext
from exporter.metrics.text import family_header
from exporter.metrics.training_jobs import FAMILIES, TRAINING_JOBS, render_job
from exporter.model import TrainingJob
from exporter.store import objects as store_module
from exporter.store.objects import ObjectStore, training_store
from tests.support.exposition import parse_exposition
from tests.support.jobs import CTXS, rich

CTX = RenderContext("us-east-1", "123456789012", 1_800_000_000.0)


def job(name: str, status: str) -> TrainingJob:
    return TrainingJob(name=name, status=status, secondary_status="Training", created=1.0)


def check(s: ObjectStore[TrainingJob]) -> dict[str, str]:
    plain = s.exposition()
    assert gzip.decompress(s.exposition_gzip()) == plain
    m = parse_exposition(plain.decode())
    return {
        dict(lbl)["training_job"]: dict(lbl)["status"]
        for (name, lbl), v in m.items()
        if name == "sagemaker_training_job_status" and v == 1
    }


def test_segments_follow_every_change(monkeypatch: object) -> None:
    monkeypatch.setattr(store_module, "SEGMENT_SIZE", 7)  # type: ignore[attr-defined]
    rng = random.Random(5)
    s, expected = training_store(), {}
    for step in range(400):
        name = f"j{rng.randrange(60)}"
        target = rng.choice(["a", "b"])
        op = rng.random()
        if op < 0.15:
            if s.remove(target, name):
                del expected[(target, name)]
        else:
            status = rng.choice(["InProgress", "Completed", "Failed", "Stopping"])
            s.upsert(target, job(name, status), CTX)
            expected[(target, name)] = status
        if step % 37 == 0:
            check(s)
    got = check(s)
    # Both targets use the same names; the exposition tells them apart only by target in
    # the real exporter (region/account labels), so compare per name here via the store.
    assert len(s) == len(expected)
    for (target, name), status in expected.items():
        stored = s.get(target, name)
        assert stored is not None and stored.status == status
    assert set(got) == {name for (_, name) in expected}


def test_finished_jobs_leave_running_segments_clean() -> None:
    s = training_store()
    for i in range(1200):  # not a multiple of SEGMENT_SIZE: the last cold segment has room
        s.upsert("t", job(f"done-{i}", "Completed"), CTX)
    s.upsert("t", job("run", "InProgress"), CTX)
    s.exposition_gzip()
    cold = [seg for seg in s._segments if not seg.hot]
    assert len(cold) == 1200 // store_module.SEGMENT_SIZE + 1 and all(not seg.dirty for seg in cold)
    # A poll re-renders the running job: only its (hot) segment needs compressing again.
    s.upsert("t", job("run", "InProgress"), CTX)
    assert [seg.hot for seg in s._segments if seg.dirty] == [True]
    assert check(s)["run"] == "InProgress"
    s.upsert("t", job("run", "Completed"), CTX)
    assert not any(seg.hot for seg in s._segments)
    assert check(s)["run"] == "Completed"


async def test_precompress_leaves_nothing_for_the_scrape() -> None:
    s = training_store()
    for i in range(300):
        s.upsert("t", job(f"r-{i}", "InProgress"), CTX)
    await s.precompress()
    assert not any(seg.dirty for seg in s._segments)
    assert check(s)["r-7"] == "InProgress"


# -- compact records, splicing, plain bodies ---------------------------------------------
# Names that stress the splice: escapes, a name that is a prefix of another, and one that
# spells a label set (its quotes are escaped, so it can never look like a line's start).
NAMES = [
    "ru",
    "run",
    "run2",
    'a"b',
    "a\\b",
    "a\nb",
    "é🚀",
    'x{training_job="run"}',
    *(f"job-{i}" for i in range(40)),
]


def rendered_alone(live: dict[tuple[str, str], tuple[TrainingJob, RenderContext]]) -> bytes:
    """The body as if every live job were rendered afresh, with no store in between."""
    chunks = [render_job(job, ctx) for job, ctx in live.values()]
    return b"".join(
        family_header(f) + b"".join(c[i] for c in chunks) for i, f in enumerate(FAMILIES)
    )


def same_samples(
    s: ObjectStore[TrainingJob], live: dict[tuple[str, str], tuple[TrainingJob, RenderContext]]
) -> None:
    plain = s.exposition()
    assert gzip.decompress(s.exposition_gzip()) == plain
    assert parse_exposition(plain.decode()) == parse_exposition(rendered_alone(live).decode())
    assert len(s) == len(live)
    for (target, name), (job, _) in live.items():
        assert s.get(target, name) == job
    for target in CTXS:
        mine = {name: job for (t, name), (job, _) in live.items() if t == target}
        assert {j.name: j for j in s.jobs(target)} == mine
        assert {j.name for j in s.running(target)} == {n for n, j in mine.items() if j.is_active}
        assert {(j.name, j.status, j.finished_at, j.is_active) for j in s.stored(target)} == {
            (n, j.status, j.finished_at, j.is_active) for n, j in mine.items()
        }


@pytest.mark.parametrize(("cold", "hot", "seed"), [(7, 3, 1), (40, 16, 2), (128, 32, 3)])
async def test_bodies_match_a_fresh_render_after_any_changes(
    monkeypatch: pytest.MonkeyPatch, cold: int, hot: int, seed: int
) -> None:
    monkeypatch.setattr(store_module, "SEGMENT_SIZE", cold)
    monkeypatch.setattr(store_module, "HOT_SEGMENT_SIZE", hot)
    rng = random.Random(seed)
    s = training_store()
    live: dict[tuple[str, str], tuple[TrainingJob, RenderContext]] = {}
    for step in range(1500):
        op, target, name = rng.random(), rng.choice("ab"), rng.choice(NAMES)
        ctx = CTXS[target]
        if op < 0.15:
            assert s.remove(target, name) == ((target, name) in live)
            live.pop((target, name), None)
        elif op < 0.2 and live:  # a poll re-renders a running job at a later "now"
            (target, name), (job, ctx) = rng.choice(list(live.items()))
            ctx = RenderContext(ctx.region, ctx.account_id, ctx.now + 30, ctx.tag_labels)
            s.upsert(target, job, ctx)
            live[(target, name)] = (job, ctx)
        else:
            status = rng.choice(["InProgress", "Stopping", "Completed", "Failed", "Stopped"])
            job = rich(name, status, rng)
            s.upsert(target, job, ctx)
            live[(target, name)] = (job, ctx)
        kind = rng.random()
        if kind < 0.02:
            await s.precompress()
        elif kind < 0.04:
            s.exposition()  # plain caches, then spliced or inflated after later changes
        elif kind < 0.06:
            s.exposition_gzip()
        if step % 100 == 99:
            same_samples(s, live)
    same_samples(s, live)
    await s.precompress()
    same_samples(s, live)


def test_evicting_finished_jobs_renders_nothing_again(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(9)
    s = training_store()
    live = {}
    for i in range(3 * store_module.SEGMENT_SIZE + 5):
        job = rich(f"done-{i}", "Completed", rng)
        s.upsert("a", job, CTXS["a"])
        live[("a", job.name)] = (job, CTXS["a"])
    s.exposition_gzip()
    renders = []
    real = store_module.render

    def counted(table: object, j: TrainingJob, c: RenderContext) -> tuple[bytes, ...]:
        assert table is TRAINING_JOBS
        renders.append(j)
        return real(TRAINING_JOBS, j, c)

    monkeypatch.setattr(store_module, "render", counted)
    # retention drops the oldest jobs one poll at a time: each poll cuts their lines out of
    # the oldest segment's text instead of rendering the rest of it again
    for i in range(0, 20, 4):
        for k in range(i, i + 4):
            assert s.remove("a", f"done-{k}")
            del live[("a", f"done-{k}")]
        s.exposition_gzip()
    assert renders == []
    same_samples(s, live)


def test_a_job_moves_between_hot_and_cold_segments() -> None:
    rng = random.Random(4)
    s = training_store()
    live = {}
    for i in range(100):
        job = rich(f"j{i}", "InProgress" if i % 3 else "Completed", rng)
        s.upsert("a", job, CTXS["a"])
        live[("a", job.name)] = (job, CTXS["a"])
    s.exposition_gzip()
    for name, status in [
        ("j1", "Completed"),
        ("j0", "Stopping"),
        ("j1", "InProgress"),
        ("j2", "Failed"),
        ("j3", "Stopped"),
    ]:
        job = rich(name, status, rng)
        s.upsert("a", job, CTXS["a"])
        live[("a", name)] = (job, CTXS["a"])
        same_samples(s, live)
        seg = next(seg for seg in s._segments for e in seg.entries if e.name == name)
        assert seg.hot == job.is_active


async def test_plain_bodies_are_kept_only_while_plain_scrapes_come() -> None:
    now = [0.0]
    s = training_store(clock=lambda: now[0])
    rng = random.Random(2)
    live = {}
    for i in range(300):
        job = rich(f"j{i}", "InProgress" if i % 4 == 0 else "Completed", rng)
        s.upsert("a", job, CTXS["a"])
        live[("a", job.name)] = (job, CTXS["a"])
    await s.precompress()
    assert all(seg.plain is None for seg in s._segments)  # nobody asked for plain text
    s.exposition()
    assert all(seg.plain is not None for seg in s._segments)
    job = rich("j0", "InProgress", rng)
    s.upsert("a", job, CTXS["a"])
    live[("a", "j0")] = (job, CTXS["a"])
    now[0] = store_module.PLAIN_KEEP_SECONDS - 1
    await s.precompress()  # a plain scraper is still around: its next body is ready
    assert all(seg.plain is not None and seg.plain_done == seg.version for seg in s._segments)
    same_samples(s, live)
    now[0] = 2 * store_module.PLAIN_KEEP_SECONDS + 1
    await s.precompress()
    assert all(seg.plain is None for seg in s._segments)
    same_samples(s, live)
