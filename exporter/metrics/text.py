"""Pure rendering: an object -> one pre-rendered text chunk per family of its table.

Chunks are built when a poll lands, not at scrape time; a scrape only concatenates them
(see exporter/store/). Output is Prometheus text format 0.0.4.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, TypeVar

from prometheus_client.exposition import generate_latest

from exporter.metrics.family import Family, Labels, RenderContext, Table

Obj = TypeVar("Obj")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def family_header(family: Family[Any]) -> bytes:
    return (
        f"# HELP {family.name} {escape_help(family.help)}\n# TYPE {family.name} {family.type}\n"
    ).encode()


def headers(table: Table[Any]) -> tuple[bytes, ...]:
    return tuple(family_header(f) for f in table.families)


def identity_labels(table: Table[Any], name: str, ctx: RenderContext, extra: Labels = ()) -> str:
    """The identity labels of an object's samples, in the table's order."""
    values = (name, ctx.region, ctx.account_id, *(v for _, v in extra))
    names = (*table.identity, *(k for k, _ in extra))
    return ",".join(f'{k}="{escape_label_value(v)}"' for k, v in zip(names, values, strict=True))


def render(table: Table[Obj], obj: Obj, ctx: RenderContext) -> tuple[bytes, ...]:
    """One chunk per family of the table (b"" where the object has no sample)."""
    ident = identity_labels(table, table.name_of(obj), ctx, table.extra_identity(obj))
    lean = ctx.lean(table.is_finished(obj))
    chunks = []
    for family in table.families:
        if lean and not family.finished:
            chunks.append(b"")
            continue
        lines = []
        for labels, value in family.samples(obj, ctx):
            extra = "".join(f',{k}="{escape_label_value(v)}"' for k, v in labels)
            lines.append(f"{family.name}{{{ident}{extra}}} {format_value(value)}\n")
        chunks.append("".join(lines).encode())
    return tuple(chunks)


class _WithoutCreated:
    """A registry's metrics without prometheus_client's `*_created` samples: a second series
    for every counter and histogram child (a third of the self-metrics' samples) that no
    rule or panel reads, and that prometheus_client can otherwise turn off only globally."""

    def __init__(self, registry: Any) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Any]:
        for metric in self._registry.collect():  # fresh Metric objects on every collect
            metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric


def registry_text(registry: Any) -> bytes:
    """A prometheus_client registry as text format 0.0.4, without `*_created` series."""
    return generate_latest(_WithoutCreated(registry))
