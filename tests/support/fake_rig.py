"""A fake AWS and an exporter wired to it, with timeouts and attempts cut so a hanging API
costs seconds: the rig of the fault, backfill and CloudWatch-fault tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

from exporter.app import Exporter, Plan
from exporter.cli import load_settings
from fake_aws.server import FakeSageMaker
from tests.support.exposition import Samples, find, value
from tests.support.harness import Harness

US, EU = "us-east-1", "eu-west-1"
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
OTHER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/exporter"
J = "sagemaker_training_job_"


@asynccontextmanager
async def rig(
    *flags: str,
    jobs: int = 30,
    in_progress: int = 8,
    max_attempts: int = 2,
    timeout: float = 0.5,
    **fake_kw: Any,
) -> AsyncIterator[tuple[FakeSageMaker, Harness]]:
    """A fake (no background churn: the test moves jobs with fake.tick) and an exporter.

    Timeouts and attempts are cut from the production 5 s / 20 s / 4 so a hanging API costs
    seconds, not minutes; there is no flag for them yet, so the plan is edited directly."""
    fake_kw.setdefault("tick_interval", 0)
    async with FakeSageMaker(jobs=jobs, in_progress=in_progress, seed=11, **fake_kw) as fake:
        argv = ["--endpoint-url", fake.endpoint_url, "--listen-address", "127.0.0.1:0", *flags]
        if "--region" not in flags:
            argv += ["--region", US]
        exp = Exporter(load_settings(argv, environ={}))
        aws = replace(
            exp.plan.aws, connect_timeout=timeout, read_timeout=timeout, max_attempts=max_attempts
        )
        exp.plan = Plan(exp.plan.targets, aws)
        async with exp:
            await exp.start_http()
            yield fake, Harness(exp)


def statuses(s: Samples, region: str = US) -> dict[str, tuple[str, str]]:
    """job -> (status, secondary status) as exported."""
    out: dict[str, tuple[str, str]] = {}
    for labels, v in find(s, J + "status", region=region).items():
        if v == 1:
            d = dict(labels)
            out[d["training_job"]] = (d["status"], "")
    for labels in find(s, J + "secondary_status", region=region):
        d = dict(labels)
        out[d["training_job"]] = (out[d["training_job"]][0], d["secondary_status"])
    return out


def attempts(
    s: Samples, op: str, outcome: str, region: str = US, account_id: str = ACCOUNT
) -> float:
    return (
        value(
            s,
            "sagemaker_exporter_api_requests_total",
            operation=op,
            outcome=outcome,
            region=region,
            account_id=account_id,
        )
        or 0.0
    )


def problems(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e.get("log_level") in ("warning", "error", "critical")]
