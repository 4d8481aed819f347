"""Reading an exposition in tests: every sample keyed by (name, labels), and lookups by a
subset of labels."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_exposition(text: str) -> Samples:
    out: Samples = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out[(s.name, frozenset(s.labels.items()))] = s.value
    except ValueError as exc:
        raise AssertionError(f"invalid exposition: {exc}\n{_bad_lines(text)}") from exc
    return out


def _bad_lines(text: str) -> str:
    """The lines the parser refuses, each with the line before and after: what a garbled
    body looked like, for the post-mortem."""
    lines = text.split("\n")
    bad = []
    for i, line in enumerate(lines):
        if not line or line.startswith("#"):
            continue
        try:
            for _ in text_string_to_metric_families(line + "\n"):
                pass
        except ValueError:
            bad.append("\n".join(repr(x) for x in lines[max(0, i - 1) : i + 2]))
    return "\n--\n".join(bad[:5]) or "(every line parses alone)"


def find(samples: Samples, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """Samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return {lbl: v for (n, lbl), v in samples.items() if n == name and want <= lbl}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    hits = find(samples, name, **labels)
    assert len(hits) <= 1, f"{name}{labels} matches {len(hits)} series"
    return next(iter(hits.values()), None)
