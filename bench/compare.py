"""Two revisions' benchmarks side by side: python -m bench.compare [--before REV] [--after REV]

    .venv/bin/python -m bench.compare                         # faf45ee against HEAD, ~20 min
    .venv/bin/python -m bench.compare --size small            # every step once, ~4 min
    .venv/bin/python -m bench.compare --write-docs            # and the section in docs/benchmarks.md

Each revision is checked out into its own `git worktree` in a temporary directory (this work
tree is not touched) and its OWN benchmark commands run there (`bench.run --only ...`,
`bench.targets`), with cwd and PYTHONPATH the worktree and this virtualenv's python; the
worktree's `exporter` package is checked to be the one imported (the editable install maps
`exporter` to this tree, but only after sys.path). Before and after take turns, scenario by
scenario (before, after, before, after with --repeat), so the machine's load hits both alike.
Every figure is at default exporter flags, as the benchmarks run them. What is compared:

- cold sync: seconds to /readyz and API calls (5,000 jobs, 1,000 running, Describe quota 20/s);
- steady state: API calls per cycle (1,000 running, 1% changing per cycle);
- scrape: /metrics p50 right after a change, gzip and plain, at 10,000 jobs (the floor, the
  same body built once, is shown beside: it moves with the machine's load, not the code);
- memory: RSS per tracked job of the store process, 1,000 -> 10,000 jobs, 10% and 30% running;
- 200 targets: memory per target and seconds to /readyz.

Sizes: `medium` (default) is the revision's own `full` size with fewer repetitions (one
Describe quota, 6 measured steady cycles, 60 scrape rounds and one baseline round, 10,000 jobs
only for the scrape) and `bench.targets --cycles 1`; `small` and `full` are the revisions' own
sizes (`small` with 5 targets in one region). The JSON of every step, its log and a summary
go to bench/results/compare-<UTC time>/ (git-ignored).

The table gives after/before and PASS/FAIL against "no worse than 10%" (every measure here is
lower-is-better). It reports; it does not gate: the exit status is 0 unless the tool itself
failed (a worktree, a benchmark command that died or left no results: 1).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
RESULTS = ROOT / "bench" / "results"
MARKER = "compare"
TOLERANCE = 0.10
DEFAULT_BEFORE = "faf45ee"  # the last commit before the restructuring

# medium: overrides of each revision's own SIZES["full"] (dicts are merged key by key)
MEDIUM: dict[str, Any] = {
    "cold": {"jobs": 5000, "in_progress": 1000, "describe_quotas": [20.0], "timeout": 600},
    "steady": {"in_progress": 1000, "poll": 3.0, "cycles": 6},
    "scrape": {"jobs": [10_000], "n": 60, "n_baseline": 1},
    "memory": 10_000,
    "exporter_memory": 5000,
}
TARGETS_ARGS = {
    "small": ["--roles", "5", "--regions", "1", "--cycles", "1"],
    "medium": ["--cycles", "1"],
    "full": [],
}
SIZE_TEXT = {
    "medium": "cold 5,000 jobs (1,000 running) at Describe quota 20/s; steady 1,000 running, "
    "6 measured cycles at a 3 s poll; scrape 10,000 jobs, 60 rounds; memory 1,000 -> 10,000 "
    "jobs; 200 targets (50 roles x 4 regions), `bench.targets --cycles 1`",
    "small": "the revisions' own `bench.run --size small`; `bench.targets --roles 5 --regions 1 "
    "--cycles 1`",
    "full": "the revisions' own `bench.run --size full`; `bench.targets` at its defaults",
}
STEPS = ("cold", "steady", "scrape", "memory", "exporter_memory", "targets")
DEFAULT_STEPS = ("cold", "steady", "scrape", "memory", "targets")

# Runs bench.run's main with a size built from the revision's own "full" size: the revision's
# own scenarios, only fewer repetitions.
_RUN_WITH_SIZE = """
import copy, json, sys
import bench.run as run
over = json.loads(sys.argv[1])
size = copy.deepcopy(run.SIZES["full"])
for key, value in over.items():
    if isinstance(value, dict) and isinstance(size.get(key), dict):
        size[key].update(value)
    else:
        size[key] = value
run.SIZES["compare-medium"] = size
sys.exit(run.main(["--size", "compare-medium", *sys.argv[2:]]))
"""
_WHICH = (
    "import os, bench, exporter; print(os.path.realpath(exporter.__file__)); "
    "print(os.path.realpath(bench.__file__))"
)


# --- the pure part: measures, ratios, verdicts, the table ------------------------------------


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    unit: str
    lower_is_better: bool = True
    gated: bool = True  # False: context only (no verdict)


@dataclass
class Line:
    measure: Measure
    before: float | None
    after: float | None
    samples: dict[str, list[float]] = field(default_factory=dict)


def ratio(before: float | None, after: float | None) -> float | None:
    """after / before; None when either is missing or before is 0 (and after is not)."""
    if before is None or after is None or before != before or after != after:
        return None
    if before == 0:
        return 1.0 if after == 0 else None
    return after / before


def verdict(
    before: float | None,
    after: float | None,
    lower_is_better: bool = True,
    tolerance: float = TOLERANCE,
) -> str:
    """PASS when after is no worse than before by more than tolerance (10%): lower-is-better
    after <= before * 1.1, higher-is-better after >= before * 0.9; "n/a" without both."""
    if before is None or after is None or before != before or after != after:
        return "n/a"
    if lower_is_better:
        return "PASS" if after <= before * (1 + tolerance) + 1e-12 else "FAIL"
    return "PASS" if after >= before * (1 - tolerance) - 1e-12 else "FAIL"


def fmt(value: float | None, unit: str = "") -> str:
    if value is None or value != value:
        return "-"
    if unit == "x":
        return f"{value:.2f}x"
    a = abs(value)
    text = f"{value:,.0f}" if a >= 1000 else f"{value:.3g}" if a >= 1 or a == 0 else f"{value:.2g}"
    return f"{text} {unit}".rstrip()


def table(lines: Sequence[Line]) -> str:
    """A markdown table: metric, before, after, after/before, no worse than 10%."""
    out = [
        "| metric | before | after | after/before | no worse than 10% |",
        "|---|---|---|---|---|",
    ]
    for ln in lines:
        m = ln.measure
        r = ratio(ln.before, ln.after)
        v = verdict(ln.before, ln.after, m.lower_is_better) if m.gated else "(context)"
        if v == "FAIL":
            v = "**FAIL**"
        better = "lower is better" if m.lower_is_better else "higher is better"
        out.append(
            f"| {m.label} ({better}) | {fmt(ln.before, m.unit)} | "
            f"{fmt(ln.after, m.unit)} | {'-' if r is None else f'{r:.2f}'} | {v} |"
        )
    return "\n".join(out)


def _row(rows: Sequence[dict[str, Any]], scenario: str, *parts: str) -> dict[str, Any] | None:
    for r in rows:
        if r.get("scenario") == scenario and all(p in r.get("measure", "") for p in parts):
            return r
    return None


def _value(row: dict[str, Any] | None, get: Callable[[dict[str, Any]], Any]) -> float | None:
    if row is None:
        return None
    try:
        v = get(row)
    except (KeyError, TypeError):
        return None
    return None if v is None else float(v)


def extract(step: str, result: dict[str, Any]) -> dict[Measure, float | None]:
    """The measures of one step from its JSON results (bench.run's or bench.targets')."""
    if step == "targets":
        return {
            Measure(
                "targets_ready", f"{result.get('targets', '?')} targets: seconds to /readyz", "s"
            ): _value(result, lambda r: r["ready_seconds"]),
            Measure(
                "targets_kib", f"{result.get('targets', '?')} targets: memory per target", "KiB"
            ): _value(result, lambda r: r["rss_per_target_bytes"] / 1024),
        }
    rows = result.get("rows", [])
    out: dict[Measure, float | None] = {}
    if step == "cold":
        for r in rows:
            if r.get("scenario") == "1 cold sync" and r["measure"].endswith("seconds to /readyz"):
                quota = r["measure"].split("Describe quota ", 1)[1].split(":", 1)[0]
                calls = _row(rows, "1 cold sync", f"Describe quota {quota}:", "API calls")
                head = r["measure"].split(",", 1)[0]
                out[
                    Measure(
                        f"cold_s_{quota}",
                        f"cold sync, {head}, Describe {quota}: seconds to /readyz",
                        "s",
                    )
                ] = _value(r, lambda x: x["exporter"])
                out[
                    Measure(
                        f"cold_calls_{quota}", f"cold sync, Describe {quota}: API calls", "calls"
                    )
                ] = _value(calls, lambda x: x["exporter"])
                out[
                    Measure(
                        f"cold_first_{quota}",
                        f"cold sync, Describe {quota}: seconds to the first running job",
                        "s",
                        gated=False,
                    )
                ] = _value(r, lambda x: x["notes"]["first_running_job_s"])
                # Describes go on after the backfill (running jobs, for what Search lacks):
                # how many are done by /readyz is a race; List and Search calls are not
                out[
                    Measure(
                        f"cold_ls_{quota}",
                        f"cold sync, Describe {quota}: List + Search calls (of the API calls)",
                        "calls",
                        gated=False,
                    )
                ] = _value(
                    r,
                    lambda x: sum(
                        sum(v.values())
                        for op, v in x["notes"]["by_operation"].items()
                        if op in ("ListTrainingJobs", "Search")
                    ),
                )
    elif step == "steady":
        r = _row(rows, "2 steady state", "API calls per cycle")
        head = r["measure"].split(" running", 1)[0] if r else "?"
        out[Measure("steady", f"steady state, {head} running: API calls per cycle", "calls")] = (
            _value(r, lambda x: x["exporter"])
        )
        # the fake's churn is random: calls over (list + jobs changed + refresh budget)
        out[
            Measure(
                "steady_x_min",
                "steady state: calls per cycle / the minimum for the changes seen",
                "x",
                gated=False,
            )
        ] = _value(r, lambda x: x["notes"]["x_minimum"])
    elif step == "scrape":
        for r in rows:
            if r.get("scenario") != "3 scrape" or " p50 " not in r["measure"]:
                continue
            jobs = r["measure"].split(" jobs", 1)[0]
            enc = "gzip" if " gzip " in r["measure"] else "plain"
            out[
                Measure(
                    f"scrape_{enc}_{jobs}",
                    f"scrape, {int(jobs):,} jobs: {enc} p50 after a change",
                    "ms",
                )
            ] = _value(r, lambda x: x["exporter"])
            out[
                Measure(
                    f"floor_{enc}_{jobs}",
                    f"scrape, {int(jobs):,} jobs: {enc} p50 of the "
                    "floor (static body, same rounds)",
                    "ms",
                    gated=False,
                )
            ] = _value(r, lambda x: x["bound"])
    elif step in ("memory", "exporter_memory"):
        scenario = "4 memory" if step == "memory" else "8 exporter memory"
        what = "store" if step == "memory" else "whole exporter"
        for r in rows:
            if r.get("scenario") == scenario:
                share = next(p for p in ("10%", "30%") if p in r["measure"])
                span = " -> ".join(x.strip() for x in r["measure"].split(" jobs", 1)[0].split("->"))
                out[
                    Measure(
                        f"{step}_{share}",
                        f"RSS per tracked job ({what}), {span} jobs, {share} running",
                        "KiB",
                    )
                ] = _value(r, lambda x: x["exporter"])
    return out


def combine(per_rev: dict[str, list[dict[Measure, float | None]]]) -> list[Line]:
    """One Line per measure, the median of the repeats of each revision, in first-seen order."""
    order: list[Measure] = []
    for runs in per_rev.values():
        for run in runs:
            order += [m for m in run if m not in order]
    lines = []
    for m in order:
        samples = {
            rev: [v for run in runs if (v := run.get(m)) is not None and v == v]
            for rev, runs in per_rev.items()
        }
        med = {rev: statistics.median(s) if s else None for rev, s in samples.items()}
        lines.append(Line(m, med.get("before"), med.get("after"), samples))
    return lines


def replace_section(doc: str, body: str, marker: str = MARKER) -> str:
    """body between <!-- marker:begin --> and <!-- marker:end -->; the first time, the pair
    goes before "## Reproducing" (or at the end)."""
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    block = f"{begin}\n{body.strip()}\n{end}\n"
    if begin in doc and end in doc:
        head, _, rest = doc.partition(begin)
        _, _, tail = rest.partition(end)
        return head + block.rstrip("\n") + tail
    anchor = "\n## Reproducing\n"
    if anchor in doc:
        head, _, tail = doc.partition(anchor)
        return head.rstrip("\n") + "\n\n" + block + anchor + tail
    return doc.rstrip("\n") + "\n\n" + block


def load_text(samples: Sequence[float]) -> str:
    if not samples:
        return "unknown"
    return (
        f"{min(samples):.1f}-{max(samples):.1f} (mean {statistics.mean(samples):.1f}, "
        f"{len(samples)} samples)"
    )


# --- running -----------------------------------------------------------------------------------


class ToolError(RuntimeError):
    pass


def git(*args: str, cwd: Path = ROOT) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, text=True, capture_output=True, check=False)
    if out.returncode:
        raise ToolError(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout.strip()


@dataclass
class Revision:
    role: str  # before / after
    spec: str
    commit: str
    subject: str
    tree: Path

    @property
    def short(self) -> str:
        return self.commit[:7]


def add_worktree(role: str, spec: str, base: Path) -> Revision:
    commit = git("rev-parse", "--verify", f"{spec}^{{commit}}")
    tree = base / role
    git("worktree", "add", "--detach", str(tree), commit)
    rev = Revision(role, spec, commit, git("log", "-1", "--format=%s", commit), tree)
    env = child_env(tree)
    which = subprocess.run(
        [sys.executable, "-c", _WHICH],
        cwd=tree,
        env=env,
        text=True,
        capture_output=True,
        check=False,
    )
    paths = which.stdout.split()
    real = os.path.realpath(tree)
    if which.returncode or len(paths) != 2 or not all(p.startswith(real + os.sep) for p in paths):
        raise ToolError(
            f"{role} ({spec}): the worktree's packages are not the ones imported: "
            f"{which.stdout.strip()} {which.stderr.strip()}"
        )
    print(f"{role}: {rev.short} {rev.subject}\n  exporter from {paths[0]}", file=sys.stderr)
    return rev


def remove_worktree(rev: Revision) -> None:
    try:
        git("worktree", "remove", "--force", str(rev.tree))
    except ToolError as e:
        print(f"warning: {e}", file=sys.stderr)
        shutil.rmtree(rev.tree, ignore_errors=True)


def child_env(tree: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("PYTHONHOME", None)
    return env


def step_command(step: str, size: str, out: Path) -> list[str]:
    py = sys.executable
    if step == "targets":
        return [py, "-m", "bench.targets", *TARGETS_ARGS[size], "--no-docs", "--output", str(out)]
    only = ["--only", step, "--output", str(out)]
    if size == "medium":
        return [py, "-c", _RUN_WITH_SIZE, json.dumps({step: MEDIUM[step]}), *only]
    return [py, "-m", "bench.run", "--size", size, *only]


def run_step(rev: Revision, step: str, size: str, out: Path, timeout: float) -> dict[str, Any]:
    """Run one step in the revision's worktree; its JSON results."""
    cmd = step_command(step, size, out)
    log = out.with_suffix(".log")
    with log.open("w") as f:
        f.write(f"# {rev.role} {rev.short} in {rev.tree}\n# {' '.join(cmd[:3])} ...\n")
        f.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=rev.tree,
            env=child_env(rev.tree),
            stdout=f,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout)
        except BaseException:
            # the benchmark's own children (fake, exporter, scrape servers) share its group
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            raise
    if rc or not out.exists():
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise ToolError(f"{rev.role} {step} exited {rc} (log {log}):\n{tail}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def collect(outdir: Path, steps: Sequence[str], repeat: int) -> list[Line]:
    """The table's lines from the JSON results of a run (its files, not memory: --from too)."""
    per_rev: dict[str, list[dict[Measure, float | None]]] = {"before": [], "after": []}
    for i in range(repeat):
        for role, runs in per_rev.items():
            got: dict[Measure, float | None] = {}
            for step in steps:
                path = outdir / f"{i + 1}-{step}-{role}.json"
                if path.exists():
                    got.update(extract(step, json.loads(path.read_text())))
            runs.append(got)
    return combine(per_rev)


def command(meta: dict[str, Any]) -> str:
    cmd = ".venv/bin/python -m bench.compare"
    if meta["before"]["spec"] != DEFAULT_BEFORE:
        cmd += f" --before {meta['before']['spec']}"
    if meta["after"]["spec"] != "HEAD":
        cmd += f" --after {meta['after']['spec']}"
    if meta["size"] != "medium":
        cmd += f" --size {meta['size']}"
    if meta["repeat"] != 1:
        cmd += f" --repeat {meta['repeat']}"
    return cmd + " --write-docs"


def markdown(meta: dict[str, Any], lines: Sequence[Line]) -> str:
    b, a = meta["before"], meta["after"]
    fails = [
        ln.measure.label
        for ln in lines
        if ln.measure.gated and verdict(ln.before, ln.after, ln.measure.lower_is_better) == "FAIL"
    ]
    note = meta.get("note") or ""
    text = [
        "## Before and after a change (`bench.compare`)",
        "",
        f"`{command(meta)}`: each revision in its own git worktree, running its own "
        "benchmark commands at default exporter flags; before and after take turns scenario by "
        "scenario. Rule: after no worse than 10% than before on every measure below.",
        "",
        f"Run on {meta['date']}, {meta['seconds'] / 60:.0f} minutes. "
        f'**before** `{b["commit"][:7]}` "{b["subject"]}"; '
        f'**after** `{a["commit"][:7]}` "{a["subject"]}".' + (f" {note}" if note else ""),
        "",
        f"Sizes ({meta['size']}, repeat {meta['repeat']}): {SIZE_TEXT[meta['size']]}.",
        "",
        f"Machine: {meta['nproc']} cores; load average (1 min) during the run "
        f"{load_text(meta['loadavg_1min'])}; `uptime` at the start: `{meta['uptime'][0]}`, "
        f"at the end: `{meta['uptime'][-1]}`. Other test suites shared the machine: times move "
        "by more than 10% from run to run with the load (the floor rows show how much), while "
        "API calls and memory move less.",
        "",
        table(lines),
        "",
    ]
    if fails:
        text += [f"Worse than 10% in this run: {'; '.join(fails)}.", ""]
    return "\n".join(text)


def uptime() -> str:
    return subprocess.run(["uptime"], text=True, capture_output=True, check=False).stdout.strip()


def run(args: argparse.Namespace, steps: Sequence[str], outdir: Path) -> dict[str, Any]:
    """Worktrees, then every step before and after in turn; the run's metadata."""
    t0 = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    revs: dict[str, Revision] = {}
    loads: list[float] = []
    uptimes = [uptime()]
    failed: list[str] = []
    try:
        for role, spec in (("before", args.before), ("after", args.after)):
            revs[role] = add_worktree(role, spec, base)
        for i in range(args.repeat):
            for step in steps:
                for role in ("before", "after"):
                    rev = revs[role]
                    loads.append(os.getloadavg()[0])
                    s0 = time.monotonic()
                    print(
                        f"[{time.strftime('%H:%M:%S')}] round {i + 1}: {step} {role} "
                        f"({rev.short}), load {loads[-1]:.1f} ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    out = outdir / f"{i + 1}-{step}-{role}.json"
                    try:
                        run_step(rev, step, args.size, out, args.timeout)
                    except ToolError as e:
                        print(f"FAILED: {e}", file=sys.stderr)
                        failed.append(f"{role} {step}")
                    except subprocess.TimeoutExpired:
                        print(f"FAILED: {role} {step} timed out", file=sys.stderr)
                        failed.append(f"{role} {step} (timeout)")
                    print(f"  {time.monotonic() - s0:.0f} s", file=sys.stderr, flush=True)
        loads.append(os.getloadavg()[0])
    finally:
        if not args.keep_worktrees:
            for rev in revs.values():
                remove_worktree(rev)
            shutil.rmtree(base, ignore_errors=True)
    uptimes.append(uptime())
    return {
        **{
            role: {"spec": r.spec, "commit": r.commit, "subject": r.subject}
            for role, r in revs.items()
        },
        "size": args.size,
        "repeat": args.repeat,
        "steps": list(steps),
        "note": args.note,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": time.monotonic() - t0,
        "nproc": os.cpu_count(),
        "loadavg_1min": loads,
        "uptime": uptimes,
        "failed": failed,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.compare",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[1:]),
    )
    p.add_argument("--before", default=DEFAULT_BEFORE, help=f"default {DEFAULT_BEFORE}")
    p.add_argument("--after", default="HEAD", help="default HEAD (at the start of the run)")
    p.add_argument("--size", choices=("small", "medium", "full"), default="medium")
    p.add_argument(
        "--steps",
        default=",".join(DEFAULT_STEPS),
        help=f"comma-separated, of {','.join(STEPS)} (default: %(default)s)",
    )
    p.add_argument("--repeat", type=int, default=1, help="rounds of before, after")
    p.add_argument("--timeout", type=float, default=1200, help="seconds per step")
    p.add_argument(
        "--write-docs",
        action="store_true",
        help=f"write the table into {DOC.relative_to(ROOT)} between "
        f"<!-- {MARKER}:begin/end --> markers",
    )
    p.add_argument("--note", default="", help="a sentence for the docs section")
    p.add_argument("--keep-worktrees", action="store_true")
    p.add_argument(
        "--from",
        dest="from_dir",
        type=Path,
        help="no run: the table (and --write-docs) again from a run's results directory",
    )
    args = p.parse_args(argv)
    steps = [s for s in args.steps.split(",") if s]
    if bad := set(steps) - set(STEPS):
        p.error(f"unknown steps: {', '.join(sorted(bad))}")

    if args.from_dir:
        outdir = args.from_dir
        meta = json.loads((outdir / "summary.json").read_text())
        meta.pop("lines", None)
        stamp = time.strptime(outdir.name.removeprefix("compare-"), "%Y%m%dT%H%M%SZ")
        meta.setdefault("date", time.strftime("%Y-%m-%d %H:%M UTC", stamp))
        meta.setdefault("nproc", os.cpu_count())
        if args.note:
            meta["note"] = args.note
    else:
        outdir = RESULTS / f"compare-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
        outdir.mkdir(parents=True, exist_ok=True)
        try:
            meta = run(args, steps, outdir)
        except ToolError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    lines = collect(outdir, meta["steps"], meta["repeat"])
    for role in ("before", "after"):
        print(f"{role:6} {meta[role]['commit'][:7]} {meta[role]['subject']}")
    print(
        f"size {meta['size']}, repeat {meta['repeat']}, {meta['seconds'] / 60:.1f} min; "
        f"load average (1 min) {load_text(meta['loadavg_1min'])}"
    )
    print(table(lines))
    meta["lines"] = [
        {
            "key": ln.measure.key,
            "label": ln.measure.label,
            "unit": ln.measure.unit,
            "before": ln.before,
            "after": ln.after,
            "samples": ln.samples,
            "ratio": ratio(ln.before, ln.after),
            "verdict": verdict(ln.before, ln.after, ln.measure.lower_is_better)
            if ln.measure.gated
            else None,
        }
        for ln in lines
    ]
    (outdir / "summary.json").write_text(json.dumps(meta, indent=1))
    print(f"results: {outdir}")
    if meta["failed"]:
        print(f"tool failure: no figures from {', '.join(meta['failed'])}", file=sys.stderr)
        return 1
    if args.write_docs:
        DOC.write_text(replace_section(DOC.read_text(), markdown(meta, lines)))
        print(f"wrote the {MARKER} section of {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
