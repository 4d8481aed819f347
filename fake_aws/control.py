"""HTTP control plane of the fake SageMaker server, under /_fake/.

GET /_fake/stats, GET /_fake/info, GET|POST|DELETE /_fake/faults, DELETE /_fake/faults/{id},
POST /_fake/reset, POST /_fake/config, POST /_fake/tick, DELETE /_fake/jobs/{name}.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from aiohttp import web

from fake_aws.faults import FaultRule


class Controlled(Protocol):
    """What the control plane drives (fake_aws.server.FakeSageMaker); a Protocol so this
    module does not import the server that imports it."""

    churn: float
    hang_seconds: float

    def stats(self) -> dict[str, Any]: ...
    def info(self) -> dict[str, Any]: ...
    def add_fault(self, rule: FaultRule) -> int: ...
    def remove_fault(self, rule_id: int) -> bool: ...
    def clear_faults(self) -> None: ...
    def faults(self) -> list[dict[str, Any]]: ...
    def reset_stats(self) -> None: ...
    def reset(self, *, data: bool = False) -> None: ...
    def set_latency(self, ms: float, operation: str | None = None) -> None: ...
    def set_rate_limit(
        self, operation: str, rps: float | None, burst: float | None = None
    ) -> None: ...
    def set_paging(
        self, *, empty_page_every: int | None = None, max_page_size: int | None = None
    ) -> None: ...
    def tick(self, n: int = 1, churn: float | None = None) -> list[str]: ...
    def remove_job(self, name: str) -> bool: ...


def control_routes(app: web.Application, fake: Controlled) -> None:
    """HTTP control plane, so a benchmark in another process can drive the fake."""

    async def body(request: web.Request) -> Any:
        raw = await request.read()
        return json.loads(raw) if raw else {}

    def bad(exc: Exception) -> web.Response:
        return web.json_response({"error": str(exc)}, status=400)

    async def get_stats(_: web.Request) -> web.Response:
        return web.json_response(fake.stats())

    async def get_info(_: web.Request) -> web.Response:
        return web.json_response(fake.info())

    async def post_faults(request: web.Request) -> web.Response:
        try:
            data = await body(request)
            rules = [FaultRule.from_json(r) for r in (data if isinstance(data, list) else [data])]
        except (ValueError, TypeError) as exc:
            return bad(exc)
        return web.json_response({"ids": [fake.add_fault(r) for r in rules]})

    async def get_faults(_: web.Request) -> web.Response:
        return web.json_response(fake.faults())

    async def delete_faults(request: web.Request) -> web.Response:
        rule_id = request.match_info.get("rule_id")
        if rule_id is None:
            fake.clear_faults()
            return web.json_response({"cleared": True})
        return web.json_response({"removed": fake.remove_fault(int(rule_id))})

    async def post_reset(request: web.Request) -> web.Response:
        data = await body(request)
        if data.get("stats_only"):
            fake.reset_stats()
        else:
            fake.reset(data=bool(data.get("data", False)))
        return web.json_response({"reset": True})

    async def post_config(request: web.Request) -> web.Response:
        try:
            data = await body(request)
            if "latency_ms" in data:
                fake.set_latency(float(data["latency_ms"]))
            for op, ms in data.get("latency_ms_by_op", {}).items():
                fake.set_latency(float(ms), op)
            for op, rps in data.get("rate_limits", {}).items():
                fake.set_rate_limit(op, None if rps is None else float(rps), data.get("burst"))
            fake.set_paging(
                empty_page_every=data.get("empty_page_every"),
                max_page_size=data.get("max_page_size"),
            )
            for knob in ("churn", "hang_seconds"):
                if knob in data:
                    setattr(fake, knob, float(data[knob]))
        except (ValueError, TypeError, AttributeError) as exc:
            return bad(exc)
        return web.json_response(fake.info())

    async def post_tick(request: web.Request) -> web.Response:
        data = await body(request)
        return web.json_response({"changed": fake.tick(int(data.get("n", 1)), data.get("churn"))})

    async def delete_job(request: web.Request) -> web.Response:
        return web.json_response({"removed": fake.remove_job(request.match_info["name"])})

    app.router.add_get("/_fake/stats", get_stats)
    app.router.add_get("/_fake/info", get_info)
    app.router.add_get("/_fake/faults", get_faults)
    app.router.add_post("/_fake/faults", post_faults)
    app.router.add_delete("/_fake/faults", delete_faults)
    app.router.add_delete("/_fake/faults/{rule_id:\\d+}", delete_faults)
    app.router.add_post("/_fake/reset", post_reset)
    app.router.add_post("/_fake/config", post_config)
    app.router.add_post("/_fake/tick", post_tick)
    app.router.add_delete("/_fake/jobs/{name}", delete_job)
