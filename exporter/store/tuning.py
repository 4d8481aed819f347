"""The tuning-job store: pre-rendered chunks per tuning job, joined per family on a scrape.

A fleet has tens of tuning jobs, not thousands, so this is a plain dict (no segments, no
cached gzip): a scrape joins a few kilobytes.
"""

from __future__ import annotations

from collections.abc import Iterator

from exporter.metrics.text import escape_help, escape_label_value, format_value
from exporter.metrics.tuning_jobs import TUNING_FAMILIES
from exporter.model import TuningJob

_HEADERS = tuple(
    f"# HELP {f.name} {escape_help(f.help)}\n# TYPE {f.name} {f.type}\n".encode()
    for f in TUNING_FAMILIES
)


def render_tuning_job(job: TuningJob, region: str, account_id: str) -> tuple[bytes, ...]:
    """One chunk per entry of TUNING_FAMILIES (b"" where the job has no sample)."""
    ident = (
        f'tuning_job="{escape_label_value(job.name)}",region="{escape_label_value(region)}",'
        f'account_id="{escape_label_value(account_id)}"'
    )
    chunks = []
    for family in TUNING_FAMILIES:
        lines = []
        for labels, value in family.samples(job):
            extra = "".join(f',{k}="{escape_label_value(v)}"' for k, v in labels)
            lines.append(f"{family.name}{{{ident}{extra}}} {format_value(value)}\n")
        chunks.append("".join(lines).encode())
    return tuple(chunks)


class TuningStore:
    def __init__(self) -> None:
        self._jobs: dict[str, dict[str, tuple[TuningJob, tuple[bytes, ...]]]] = {}

    def upsert(self, target: str, job: TuningJob, region: str, account_id: str) -> None:
        chunks = render_tuning_job(job, region, account_id)
        self._jobs.setdefault(target, {})[job.name] = (job, chunks)

    def remove(self, target: str, name: str) -> bool:
        return self._jobs.get(target, {}).pop(name, None) is not None

    def get(self, target: str, name: str) -> TuningJob | None:
        entry = self._jobs.get(target, {}).get(name)
        return entry[0] if entry else None

    def jobs(self, target: str) -> Iterator[TuningJob]:
        return (j for j, _ in list(self._jobs.get(target, {}).values()))

    def count(self, target: str) -> int:
        return len(self._jobs.get(target, {}))

    def exposition(self) -> bytes:
        chunks = [c for jobs in self._jobs.values() for _, c in jobs.values()]
        parts: list[bytes] = []
        for i, header in enumerate(_HEADERS):
            parts.append(header)
            parts.extend(c[i] for c in chunks)
        return b"".join(parts)
