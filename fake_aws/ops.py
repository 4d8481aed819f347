"""The fake's job store and its SageMaker operations (pure request dict -> response dict).

Pagination tokens are keyset tokens (last sort key + page number), so jobs that change
between pages are neither repeated nor skipped when the sort key is immutable (CreationTime,
Name); that is what the exporter relies on when it lists with the default sort.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fake_aws.data import Doc, FakeJob, advance, make_job, summary

NOT_FOUND = "Requested resource not found."
# Fields DescribeTrainingJob has but the Search TrainingJob shape lacks.
_NOT_IN_SEARCH = (
    "ProfilerRuleConfigurations",
    "ProfilerRuleEvaluationStatuses",
    "ProfilingStatus",
    "RemoteDebugConfig",
    "InfraCheckConfig",
    "ProgressInfo",
    "MlflowDetails",
    "BillableTokenCount",
)


class ApiError(Exception):
    """An AWS error answer: HTTP status plus the awsJson1_1 __type code and message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def _ckey(job: FakeJob) -> tuple[float, str]:
    return (float(job.doc["CreationTime"]), job.name)


class JobStore:
    """All jobs, kept sorted by (CreationTime, name), plus the running set for ticks."""

    def __init__(self, jobs: list[FakeJob], seed: int, region: str, account_id: str) -> None:
        self.jobs = sorted(jobs, key=_ckey)
        self.by_name = {j.name: j for j in self.jobs}
        self.by_arn = {j.doc["TrainingJobArn"]: j for j in self.jobs}
        self.running = {j.name for j in self.jobs if j.status in ("InProgress", "Stopping")}
        self.seed, self.region, self.account_id = seed, region, account_id
        self.next_index = len(jobs)
        self._rng = random.Random(seed ^ 0x5EED)
        self._carry = 0.0

    def add(self, job: FakeJob) -> None:
        bisect.insort(self.jobs, job, key=_ckey)
        self.by_name[job.name] = job
        self.by_arn[job.doc["TrainingJobArn"]] = job
        if job.status in ("InProgress", "Stopping"):
            self.running.add(job.name)

    def remove(self, name: str) -> bool:
        job = self.by_name.pop(name, None)
        if job is None:
            return False
        self.by_arn.pop(job.doc["TrainingJobArn"], None)
        self.running.discard(name)
        i = bisect.bisect_left(self.jobs, _ckey(job), key=_ckey)
        while self.jobs[i] is not job:
            i += 1
        del self.jobs[i]
        return True

    def get(self, name: str) -> FakeJob:
        job = self.by_name.get(name)
        if job is None:
            raise ApiError("ValidationException", NOT_FOUND)
        return job

    def tick(self, now: float, churn: float, replenish: bool) -> list[str]:
        """Advance churn x running jobs (fractions carry over); returns the changed names."""
        want = churn * len(self.running) + self._carry
        k = min(int(want), len(self.running))
        self._carry = want - int(want)
        changed = self._rng.sample(sorted(self.running), k)
        for name in changed:
            if advance(self.by_name[name], now, self._rng):
                self.running.discard(name)
                if replenish:
                    self.add(
                        make_job(
                            self.next_index,
                            self.seed,
                            now,
                            self.region,
                            self.account_id,
                            "Starting",
                            created=now,
                        )
                    )
                    self.next_index += 1
        return changed


@dataclass(frozen=True)
class Paging:
    empty_page_every: int = 0  # every Nth page of a pagination is empty but has a NextToken
    max_page_size: int = 0  # cap results per page below MaxResults (0: no cap)


def _encode_token(page: int, key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([page, key]).encode()).decode()


def _decode_token(token: str | None) -> tuple[int, Any]:
    if not token:
        return 0, None
    try:
        page, key = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(page), _tupleize(key)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ApiError("ValidationException", "Invalid pagination token") from exc


def _tupleize(value: Any) -> Any:
    return tuple(_tupleize(v) for v in value) if isinstance(value, list) else value


def _max_results(params: Doc, default: int = 10, hard: int = 100) -> int:
    value = params.get("MaxResults", default)
    if not isinstance(value, int) or not 1 <= value <= hard:
        raise ApiError(
            "ValidationException",
            f"1 validation error detected: Value '{value}' at "
            f"'maxResults' failed to satisfy constraint: Member must have value less "
            f"than or equal to {hard}",
        )
    return value


def _time(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise ApiError("ValidationException", f"Invalid timestamp: {value!r}") from exc


def _page(
    ordered: Iterable[FakeJob],
    key: Callable[[FakeJob], Any],
    after: Any,
    descending: bool,
    limit: int,
    params: Doc,
    paging: Paging,
) -> tuple[list[FakeJob], str | None]:
    """Keyset paging over an ordered iterable; returns the page and the next token."""
    page_no, _ = _decode_token(params.get("NextToken"))
    every = paging.empty_page_every
    if every >= 2 and (page_no + 1) % every == 0:
        return [], _encode_token(page_no + 1, after)
    if paging.max_page_size:
        limit = min(limit, paging.max_page_size)
    out: list[FakeJob] = []
    more = False
    for job in ordered:
        if after is not None:
            k = key(job)
            if (k <= after) if not descending else (k >= after):
                continue
        if len(out) == limit:
            more = True
            break
        out.append(job)
    token = _encode_token(page_no + 1, key(out[-1])) if more and out else None
    return out, token


def list_training_jobs(store: JobStore, params: Doc, paging: Paging) -> Doc:
    limit = _max_results(params)
    sort_by = params.get("SortBy", "CreationTime")
    descending = params.get("SortOrder", "Ascending") == "Descending"
    _, after = _decode_token(params.get("NextToken"))
    bounds = []
    for field, op in (
        ("CreationTimeAfter", "CreationTime>"),
        ("CreationTimeBefore", "CreationTime<"),
        ("LastModifiedTimeAfter", "LastModifiedTime>"),
        ("LastModifiedTimeBefore", "LastModifiedTime<"),
    ):
        if field in params:
            bounds.append((op[:-1], op[-1], _time(params[field])))
    status = params.get("StatusEquals")
    contains = str(params.get("NameContains", "")).lower()
    warm = params.get("WarmPoolStatusEquals")

    def match(job: FakeJob) -> bool:
        doc = job.doc
        if status and doc["TrainingJobStatus"] != status:
            return False
        if contains and contains not in job.name.lower():
            return False
        if warm and doc.get("WarmPoolStatus", {}).get("Status") != warm:
            return False
        for name, op, bound in bounds:
            value = float(doc[name])
            if (value <= bound) if op == ">" else (value >= bound):
                return False
        return True

    key: Callable[[FakeJob], Any]
    if sort_by == "CreationTime":
        key = _ckey
        jobs = store.jobs
        if after is not None and not descending:  # skip straight to the resume point
            jobs = jobs[bisect.bisect_right(jobs, after, key=_ckey) :]
        ordered: Iterable[FakeJob] = reversed(jobs) if descending else jobs
    elif sort_by in ("Name", "Status"):

        def key(j: FakeJob) -> Any:
            return (j.status, j.name) if sort_by == "Status" else j.name

        ordered = sorted(store.jobs, key=key, reverse=descending)
    else:
        raise ApiError("ValidationException", f"SortBy {sort_by!r} is not supported by the fake")
    page, token = _page(filter(match, ordered), key, after, descending, limit, params, paging)
    out: Doc = {"TrainingJobSummaries": [summary(j.doc) for j in page]}
    if token:
        out["NextToken"] = token
    return out


def list_tags(store: JobStore, params: Doc) -> Doc:
    job = store.by_arn.get(str(params.get("ResourceArn", "")))
    if job is None:
        raise ApiError("ValidationException", NOT_FOUND)
    return {"Tags": list(job.tags)}


def _prop(job: FakeJob, name: str) -> Any:
    if name.startswith("Tags."):
        tag = name[5:]
        return next((t["Value"] for t in job.tags if t["Key"] == tag), None)
    value: Any = job.doc
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _compare(actual: Any, op: str, raw: str) -> bool:
    if op == "Exists":
        return actual is not None
    if op == "NotExists":
        return actual is None
    if actual is None:
        return op == "NotEquals"
    if op == "In":
        return str(actual) in [v.strip() for v in raw.split(",")]
    if op == "Contains":
        return raw in str(actual)
    left: Any
    right: Any
    if isinstance(actual, bool):
        left, right = str(actual).lower(), raw.lower()
    elif isinstance(actual, int | float):
        left, right = float(actual), _time(raw)
    else:
        left, right = str(actual), raw
    return bool(
        {
            "Equals": left == right,
            "NotEquals": left != right,
            "GreaterThan": left > right,
            "GreaterThanOrEqualTo": left >= right,
            "LessThan": left < right,
            "LessThanOrEqualTo": left <= right,
        }[op]
    )


def _matches(expr: Doc | None, job: FakeJob) -> bool:
    if not expr:
        return True
    if expr.get("NestedFilters"):
        raise ApiError("ValidationException", "NestedFilters are not supported by the fake")
    results = [
        _compare(_prop(job, f["Name"]), f.get("Operator", "Equals"), str(f.get("Value", "")))
        for f in expr.get("Filters", ())
    ]
    results += [_matches(sub, job) for sub in expr.get("SubExpressions", ())]
    return any(results) if expr.get("Operator") == "Or" else all(results)


def _sortable(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value))
    return (2, "") if value is None else (1, str(value))


def search(store: JobStore, params: Doc, paging: Paging) -> Doc:
    if params.get("Resource") != "TrainingJob":
        raise ApiError("ValidationException", "The fake only searches Resource=TrainingJob")
    limit = _max_results(params)
    sort_by = str(params.get("SortBy", "LastModifiedTime"))
    descending = params.get("SortOrder", "Descending") == "Descending"
    _, after = _decode_token(params.get("NextToken"))
    expr = params.get("SearchExpression")
    for f in (expr or {}).get("Filters", ()):
        if f.get("Operator", "Equals") not in (
            "Equals",
            "NotEquals",
            "GreaterThan",
            "LessThan",
            "GreaterThanOrEqualTo",
            "LessThanOrEqualTo",
            "Contains",
            "Exists",
            "NotExists",
            "In",
        ):
            raise ApiError("ValidationException", f"Unknown operator {f.get('Operator')!r}")

    def key(job: FakeJob) -> Any:
        return (_sortable(_prop(job, sort_by)), job.name)

    ordered = sorted((j for j in store.jobs if _matches(expr, j)), key=key, reverse=descending)
    page, token = _page(ordered, key, after, descending, limit, params, paging)
    results = []
    for job in page:
        record = {k: v for k, v in job.doc.items() if k not in _NOT_IN_SEARCH}
        record["Tags"] = list(job.tags)
        results.append({"TrainingJob": record})
    out: Doc = {"Results": results}
    if token:
        out["NextToken"] = token
    return out
