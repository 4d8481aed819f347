"""The benchmark scenarios. Each returns Rows: the exporter's figure, the baseline's figure
from the same run, their ratio, and the physical lower bound where there is one."""

from __future__ import annotations

import gzip
import http.client
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import baselines
from bench.harness import (
    ENV,
    ROOT,
    ExporterProcess,
    FakeProcess,
    metric,
    rss_bytes,
    wait_for,
)

RETENTION = "8d"  # the fake's finished jobs span 7 days: every job counts
SINCE_DAYS = 8


@dataclass
class Row:
    scenario: str
    measure: str
    unit: str
    exporter: float
    baseline: float | None = None
    baseline_name: str = ""
    bound: float | None = None
    target: str = ""
    met: bool | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.exporter:
            return None
        return self.baseline / self.exporter

    def as_dict(self) -> dict[str, Any]:
        return dict(asdict(self), ratio=self.ratio)


LIST_QUOTA, SEARCH_QUOTA = 2.0, 1.0


def _first_running_job(url: str, deadline: float) -> float | None:
    """Seconds (monotonic) when /metrics first shows a running job, polling every 50 ms."""
    needle = b'status="InProgress"} 1'
    while time.monotonic() < deadline:
        try:
            req = urllib.request.Request(url + "/metrics", headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(req, timeout=10) as r:
                body = r.read()
            if r.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if needle in body:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.05)
    return None


def cold_sync(size: dict[str, Any]) -> list[Row]:
    """Scenario 1: a cold sync at DEFAULT flags against quotas the exporter is not told:
    List 2/s, Search 1/s and each Describe quota of the size. Time to /readyz (every job on
    /metrics) and to the first running job on /metrics, against the two bounds: list +
    describe (every page at the List quota, every job at the Describe quota) and Search
    (100 records a call at the Search quota); the target is 1.2x the cheaper one."""
    c = size["cold"]
    jobs, running = c["jobs"], c["in_progress"]
    rows: list[Row] = []
    for quota in c["describe_quotas"]:
        limits = [
            f"ListTrainingJobs={LIST_QUOTA}",
            f"DescribeTrainingJob={quota}",
            f"ListTags={quota}",
            f"Search={SEARCH_QUOTA}",
        ]
        with (
            FakeProcess(
                "--jobs",
                str(jobs),
                "--in-progress",
                str(running),
                "--latency-ms",
                "50",
                *(a for lim in limits for a in ("--rate-limit", lim)),
                "--tick-interval",
                "0",
            ) as fake,
            ExporterProcess(fake.url, "--retention", RETENTION) as exp,
        ):
            # From the "listening" log line (the process is up and polling): Python's
            # start-up is not the sync's.
            start = time.monotonic()
            first = _first_running_job(exp.url, start + c["timeout"])
            wait_for("/readyz", exp.ready, c["timeout"], interval=0.02)
            took = time.monotonic() - start
            stats = fake.stats()["operations"]
            found = exp.metrics()
        by_op = {op: dict(v) for op, v in stats.items() if sum(v.values())}
        calls = sum(sum(v.values()) for v in by_op.values())
        throttled = sum(v.get("throttled", 0) for v in by_op.values())
        pages = math.ceil(jobs / 100)
        list_describe = max(pages / LIST_QUOTA, jobs / quota)
        search_bound = pages / SEARCH_QUOTA
        bound = min(list_describe, search_bound)
        rates = {
            op: metric(found, "sagemaker_exporter_api_rate_limit", operation=op)
            for op in ("ListTrainingJobs", "DescribeTrainingJob", "Search")
        }
        rows.append(
            Row(
                "1 cold sync",
                f"{jobs} jobs ({running} running), Describe quota {quota:g}/s: seconds to /readyz",
                "s",
                took,
                list_describe,
                "list+describe bound",
                bound,
                "<= 1.2x the cheaper bound",
                took <= 1.2 * bound,
                {
                    "x_bound": took / bound,
                    "search_bound": search_bound,
                    "first_running_job_s": None if first is None else first - start,
                    "api_calls": calls,
                    "throttled": throttled,
                    "by_operation": by_op,
                    "discovered_rates": rates,
                },
            )
        )
        rows.append(
            Row(
                "1 cold sync",
                f"Describe quota {quota:g}/s: seconds to the first running job on /metrics",
                "s",
                float("nan") if first is None else first - start,
                None,
                "",
                None,
                "",
                None,
                {},
            )
        )
        rows.append(
            Row(
                "1 cold sync",
                f"Describe quota {quota:g}/s: API calls (throttled)",
                "calls",
                calls,
                None,
                "",
                None,
                "",
                None,
                {
                    "throttled": throttled,
                    "throttled_fraction": throttled / max(1, calls),
                    **{f"{op}_calls": sum(v.values()) for op, v in by_op.items()},
                },
            )
        )
    return rows


REFRESH_CYCLES = 30  # --refresh-interval / --poll-interval at the defaults (900 s / 30 s)


def steady_state(size: dict[str, Any]) -> list[Row]:
    """Scenario 2: API calls per cycle with 1% of running jobs changing per cycle."""
    s = size["steady"]
    p, running, cycles = s["poll"], s["in_progress"], s["cycles"]
    with FakeProcess(
        "--jobs",
        str(2 * running),
        "--in-progress",
        str(running),
        "--churn",
        "0.01",
        "--tick-interval",
        str(p),
    ) as fake:
        # the production defaults (30s poll, 900s refresh, 600s reconcile), time-compressed
        with ExporterProcess(
            fake.url,
            "--poll-interval",
            f"{p}s",
            "--refresh-interval",
            f"{REFRESH_CYCLES * p}s",
            "--reconcile-interval",
            f"{20 * p}s",
        ) as exp:
            exp.wait_ready(120)
            # skip the cold cycle and one refresh interval, so refreshes are in full swing
            wait_for(
                "warm-up",
                lambda: len(exp.polls()) >= REFRESH_CYCLES + 1,
                60 + 2 * REFRESH_CYCLES * p,
            )
            fake.reset_stats()
            k0 = len(exp.polls())
            wait_for(
                "measured cycles", lambda: len(exp.polls()) >= k0 + cycles, 60 + 3 * cycles * p
            )
            stats = fake.stats()
            done = len(exp.polls()) - k0
            polls = exp.polls()[k0 : k0 + done]
        per_cycle = stats["total"] / done
        changed = statistics.mean(x.changed for x in polls)
        ack = statistics.mean(baselines.ack_cycle(fake.url) for _ in range(2))
        search_changes = baselines.search_sync(fake.url, time.time() - 3 * p)
    reconcile_pages = (math.ceil(running / 100) + 1) / 20
    refresh_budget = math.ceil(running / REFRESH_CYCLES)
    minimum = 1 + reconcile_pages + changed + refresh_budget
    return [
        Row(
            "2 steady state",
            f"{running} running, 1%/cycle: API calls per cycle",
            "calls",
            per_cycle,
            ack,
            "ACK-style: describe every active job",
            minimum,
            ">= 20x fewer than ACK",
            ack / per_cycle >= 20,
            {
                "minimum_breakdown": {
                    "list": 1 + reconcile_pages,
                    "changed": changed,
                    "refresh_budget": refresh_budget,
                },
                "x_minimum": per_cycle / minimum,
                "cycles": done,
                "search_calls_for_changes": search_changes["calls"],
                "search_calls_for_all_running": math.ceil(running / 100),
            },
        ),
    ]


def _scrape_servers(jobs: int, kinds: dict[str, str]) -> dict[str, tuple[Any, int]]:
    """Start one scrape server per name (all at once); {name: (process, port)}."""
    tmp = tempfile.TemporaryDirectory()
    procs = {}
    for name, kind in kinds.items():
        port_file = Path(tmp.name) / name
        procs[name] = (
            port_file,
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bench.scrape_server",
                    "--jobs",
                    str(jobs),
                    "--kind",
                    kind,
                    "--port-file",
                    str(port_file),
                ],
                env=ENV,
                cwd=ROOT,
            ),
        )
    wait_for(
        "scrape servers",
        lambda: all(f.exists() or p.poll() is not None for f, p in procs.values()),
        300,
    )
    out = {name: (p, int(f.read_text())) for name, (f, p) in procs.items()}
    tmp.cleanup()
    return out


class _Scraper:
    def __init__(self, port: int, touch: bool, gzipped: bool) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.touch, self.gzipped = touch, gzipped
        self.times: list[float] = []

    def once(self, keep: bool) -> None:
        if self.touch:  # a poll changed one running job: its segment is compressed again
            self.conn.request("POST", "/touch")
            self.conn.getresponse().read()
        t0 = time.perf_counter()
        self.conn.request(
            "GET", "/metrics", headers={"Accept-Encoding": "gzip" if self.gzipped else "identity"}
        )
        self.conn.getresponse().read()
        if keep:
            self.times.append(time.perf_counter() - t0)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


# measure: (server, POST /touch before each scrape, gzip). The exporter's measures and the
# floors are taken in turn, round after round, so that they share the machine's load.
_SERVERS = {
    "touched-gzip": "exporter",
    "touched-plain": "exporter",
    "cached": "exporter",
    "static": "static",
    "baseline": "baseline",
}
_SCRAPES = {
    "gzip": ("touched-gzip", True, True),
    "plain": ("touched-plain", True, False),
    "gzip-cached": ("cached", False, True),
    "plain-cached": ("cached", False, False),
    "static-gzip": ("static", False, True),
    "static-plain": ("static", False, False),
}


def scrape(size: dict[str, Any]) -> list[Row]:
    """Scenario 3: /metrics latency, gzip (as Prometheus asks) and plain (curl, scrapers
    that do not ask for gzip), right after a poll changed a running job (its segment is
    compressed again) and between polls (cached), vs a render-per-scrape prometheus_client
    collector, and beside the floor: the same body built once and written the same way."""
    rows = []
    for jobs in size["scrape"]["jobs"]:
        servers = _scrape_servers(jobs, _SERVERS)
        try:
            scrapers = {
                name: _Scraper(servers[srv][1], touch, gz)
                for name, (srv, touch, gz) in _SCRAPES.items()
            }
            for i in range(size["scrape"]["n"] + 2):
                for sc in scrapers.values():
                    sc.once(keep=i >= 2)  # the first two rounds warm up
            base = {
                "baseline": _Scraper(servers["baseline"][1], True, True),
                "baseline-plain": _Scraper(servers["baseline"][1], True, False),
            }
            for i in range(size["scrape"]["n_baseline"] + 1):
                for sc in base.values():
                    sc.once(keep=i >= 1)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait()
        timings = {name: sc.times for name, sc in {**scrapers, **base}.items()}
        big = jobs >= 10_000
        for enc, bl_name, limit in (("gzip", "baseline", 5.0), ("plain", "baseline-plain", 50.0)):
            ex, cached, bl = timings[enc], timings[f"{enc}-cached"], timings[bl_name]
            for q, name in ((0.5, "p50"), (0.99, "p99")):
                e_ms, b_ms = _pct(ex, q) * 1000, _pct(bl, q) * 1000
                c_ms = _pct(cached, q) * 1000
                target = f"<= {limit:g} ms" if big and q == 0.5 else ""
                floor = _pct(timings[f"static-{enc}"], q) * 1000
                rows.append(
                    Row(
                        "3 scrape",
                        f"{jobs} jobs: /metrics {enc} {name} after a change",
                        "ms",
                        e_ms,
                        b_ms,
                        "prometheus_client collector",
                        floor,
                        target,
                        e_ms <= limit if target else None,
                        {
                            "cached_ms": c_ms,
                            "samples": len(ex),
                            "cached_met": c_ms <= limit if target else None,
                        },
                    )
                )
    return rows


MEMORY_MIXES = (0.1, 0.3)  # fractions of running jobs


def memory(size: dict[str, Any]) -> list[Row]:
    """Scenario 4: RSS per tracked job, as the RSS difference between 1,000 and N jobs in one
    process (a gzip scrape after each), at 10% and 30% running."""
    jobs = size["memory"]
    rows = []
    for running in MEMORY_MIXES:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.scrape_server",
                "--jobs",
                str(jobs),
                "--memory",
                "--running",
                str(running),
            ],
            env=ENV,
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        m = json.loads(out.stdout)
        kib = m["rss_per_job"] / 1024
        rows.append(
            Row(
                "4 memory",
                f"{m['base']}->{jobs} jobs, {running:.0%} running: RSS per tracked job",
                "KiB",
                kib,
                None,
                "",
                None,
                "<= 4 KiB/job",
                kib <= 4,
                {
                    "body_bytes_per_job": m["body_bytes_per_job"],
                    "with_plain_cache_kib": m["plain_scrape_rss_per_job"] / 1024,
                },
            )
        )
    return rows


def throttled(size: dict[str, Any]) -> list[Row]:
    """Scenario 5: describe limited to 5 rps at the fake, and 30% of describes throttled."""
    jobs = size["throttled"]["jobs"]
    fault = json.dumps({"kind": "throttle", "operation": "DescribeTrainingJob", "fraction": 0.3})
    # Search denied: every job is then described, so the figure measures throttled describes
    # and not whether Search happened to cover the fleet first (a race under load).
    no_search = json.dumps({"kind": "access_denied", "operation": "Search"})
    with (
        FakeProcess(
            "--jobs",
            str(jobs),
            "--in-progress",
            str(jobs // 5),
            "--tick-interval",
            "0",
            "--rate-limit",
            "DescribeTrainingJob=5",
            "--fault",
            fault,
            "--fault",
            no_search,
        ) as fake,
        ExporterProcess(fake.url, "--retention", RETENTION, "--poll-interval", "5s") as exp,
    ):
        start = time.monotonic()

        def converged() -> bool:
            m = exp.metrics()
            return (
                metric(m, "sagemaker_exporter_tracked_jobs") == jobs
                and metric(m, "sagemaker_exporter_target_up") == 1
            )

        wait_for("convergence", converged, size["throttled"]["timeout"], interval=0.5)
        took = time.monotonic() - start
        ops = fake.stats()["operations"]["DescribeTrainingJob"]
        polls = exp.polls()
        lines = exp.log_lines()
        warnings = sum(1 for e in exp.events if e.get("log_level") in ("warning", "error"))
    attempts = ops["ok"] + ops["throttled"]
    return [
        Row(
            "5 throttled",
            f"{jobs} jobs, 5 rps + 30% throttled: seconds to converge",
            "s",
            took,
            None,
            "",
            jobs / 5 / 0.7,
            "converges, bounded retries, no log storm",
            ops["throttled"] <= ops["ok"] and lines <= 5 + 2 * len(polls),
            {
                "describe_attempts": attempts,
                "throttled": ops["throttled"],
                "attempts_per_job": attempts / jobs,
                "cycles": len(polls),
                "failed_cycles": sum(1 for p in polls if not p.ok),
                "log_lines": lines,
                "warning_lines": warnings,
            },
        )
    ]


def _exporter_rss(jobs: int, running: int) -> int:
    """RSS of a real exporter process after the backfill of `jobs` jobs and one scrape."""
    with (
        FakeProcess(
            "--jobs", str(jobs), "--in-progress", str(running), "--tick-interval", "0"
        ) as fake,
        ExporterProcess(fake.url, "--retention", RETENTION) as exp,
    ):
        exp.wait_ready(600)
        time.sleep(3)  # the describes of running jobs shown from Search, the precompression
        # A gzip scrape, as Prometheus makes: a plain one would also cache the plain body
        # (~5 KiB a job) for as long as plain scrapes keep coming.
        req = urllib.request.Request(exp.url + "/metrics", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
        time.sleep(1)
        return rss_bytes(exp.proc.pid)


def exporter_memory(size: dict[str, Any]) -> list[Row]:
    """Scenario 8: RSS per tracked job of the real exporter process (store, model, sync
    bookkeeping, clients), as the RSS difference between a backfill of N/10 and of N jobs,
    in one run, with 10% and with 30% of the jobs running."""
    big = size["exporter_memory"]
    small = big // 10
    rows = []
    for share in (0.1, 0.3):
        lo = _exporter_rss(small, int(small * share))
        hi = _exporter_rss(big, int(big * share))
        kib = (hi - lo) / (big - small) / 1024
        rows.append(
            Row(
                "8 exporter memory",
                f"{small:,} -> {big:,} jobs, {share:.0%} running: RSS per tracked job",
                "KiB",
                kib,
                None,
                "",
                None,
                "<= 4 KiB/job",
                kib <= 4,
                {"rss_small_mib": lo / 2**20, "rss_big_mib": hi / 2**20},
            )
        )
    return rows


def series(size: dict[str, Any]) -> list[Row]:
    """Scenario 9: series and bytes per job at default flags (lean finished jobs) beside
    --finished-series full in the same run, and a real Prometheus's head series."""
    from bench.series import measure

    jobs, running = size["series"]["jobs"], size["series"]["running"]
    lean, full = measure(jobs, running, "lean"), measure(jobs, running, "full")
    base = "--finished-series full"
    where = f"{lean['jobs']:,.0f} jobs, {running:,} running"
    rows = [
        ("finished job: series", "finished_series", "series", 12.0, "<= 12 a finished job"),
        ("running job: series", "running_series", "series", 30.0, "<= 30 a running job"),
        ("plain exposition per job", "bytes_per_job", "B", 2048.0, "<= 2 KiB a job"),
        ("Prometheus head series per job", "head_series_per_job", "series", None, ""),
    ]
    return [
        Row(
            "9 series",
            f"{where}: {measure_name}",
            unit,
            lean[key],
            full[key],
            base,
            bound,
            target,
            None if bound is None else lean[key] <= bound,
            {"lean": lean, "full": full},
        )
        for measure_name, key, unit, bound, target in rows
    ]


SCENARIOS = {
    "cold": cold_sync,
    "steady": steady_state,
    "scrape": scrape,
    "memory": memory,
    "throttled": throttled,
    "exporter_memory": exporter_memory,
    "series": series,
}
