"""Generated reference docs: the metric and flag tables in README.md come from here.

`python -m exporter.docs` prints both; tests/artefacts/test_docs.py fails when README.md drifts.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

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


def _labels(labels: Iterable[str]) -> str:
    return ", ".join(f"`{label}`" for label in labels)


def _row(name: str, mtype: str, labels: Iterable[str], meaning: str) -> str:
    return f"| `{name}` | {mtype} | {_labels(labels)} | {_cell(meaning)} |"


def _table(intro: str, labels_heading: str, rows: Iterable[str]) -> str:
    head = [intro, "", f"| metric | type | {labels_heading} | meaning |", "|---|---|---|---|"]
    return "\n".join([*head, *rows])


RUNNING_ONLY = " *Running jobs only* (`--finished-series full`: finished ones too)."


def metrics_table() -> str:
    job_rows = [
        _row(f.name, f.type, f.labels, f.help if f.finished else f.help + RUNNING_ONLY)
        for f in FAMILIES
    ]
    job_rows += [
        _row(h.name, h.type, ("host", *h.labels), h.help) for h in utilization.HOSTS.families
    ]
    own = SelfMetrics().reference() + CloudWatchMetrics().reference()
    process = "| `process_*` | | | CPU, memory, file descriptors of the exporter process. |"
    tables = (
        _table(
            f"Per-job families; each also carries {_labels(IDENTITY_LABELS)}.",
            "extra labels",
            job_rows,
        ),
        _table(
            f"Per-tuning-job families; each also carries {_labels(TUNING_IDENTITY_LABELS)}.",
            "extra labels",
            [_row(t.name, t.type, t.labels, t.help) for t in TUNING_FAMILIES],
        ),
        _table(
            "The exporter's own metrics (counters and histograms without prometheus_client's "
            "`*_created` series: nothing reads them, and they would be a third of these samples):",
            "labels",
            [*(_row(*m) for m in own), process],
        ),
    )
    return "\n\n".join(tables)


def flags_table() -> str:
    rows = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    for o in OPTIONS:
        default = "" if o.default in (None, [], "") else f"`{o.default}`"
        if o.kind == "duration" and isinstance(o.default, float):
            default = f"`{_duration(o.default)}`"
        flag = f"`--{o.name}`" + (" (repeatable)" if o.kind == "list" else "")
        flag += "".join(f" or `--{a}`" for a in o.aliases)
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
