"""The segmented store: the cached gzip body always equals the plain body, whatever
sequence of upserts, state changes and removals led to it."""

from __future__ import annotations

import gzip
import random

from exporter import store as store_module
from exporter.families import RenderContext
from exporter.model import TrainingJob
from exporter.store import JobStore

from .conftest import parse_exposition

CTX = RenderContext("us-east-1", "123456789012", 1_800_000_000.0)


def job(name: str, status: str) -> TrainingJob:
    return TrainingJob(name=name, status=status, secondary_status="Training", created=1.0)


def check(s: JobStore) -> dict[str, str]:
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
    s, expected = JobStore(), {}
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
    s = JobStore()
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
    s = JobStore()
    for i in range(300):
        s.upsert("t", job(f"r-{i}", "InProgress"), CTX)
    await s.precompress()
    assert not any(seg.dirty for seg in s._segments)
    assert check(s)["r-7"] == "InProgress"
