"""The job store: pre-rendered chunks per job, served as cached gzip per segment.

All mutation happens on the event loop, and a scrape builds its body synchronously, so
every scrape sees one consistent snapshot.

Why segments: the text format wants each family's samples together, so a naive cache is
one body that any change invalidates, and at 10,000 jobs rebuilding and compressing it
costs ~250 ms on the first scrape after every poll. Instead, jobs live in segments of at
most SEGMENT_SIZE jobs, each keeping one gzip member per family; a scrape concatenates,
for each family, its header and every segment's member (gzip members concatenate into one
valid stream). Running jobs, re-rendered every poll, share the "hot" segments; finished
jobs fill "cold" segments in arrival order, so a poll recompresses only the hot segments
and the few cold ones that gained or lost a job. A full cold segment keeps only its gzip
members (see _Entry.chunks). No plain-text body is cached: Prometheus always asks for
gzip, and a plain scrape is joined on demand.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field

from .families import FAMILIES, RenderContext
from .model import TrainingJob
from .render import family_header, render_job

SEGMENT_SIZE = 128  # measured at 10,000 jobs: 512 -> 8 ms to recompress one, 128 -> 4.6 ms
GZIP_LEVEL = 1  # level 1 compresses ~3x faster than 6 and only ~15% larger here
_HEADERS = tuple(family_header(f) for f in FAMILIES)
_GZ_HEADERS = tuple(gzip.compress(h, GZIP_LEVEL) for h in _HEADERS)

Key = tuple[str, str]  # (target, job name)


@dataclass(slots=True)
class _Entry:
    job: TrainingJob
    ctx: RenderContext
    # None once a finished job lives only in its segment's gzip members: most of a fleet is
    # finished jobs, and their text is 60% of the memory a job costs. A finished job renders
    # the same whenever it is rendered (nothing in it counts up to "now"), so when its
    # segment must be compressed again it is simply rendered again.
    chunks: tuple[bytes, ...] | None

    def text(self) -> tuple[bytes, ...]:
        return self.chunks if self.chunks is not None else render_job(self.job, self.ctx)


def _compress(entries: list[_Entry]) -> tuple[bytes, ...]:
    """Pure on immutable data (jobs, contexts, bytes): safe in a worker thread."""
    chunks = [e.text() for e in entries]
    members = []
    for i in range(len(FAMILIES)):
        text = b"".join(c[i] for c in chunks)
        members.append(gzip.compress(text, GZIP_LEVEL) if text else b"")
    return tuple(members)


@dataclass(eq=False, slots=True)
class _Segment:
    hot: bool
    entries: dict[Key, _Entry] = field(default_factory=dict)
    members: tuple[bytes, ...] = ()
    version: int = 0  # bumped on every change
    done: int = -1  # the version `members` was compressed from

    @property
    def dirty(self) -> bool:
        return self.done != self.version

    def touch(self) -> None:
        self.version += 1

    def snapshot(self) -> list[_Entry]:
        return list(self.entries.values())

    def done_at(self, version: int, members: tuple[bytes, ...]) -> None:
        self.members, self.done = members, version
        if not self.hot:
            for e in self.entries.values():
                e.chunks = None

    def compressed(self) -> tuple[bytes, ...]:
        if self.dirty:
            self.done_at(self.version, _compress(self.snapshot()))
        return self.members


class JobStore:
    def __init__(self) -> None:
        self._targets: dict[str, dict[str, _Entry]] = {}
        self._where: dict[Key, _Segment] = {}
        self._segments: list[_Segment] = []
        self._version = 0
        self._gzip_version = -1
        self._gzip = b""

    # -- mutation (event loop only) ------------------------------------------------
    def upsert(self, target: str, job: TrainingJob, ctx: RenderContext) -> None:
        key = (target, job.name)
        entry = _Entry(job, ctx, render_job(job, ctx))
        self._targets.setdefault(target, {})[job.name] = entry
        seg = self._where.get(key)
        if seg is None or seg.hot != job.is_active:
            if seg is not None:
                self._drop(seg, key)
            seg = self._open_segment(job.is_active)
            self._where[key] = seg
        seg.entries[key] = entry
        seg.touch()
        self._version += 1
        if not seg.hot and len(seg.entries) == SEGMENT_SIZE:
            # A full segment of finished jobs rarely changes again: compress it now and let
            # its jobs' text go, so memory never holds the text of more than one such segment
            # (a backfill of thousands of finished jobs would otherwise peak at all of them).
            seg.compressed()

    def remove(self, target: str, name: str) -> bool:
        jobs = self._targets.get(target)
        if jobs is None or jobs.pop(name, None) is None:
            return False
        key = (target, name)
        self._drop(self._where.pop(key), key)
        self._version += 1
        return True

    def _open_segment(self, hot: bool) -> _Segment:
        # The newest segment of the kind with room; finished jobs thus group by when they
        # finished, and retention empties the oldest segments first.
        for seg in reversed(self._segments):
            if seg.hot == hot:
                if len(seg.entries) < SEGMENT_SIZE:
                    return seg
                break
        seg = _Segment(hot)
        self._segments.append(seg)
        return seg

    def _drop(self, seg: _Segment, key: Key) -> None:
        del seg.entries[key]
        seg.touch()
        if not seg.entries:
            self._segments.remove(seg)

    # -- reads ---------------------------------------------------------------------
    def get(self, target: str, name: str) -> TrainingJob | None:
        entry = self._targets.get(target, {}).get(name)
        return entry.job if entry else None

    def jobs(self, target: str) -> Iterator[TrainingJob]:
        return (e.job for e in list(self._targets.get(target, {}).values()))

    def count(self, target: str) -> int:
        return len(self._targets.get(target, {}))

    def __len__(self) -> int:
        return len(self._where)

    def exposition(self) -> bytes:
        """The plain-text body, joined on demand (not cached: see the module docstring)."""
        texts = [e.text() for seg in self._segments for e in seg.entries.values()]
        parts: list[bytes] = []
        for i, header in enumerate(_HEADERS):
            parts.append(header)
            parts.extend(t[i] for t in texts)
        return b"".join(parts)

    async def precompress(self) -> None:
        """Compress changed segments in a worker thread (zlib releases the GIL), so the
        scrape after a poll finds them ready instead of compressing on the event loop.
        A segment changed meanwhile stays dirty and is compressed by whoever needs it."""
        for seg in [s for s in self._segments if s.dirty]:
            version, entries = seg.version, seg.snapshot()
            members = await asyncio.to_thread(_compress, entries)
            if seg.version == version and seg.dirty:
                seg.done_at(version, members)

    def exposition_gzip(self) -> bytes:
        if self._gzip_version != self._version:
            members = [seg.compressed() for seg in self._segments]
            parts: list[bytes] = []
            for i, header in enumerate(_GZ_HEADERS):
                parts.append(header)
                parts.extend(m[i] for m in members)
            self._gzip = b"".join(parts)
            self._gzip_version = self._version
        return self._gzip
