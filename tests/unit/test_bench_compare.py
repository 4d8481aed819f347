"""The pure parts of bench/compare.py: ratio, verdict, table, extraction, the docs section.
No benchmark runs here."""

from __future__ import annotations

from bench.compare import (
    Line,
    Measure,
    combine,
    extract,
    fmt,
    ratio,
    replace_section,
    table,
    verdict,
)


def test_ratio() -> None:
    assert ratio(2.0, 3.0) == 1.5
    assert ratio(0.0, 0.0) == 1.0
    assert ratio(0.0, 1.0) is None
    assert ratio(None, 1.0) is None
    assert ratio(1.0, float("nan")) is None


def test_verdict_lower_and_higher_is_better() -> None:
    assert verdict(100.0, 110.0) == "PASS"  # exactly 10% worse passes
    assert verdict(100.0, 110.5) == "FAIL"
    assert verdict(100.0, 50.0) == "PASS"
    assert verdict(100.0, 90.0, lower_is_better=False) == "PASS"
    assert verdict(100.0, 89.0, lower_is_better=False) == "FAIL"
    assert verdict(None, 1.0) == "n/a"
    assert verdict(1.1, 1.2, tolerance=0.5) == "PASS"


def test_fmt() -> None:
    assert fmt(None) == "-"
    assert fmt(4135.2, "KiB") == "4,135 KiB"
    assert fmt(7.31, "ms") == "7.31 ms"
    assert fmt(0.049, "s") == "0.049 s"


def test_table_rows_and_verdicts() -> None:
    lines = [
        Line(Measure("a", "cold sync: seconds to /readyz", "s"), 60.0, 70.0),
        Line(Measure("b", "memory per target", "KiB"), 4000.0, 3900.0),
        Line(Measure("c", "floor", "ms", gated=False), 6.0, 9.0),
        Line(Measure("d", "missing", "ms"), 1.0, None),
    ]
    out = table(lines).splitlines()
    assert out[0] == "| metric | before | after | after/before | no worse than 10% |"
    assert (
        out[2]
        == "| cold sync: seconds to /readyz (lower is better) | 60 s | 70 s | 1.17 | **FAIL** |"
    )
    assert out[3].endswith("| 4,000 KiB | 3,900 KiB | 0.97 | PASS |")
    assert out[4].endswith("| 1.50 | (context) |")
    assert out[5].endswith("| 1 ms | - | - | n/a |")


def test_extract_and_combine() -> None:
    run = {
        "rows": [
            {
                "scenario": "1 cold sync",
                "measure": "5000 jobs (1000 running), Describe quota 20/s: seconds to /readyz",
                "exporter": 61.0,
                "notes": {
                    "first_running_job_s": 0.5,
                    "by_operation": {
                        "Search": {"ok": 50, "throttled": 4},
                        "ListTrainingJobs": {"ok": 61, "throttled": 3},
                        "DescribeTrainingJob": {"ok": 935, "throttled": 6},
                    },
                },
            },
            {
                "scenario": "1 cold sync",
                "measure": "Describe quota 20/s: API calls (throttled)",
                "exporter": 1060,
            },
            {
                "scenario": "3 scrape",
                "measure": "10000 jobs: /metrics gzip p50 after a change",
                "exporter": 7.3,
                "bound": 6.0,
            },
            {
                "scenario": "3 scrape",
                "measure": "10000 jobs: /metrics gzip p99 after a change",
                "exporter": 36.0,
                "bound": 31.0,
            },
        ]
    }
    cold = extract("cold", run)
    assert set(cold.values()) == {0.5, 61.0, 1060.0, 118.0}
    scrape = extract("scrape", run)
    assert {m.key: v for m, v in scrape.items()} == {
        "scrape_gzip_10000": 7.3,
        "floor_gzip_10000": 6.0,
    }
    targets = extract(
        "targets", {"targets": 200, "ready_seconds": 24.0, "rss_per_target_bytes": 4096 * 1024}
    )
    assert set(targets.values()) == {24.0, 4096.0}
    lines = combine({"before": [cold, {}], "after": [cold]})
    assert [(ln.before, ln.after) for ln in lines] == [
        (61.0, 61.0),
        (1060.0, 1060.0),
        (0.5, 0.5),
        (118.0, 118.0),
    ]
    assert [ln.measure.gated for ln in lines] == [True, True, False, False]


def test_replace_section() -> None:
    doc = "# B\n\ntext\n\n## Reproducing\n\nrun it\n"
    once = replace_section(doc, "## Before and after\n\nv1")
    assert once.index("<!-- compare:begin -->") < once.index("## Reproducing")
    assert "v1" in once and once.endswith("run it\n")
    twice = replace_section(once, "## Before and after\n\nv2")
    assert "v1" not in twice and twice.count("<!-- compare:begin -->") == 1
    assert twice == once.replace("v1", "v2")
    assert replace_section("# B\n", "x").endswith("<!-- compare:end -->\n")
