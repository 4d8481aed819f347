"""Fault rules, token-bucket rate limits and call counters for the fake SageMaker server."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

FaultKind = Literal[
    "server_error",  # HTTP 5xx with an InternalFailure / ServiceUnavailable body
    "throttle",  # HTTP 400 ThrottlingException "Rate exceeded"
    "timeout",  # hang for hang_seconds (longer than the client's read timeout), then answer
    "reset",  # close the TCP connection with RST, no response at all
    "access_denied",  # HTTP 400 AccessDeniedException
    "expired_token",  # HTTP 400 ExpiredTokenException
    "vanish",  # DescribeTrainingJob/ListTags: the job is deleted now, answer "not found"
    "malformed_json",  # HTTP 200 whose body is not JSON
    "truncated_json",  # HTTP 200 with the real body cut in half (Content-Length matches)
    "short_body",  # HTTP 200 declaring the full Content-Length, half the body, then close
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
OPERATIONS = (
    "ListTrainingJobs",
    "DescribeTrainingJob",
    "ListTags",
    "Search",
    "ListHyperParameterTuningJobs",
    "DescribeHyperParameterTuningJob",
)
CLOUDWATCH_OPERATIONS = ("GetMetricData",)  # served by fake_aws.cloudwatch
OUTCOMES = ("ok", "throttled", "error")
# vanish needs a job named by the request; other operations ignore vanish rules
VANISH_OPERATIONS = frozenset({"DescribeTrainingJob", "ListTags"})


@dataclass(frozen=True)
class FaultRule:
    """Inject `kind` into matching calls.

    count=None means forever; fraction is the share of matching calls hit (seeded RNG, so a
    given call sequence always gets the same faults). With count set, the rule expires after
    it fired count times.
    """

    kind: FaultKind
    operation: str | None = None
    count: int | None = None
    fraction: float = 1.0
    status: int = 500  # server_error only: 500/503 answer JSON, other 5xx an HTML page
    hang_seconds: float | None = None  # timeout only; None: the server's default
    region: str | None = None  # only requests signed for this region
    account_id: str | None = None  # only requests from this account (see fake_aws.sts)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {FAULT_KINDS}")
        known = OPERATIONS + CLOUDWATCH_OPERATIONS
        if self.operation is not None and self.operation not in known:
            raise ValueError(f"unknown operation {self.operation!r}; one of {known}")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError("fraction must be within [0, 1]")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1 (or None for no limit)")
        if self.kind == "server_error" and not 500 <= self.status <= 599:
            raise ValueError("server_error status must be 5xx")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        allowed = set(cls.__dataclass_fields__)
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}")
        return cls(**data)


@dataclass
class _ActiveRule:
    rule: FaultRule
    remaining: int | None
    fired: int = 0


class FaultPlan:
    """Ordered fault rules; the first matching rule that fires wins."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._rules: dict[int, _ActiveRule] = {}
        self._next_id = 1
        # the HTTP control endpoint and the Python API may run on different threads
        # only in the CLI; a lock keeps the rule list consistent either way
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> int:
        with self._lock:
            rule_id = self._next_id
            self._next_id += 1
            self._rules[rule_id] = _ActiveRule(rule, rule.count)
            return rule_id

    def remove(self, rule_id: int) -> bool:
        with self._lock:
            return self._rules.pop(rule_id, None) is not None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._rng = random.Random(self._seed)

    def pick(
        self, operation: str, region: str | None = None, account_id: str | None = None
    ) -> FaultRule | None:
        with self._lock:
            for rule_id, active in list(self._rules.items()):
                rule = active.rule
                if rule.operation not in (None, operation):
                    continue
                if rule.region not in (None, region) or rule.account_id not in (None, account_id):
                    continue
                if rule.kind == "vanish" and operation not in VANISH_OPERATIONS:
                    continue
                if rule.fraction < 1.0 and self._rng.random() >= rule.fraction:
                    continue
                active.fired += 1
                if active.remaining is not None:
                    active.remaining -= 1
                    if active.remaining <= 0:
                        del self._rules[rule_id]
                return rule
            return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"id": rid, **asdict(a.rule), "remaining": a.remaining, "fired": a.fired}
                for rid, a in self._rules.items()
            ]


@dataclass
class TokenBucket:
    """rate tokens per second, up to burst; one token per call."""

    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        if self.tokens < 0:
            self.tokens = self.burst

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Stats:
    """Calls served per operation and outcome, and faults injected per kind."""

    def __init__(self) -> None:
        self._calls: Counter[tuple[str, str]] = Counter()
        self._faults: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, operation: str, outcome: str, fault: str | None = None) -> None:
        with self._lock:
            self._calls[(operation, outcome)] += 1
            if fault:
                self._faults[fault] += 1

    def calls(self, operation: str | None = None, outcome: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (op, out), n in self._calls.items()
                if operation in (None, op) and outcome in (None, out)
            )

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            ops: dict[str, dict[str, int]] = {}
            for (op, outcome), n in sorted(self._calls.items()):
                ops.setdefault(op, dict.fromkeys(OUTCOMES, 0))[outcome] = n
            return {
                "operations": ops,
                "faults": dict(sorted(self._faults.items())),
                "total": sum(self._calls.values()),
            }

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._faults.clear()
