"""Generated reference docs: the metric and flag tables in README.md come from here.

`python -m exporter.docs` prints both; tests/test_docs.py fails when README.md drifts.
"""

from __future__ import annotations

import sys

from exporter.metrics import utilization
from exporter.metrics.cloudwatch_self import CloudWatchMetrics
from exporter.metrics.selfmetrics import SelfMetrics
from exporter.metrics.training_jobs import FAMILIES, IDENTITY_LABELS
from exporter.metrics.tuning_jobs import TUNING_FAMILIES, TUNING_IDENTITY_LABELS
from exporter.options import OPTIONS

METRICS_BEGIN, METRICS_END = "<!-- metrics:begin -->", "<!-- metrics:end -->"
FLAGS_BEGIN, FLAGS_END = "<!-- flags:begin -->", "<!-- flags:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def metrics_table() -> str:
    ident = ", ".join(f"`{label}`" for label in IDENTITY_LABELS)
    rows = [
        f"Per-job families; each also carries {ident}.",
        "",
        "| metric | type | extra labels | meaning |",
        "|---|---|---|---|",
    ]
    for f in FAMILIES:
        extra = ", ".join(f"`{label}`" for label in f.labels)
        rows.append(f"| `{f.name}` | {f.type} | {extra} | {_cell(f.help)} |")
    for name, mtype, labels, help in utilization.FAMILIES:
        extra = ", ".join(f"`{label}`" for label in labels)
        rows.append(f"| `{name}` | {mtype} | {extra} | {_cell(help)} |")
    tuning_ident = ", ".join(f"`{label}`" for label in TUNING_IDENTITY_LABELS)
    rows += [
        "",
        f"Per-tuning-job families; each also carries {tuning_ident}.",
        "",
        "| metric | type | extra labels | meaning |",
        "|---|---|---|---|",
    ]
    for t in TUNING_FAMILIES:
        extra = ", ".join(f"`{label}`" for label in t.labels)
        rows.append(f"| `{t.name}` | {t.type} | {extra} | {_cell(t.help)} |")
    rows += [
        "",
        "The exporter's own metrics:",
        "",
        "| metric | type | labels | meaning |",
        "|---|---|---|---|",
    ]
    for name, mtype, labels, doc in SelfMetrics().reference() + CloudWatchMetrics().reference():
        label_text = ", ".join(f"`{label}`" for label in labels)
        rows.append(f"| `{name}` | {mtype} | {label_text} | {_cell(doc)} |")
    rows.append("| `process_*` | | | CPU, memory, file descriptors of the exporter process. |")
    return "\n".join(rows)


def flags_table() -> str:
    rows = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for o in OPTIONS:
        default = "" if o.default in (None, [], "") else f"`{o.default}`"
        if o.kind == "duration" and isinstance(o.default, float):
            default = f"`{_duration(o.default)}`"
        flag = f"`--{o.name}`" + (" (repeatable)" if o.kind == "list" else "")
        rows.append(f"| {flag} | `{o.env}` | {default} | {_cell(o.help)} |")
    return "\n".join(rows)


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def section(begin: str, end: str, body: str) -> str:
    return f"{begin}\n{body}\n{end}"


def update(text: str) -> str:
    """`text` (a README) with its generated sections replaced by fresh ones."""
    for begin, end, body in (
        (METRICS_BEGIN, METRICS_END, metrics_table()),
        (FLAGS_BEGIN, FLAGS_END, flags_table()),
    ):
        head, found, rest = text.partition(begin)
        if not found or end not in rest:
            raise ValueError(f"markers {begin} ... {end} not found")
        text = head + section(begin, end, body) + rest.partition(end)[2]
    return text


def main() -> None:
    """Print the generated sections, or with --write FILE rewrite them in place."""
    if len(sys.argv) == 3 and sys.argv[1] == "--write":
        with open(sys.argv[2], encoding="utf-8") as f:
            text = f.read()
        with open(sys.argv[2], "w", encoding="utf-8") as f:
            f.write(update(text))
        return
    sys.stdout.write(section(METRICS_BEGIN, METRICS_END, metrics_table()) + "\n\n")
    sys.stdout.write(section(FLAGS_BEGIN, FLAGS_END, flags_table()) + "\n")


if __name__ == "__main__":
    main()
