"""Pure rendering: a job -> one pre-rendered text chunk per family.

Chunks are built when a poll lands, not at scrape time; a scrape only concatenates them
(see store.py). Output is Prometheus text format 0.0.4.
"""

from __future__ import annotations

import math

from exporter.metrics.training_jobs import FAMILIES, Family, RenderContext
from exporter.model import TrainingJob

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


def family_header(family: Family) -> bytes:
    return (
        f"# HELP {family.name} {escape_help(family.help)}\n# TYPE {family.name} {family.type}\n"
    ).encode()


def identity_labels(job_name: str, ctx: RenderContext) -> str:
    return (
        f'training_job="{escape_label_value(job_name)}",'
        f'region="{escape_label_value(ctx.region)}",'
        f'account_id="{escape_label_value(ctx.account_id)}"'
    )


def render_job(job: TrainingJob, ctx: RenderContext) -> tuple[bytes, ...]:
    """One chunk per entry of FAMILIES (b"" where the job has no sample)."""
    ident = identity_labels(job.name, ctx)
    chunks = []
    for family in FAMILIES:
        lines = []
        for labels, value in family.samples(job, ctx):
            extra = "".join(f',{k}="{escape_label_value(v)}"' for k, v in labels)
            lines.append(f"{family.name}{{{ident}{extra}}} {format_value(value)}\n")
        chunks.append("".join(lines).encode())
    return tuple(chunks)
