"""The object store: training and tuning jobs kept compact, served as cached gzip per segment.

One type for every kind of object (`ObjectStore(table, codec)`): the table says how an
object renders (exporter/metrics/), the codec how a finished one is kept (packed bytes for
training jobs, the object itself for the few tuning jobs).

All mutation happens on the event loop, and a scrape builds its body synchronously from
immutable bytes, so every scrape sees one consistent snapshot.

Why segments: the text format wants each family's samples together, so a naive cache is
one body that any change invalidates, and at 10,000 jobs rebuilding and compressing it
costs ~250 ms on the first scrape after every poll. Instead, jobs live in segments, each
keeping one gzip member per family; a scrape concatenates, for each family, its header and
every segment's member (gzip members concatenate into one valid stream). Running jobs,
re-rendered every poll, share the small "hot" segments; finished jobs fill "cold" segments
in arrival order, so a poll recompresses only the hot segments and the few cold ones that
gained or lost a job.

Memory (see docs/benchmarks.md): once its segment is compressed, a job's text is dropped
and only its record is kept: a running job as a TrainingJob whose repeated strings are
shared, a finished job packed into bytes (exporter/store/packing.py). Rendering is pure, so a
segment that must be compressed again renders its jobs again from their records and the
context they were rendered with. The plain-text body is inflated from the gzip members,
per segment, and kept only while plain scrapes keep coming (PLAIN_KEEP_SECONDS): it is ten
times the size of the gzip, and Prometheus always asks for gzip.
"""

from __future__ import annotations

import asyncio
import gzip
import math
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from exporter.metrics.family import RenderContext, Table
from exporter.metrics.text import headers, identity_labels, render
from exporter.metrics.training_jobs import TRAINING_JOBS
from exporter.metrics.tuning_jobs import TUNING_JOBS
from exporter.model import TrainingJob, TuningJob
from exporter.store.packing import compact, pack, unpack

SEGMENT_SIZE = 128  # measured at 10,000 jobs: 512 -> 8 ms to recompress one, 128 -> 4.6 ms
# Hot segments are smaller: a change to one running job between polls (a describe landing)
# renders its whole segment again, as hot jobs keep no text once compressed.
HOT_SEGMENT_SIZE = 32
GZIP_LEVEL = 1  # level 1 compresses ~3x faster than 6 and only ~15% larger here
PLAIN_KEEP_SECONDS = 300.0  # plain bodies are dropped this long after the last plain scrape


class Stored(Protocol):
    """What every stored object has."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def finished_at(self) -> float | None: ...

    @property
    def is_active(self) -> bool: ...


Obj = TypeVar("Obj", bound=Stored)


@dataclass(frozen=True, slots=True)
class Codec(Generic[Obj]):
    """How the store keeps an object: a running one compacted (its repeated strings
    shared), a finished one packed (bytes, unpacked when read) or kept as is."""

    compact: Callable[[Obj], Obj]
    pack: Callable[[Obj], Obj | bytes]
    unpack: Callable[[bytes], Obj]


def _same(obj: Any) -> Any:
    return obj


def _never(data: bytes) -> Any:
    raise TypeError("this codec packs nothing")


#: Training jobs: most of a fleet is finished jobs, packed to a third of their size.
PACKED: Codec[TrainingJob] = Codec(compact, pack, unpack)
#: Tuning jobs: tens, not thousands; kept as they are.
AS_IS: Codec[TuningJob] = Codec(_same, _same, _never)

Text = tuple[bytes, ...]  # one chunk per family of the table
# (name, text, record, context): immutable, so safe to hand to a worker thread
_Source = tuple[str, Text | None, Any, RenderContext]


@dataclass(frozen=True, slots=True)
class _Kind:
    """What _build needs to know of the store's table and codec: plain data and pure
    functions, safe in a worker thread."""

    table: Table[Any]
    codec: Codec[Any]
    family_names: tuple[bytes, ...]

    def job(self, record: Any) -> Any:
        return self.codec.unpack(record) if isinstance(record, bytes) else record

    def ident(self, name: str, ctx: RenderContext) -> bytes:
        return identity_labels(self.table, name, ctx).encode()


@dataclass(eq=False, slots=True)
class _Entry:
    name: str
    status: str  # interned: one string per status value for the whole store
    finished_at: float | None
    is_active: bool
    ctx: RenderContext
    record: Any  # a running object as is, a finished one as its codec packs it
    text: Text | None  # None once its segment is compressed
    seg: _Segment | None = None

    def source(self) -> _Source:
        return (self.name, self.text, self.record, self.ctx)


def _build(
    kind: _Kind, sources: list[_Source], old: tuple[bytes, ...], cuts: list[bytes]
) -> tuple[Text, tuple[bytes, ...]]:
    """A segment's text and gzip members per family. Pure on immutable data (names, texts,
    records, contexts, bytes): safe in a worker thread.

    Objects without text are in `old` (the members last compressed). When only a few
    changed, their stale lines (and those of objects removed, `cuts`) are cut out of the
    inflated old text and the new lines appended: inflating is C, while rendering the
    unchanged objects again is Python, ~70 us a job."""
    fresh = [(name, ctx, text) for name, text, _, ctx in sources if text is not None]
    changed = len(fresh) + len(cuts)
    n = len(kind.family_names)
    if old and len(fresh) < len(sources) and changed <= max(8, len(sources) // 4):
        idents = [kind.ident(name, ctx) for name, ctx, _ in fresh] + cuts
        plain = _inflate(old)
        texts = tuple(
            _cut(plain[i], kind.family_names[i], idents) + b"".join(t[i] for _, _, t in fresh)
            for i in range(n)
        )
    else:
        chunks = [
            t if t is not None else render(kind.table, kind.job(r), ctx) for _, t, r, ctx in sources
        ]
        texts = tuple(b"".join(c[i] for c in chunks) for i in range(n))
    return texts, tuple(gzip.compress(t, GZIP_LEVEL) if t else b"" for t in texts)


def _cut(text: bytes, family: bytes, idents: list[bytes]) -> bytes:
    """`text` without the lines of the given jobs. A job's lines in a family are adjacent
    and each starts with `family{<identity labels>`; that prefix cannot occur inside a
    line, where every `"` of a label value is escaped."""
    spans = []
    for ident in idents:
        prefix = family + b"{" + ident
        start = text.find(prefix)
        if start < 0:
            continue
        end = start
        while text.startswith(prefix, end):
            end = text.index(b"\n", end) + 1
        spans.append((start, end))
    if not spans:
        return text
    spans.sort()
    kept, pos = [], 0
    for start, end in spans:
        kept.append(text[pos:start])
        pos = end
    kept.append(text[pos:])
    return b"".join(kept)


def _inflate(members: tuple[bytes, ...]) -> tuple[bytes, ...]:
    # zlib releases the GIL on large buffers: this may run in a worker thread too.
    return tuple(zlib.decompress(m, wbits=31) if m else b"" for m in members)


@dataclass(eq=False, slots=True)
class _Segment:
    kind: _Kind
    hot: bool
    entries: list[_Entry] = field(default_factory=list)
    members: tuple[bytes, ...] = ()
    version: int = 0  # bumped on every change
    done: int = -1  # the version `members` was compressed from
    cuts: list[bytes] = field(default_factory=list)  # jobs removed since: lines to cut
    plain: tuple[bytes, ...] | None = None  # `members` inflated, while plain scrapes come
    plain_done: int = -1

    @property
    def dirty(self) -> bool:
        return self.done != self.version

    @property
    def full(self) -> bool:
        return len(self.entries) >= (HOT_SEGMENT_SIZE if self.hot else SEGMENT_SIZE)

    def touch(self) -> None:
        self.version += 1

    def snapshot(self) -> tuple[_Kind, list[_Source], tuple[bytes, ...], list[bytes]]:
        return self.kind, [e.source() for e in self.entries], self.members, list(self.cuts)

    def done_at(self, version: int, texts: Text, members: tuple[bytes, ...], plain: bool) -> None:
        self.members, self.done = members, version
        self.cuts.clear()
        for e in self.entries:
            e.text = None
        if plain:
            self.plain, self.plain_done = texts, version

    def compressed(self, plain: bool = False) -> tuple[bytes, ...]:
        if self.dirty:
            texts, members = _build(*self.snapshot())
            self.done_at(self.version, texts, members, plain)
        return self.members

    def plain_text(self) -> tuple[bytes, ...]:
        members = self.compressed(plain=True)  # if dirty, also leaves the text in `plain`
        plain = self.plain
        if plain is None or self.plain_done != self.version:
            plain = self.plain = _inflate(members)
            self.plain_done = self.version
        return plain


class ObjectStore(Generic[Obj]):
    """The objects of one table, per target; mutated on the event loop only."""

    def __init__(
        self, table: Table[Obj], codec: Codec[Obj], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.table = table
        self._kind = _Kind(table, codec, tuple(f.name.encode() for f in table.families))
        self._codec = codec
        self._headers = headers(table)
        self._gz_headers = tuple(gzip.compress(h, GZIP_LEVEL) for h in self._headers)
        self._targets: dict[str, dict[str, _Entry]] = {}
        self._segments: list[_Segment] = []
        self._count = 0
        self._clock = clock
        self._plain_at = -math.inf  # when the last plain body was asked for

    # -- mutation (event loop only) ------------------------------------------------
    def upsert(self, target: str, job: Obj, ctx: RenderContext) -> None:
        jobs = self._targets.setdefault(target, {})
        entry = jobs.get(job.name)
        hot = job.is_active
        record: Any
        if not hot:
            record = self._codec.pack(job)
        elif entry is not None and entry.record is job:
            record = job  # re-rendered for a new "now": already compact
        else:
            record = self._codec.compact(job)
        text = render(self.table, job, ctx)
        status = sys.intern(job.status)
        if entry is None:
            entry = _Entry(job.name, status, job.finished_at, hot, ctx, record, text)
            jobs[job.name] = entry
            self._count += 1
        else:
            entry.status, entry.finished_at, entry.ctx = status, job.finished_at, ctx
            entry.is_active, entry.record, entry.text = hot, record, text
            if entry.seg is not None and entry.seg.hot != hot:
                self._drop(entry)
        seg = entry.seg
        if seg is None:
            seg = entry.seg = self._open_segment(hot)
            seg.entries.append(entry)
        seg.touch()
        if not seg.hot and seg.full:
            # A full segment of finished jobs rarely changes again: compress it now and let
            # its jobs' text go, so memory never holds the text of more than one such segment
            # (a backfill of thousands of finished jobs would otherwise peak at all of them).
            seg.compressed()

    def remove(self, target: str, name: str) -> bool:
        jobs = self._targets.get(target)
        entry = jobs.pop(name, None) if jobs is not None else None
        if entry is None:
            return False
        self._drop(entry)
        self._count -= 1
        return True

    def _open_segment(self, hot: bool) -> _Segment:
        # The newest segment of the kind with room; finished jobs thus group by when they
        # finished, and retention empties the oldest segments first.
        for seg in reversed(self._segments):
            if seg.hot == hot:
                if not seg.full:
                    return seg
                break
        seg = _Segment(self._kind, hot)
        self._segments.append(seg)
        return seg

    def _drop(self, entry: _Entry) -> None:
        seg, entry.seg = entry.seg, None
        if seg is None:
            return
        seg.entries.remove(entry)  # identity: _Entry compares by identity
        if seg.done >= 0:
            seg.cuts.append(self._kind.ident(entry.name, entry.ctx))
        seg.touch()
        if not seg.entries:
            self._segments.remove(seg)

    # -- reads ---------------------------------------------------------------------
    def get(self, target: str, name: str) -> Obj | None:
        entry = self._targets.get(target, {}).get(name)
        return self._kind.job(entry.record) if entry else None

    def jobs(self, target: str) -> Iterator[Obj]:
        """Every object of the target as a full record: finished training jobs are unpacked
        (~20 us each). For per-cycle scans use running() and stored()."""
        return (self._kind.job(e.record) for e in list(self._targets.get(target, {}).values()))

    def running(self, target: str) -> list[Obj]:
        """The target's running objects as full records; no unpacking."""
        return [e.record for e in self._targets.get(target, {}).values() if e.is_active]

    def stored(self, target: str) -> list[Stored]:
        """Name, status and finish time of every object of the target, without unpacking."""
        return list(self._targets.get(target, {}).values())

    def count(self, target: str) -> int:
        return len(self._targets.get(target, {}))

    def __len__(self) -> int:
        return self._count

    def plain_parts(self) -> list[bytes]:
        """The plain-text body as parts to join or write in order (one snapshot)."""
        self._plain_at = self._clock()
        return interleave(self._headers, [seg.plain_text() for seg in self._segments])

    def gzip_parts(self) -> list[bytes]:
        """The gzip body as gzip members to join or write in order (one snapshot)."""
        return interleave(self._gz_headers, [seg.compressed() for seg in self._segments])

    def exposition(self) -> bytes:
        return b"".join(self.plain_parts())

    def exposition_gzip(self) -> bytes:
        return b"".join(self.gzip_parts())

    async def precompress(self) -> None:
        """Compress changed segments in a worker thread (zlib releases the GIL), so the
        scrape after a poll finds them ready instead of compressing on the event loop.
        A segment changed meanwhile stays dirty and is compressed by whoever needs it.
        Plain bodies are inflated here too while plain scrapes come, dropped otherwise."""
        keep_plain = self._clock() - self._plain_at <= PLAIN_KEEP_SECONDS
        for seg in [s for s in self._segments if s.dirty]:
            version, snapshot = seg.version, seg.snapshot()
            texts, members = await asyncio.to_thread(_build, *snapshot)
            if seg.version == version and seg.dirty:
                seg.done_at(version, texts, members, keep_plain)
        if not keep_plain:
            for seg in self._segments:
                seg.plain = None


def interleave(headers: tuple[bytes, ...], bodies: list[tuple[bytes, ...]]) -> list[bytes]:
    """Each family's header, then that family's chunk of every body: the text format
    wants a family's samples together."""
    parts: list[bytes] = []
    for i, header in enumerate(headers):
        parts.append(header)
        parts.extend(b[i] for b in bodies)
    return parts


def training_store(
    clock: Callable[[], float] = time.monotonic, table: Table[TrainingJob] = TRAINING_JOBS
) -> ObjectStore[TrainingJob]:
    return ObjectStore(table, PACKED, clock)


def tuning_store(
    clock: Callable[[], float] = time.monotonic, table: Table[TuningJob] = TUNING_JOBS
) -> ObjectStore[TuningJob]:
    return ObjectStore(table, AS_IS, clock)
