"""The /metrics body: an ordered list of sections, served alike by HTTP and by --once.

Each section hands over its part of the body as immutable bytes, plain or as gzip members
(gzip members concatenate into one valid stream, so every section compresses once per
change, not once per scrape). Taking every section's parts is one synchronous step: a
scrape written over several awaits still serves one snapshot.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Sequence
from typing import Protocol

#: prometheus_client text (the self-metrics) changes on every scrape: compressed per scrape,
#: at a level that costs little on its few kilobytes.
REGISTRY_GZIP_LEVEL = 3


class Section(Protocol):
    def plain_parts(self) -> list[bytes]: ...

    def gzip_parts(self) -> list[bytes]: ...


class Generated:
    """A section whose text is generated on every scrape (a prometheus_client registry)."""

    def __init__(self, text: Callable[[], bytes]) -> None:
        self._text = text

    def plain_parts(self) -> list[bytes]:
        return [self._text()]

    def gzip_parts(self) -> list[bytes]:
        return [gzip.compress(self._text(), compresslevel=REGISTRY_GZIP_LEVEL)]


class Body:
    def __init__(self, sections: Sequence[Section] = ()) -> None:
        self.sections = list(sections)

    def parts(self, gzip: bool) -> list[bytes]:
        """The body as parts to write in order, plain or gzip members (one snapshot)."""
        out: list[bytes] = []
        for section in self.sections:
            out.extend(section.gzip_parts() if gzip else section.plain_parts())
        return out

    def plain(self) -> bytes:
        return b"".join(self.parts(gzip=False))
