"""The job store: pre-rendered chunks per job, concatenated per family at scrape time.

All mutation happens on the event loop, and a scrape builds its body synchronously, so
every scrape sees one consistent snapshot. The full body (and its gzip) is cached until
the next change, so scrapes between polls cost a dictionary lookup.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass

from .families import FAMILIES, RenderContext
from .model import TrainingJob
from .render import family_header, render_job

_HEADERS = tuple(family_header(f) for f in FAMILIES)


@dataclass(slots=True)
class _Entry:
    job: TrainingJob
    chunks: tuple[bytes, ...]


class JobStore:
    def __init__(self) -> None:
        self._targets: dict[str, dict[str, _Entry]] = {}
        self._version = 0
        self._body_version = -1
        self._body = b""
        self._gzip_version = -1
        self._gzip = b""

    # -- mutation (event loop only) -------------------------------------------------
    def upsert(self, target: str, job: TrainingJob, ctx: RenderContext) -> None:
        self._targets.setdefault(target, {})[job.name] = _Entry(job, render_job(job, ctx))
        self._version += 1

    def remove(self, target: str, name: str) -> bool:
        jobs = self._targets.get(target)
        if jobs is None or jobs.pop(name, None) is None:
            return False
        self._version += 1
        return True

    # -- reads -------------------------------------------------------------------------
    def get(self, target: str, name: str) -> TrainingJob | None:
        entry = self._targets.get(target, {}).get(name)
        return entry.job if entry else None

    def jobs(self, target: str) -> Iterator[TrainingJob]:
        return (e.job for e in list(self._targets.get(target, {}).values()))

    def count(self, target: str) -> int:
        return len(self._targets.get(target, {}))

    def __len__(self) -> int:
        return sum(len(t) for t in self._targets.values())

    def exposition(self) -> bytes:
        if self._body_version != self._version:
            parts: list[bytes] = []
            entries = [e for jobs in self._targets.values() for e in jobs.values()]
            for i, header in enumerate(_HEADERS):
                parts.append(header)
                parts.extend(e.chunks[i] for e in entries)
            self._body = b"".join(parts)
            self._body_version = self._version
        return self._body

    def exposition_gzip(self) -> bytes:
        if self._gzip_version != self._version:
            self._gzip = gzip.compress(self.exposition(), compresslevel=3)
            self._gzip_version = self._version
        return self._gzip
