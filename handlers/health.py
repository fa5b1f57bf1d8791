"""GET /healthz (the process answers), /readyz (database writable, Kubernetes reachable), /metrics (Prometheus).

Ready means able to take alerts: the database answering a read is not enough (a locked SQLite file, a full disk
or a read-only replica answer SELECT 1 and refuse every webhook), so the outcome of the latest write — the
instance heartbeat every few seconds, or an alert delivery — counts too.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.wiring import SERVICES

log = logging.getLogger("crashloop.health")


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(services.store.ping(), 3)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason is shown
        checks["database"] = f"failed: {type(exc).__name__}"
    write_error = services.store.instances.health.error
    checks["database_writes"] = "ok" if write_error is None else f"failed: {write_error}"
    for env in services.config.environments:
        try:
            await services.triager.ping(env)
            checks[f"kubernetes:{env}"] = "ok"
        except Exception as exc:
            checks[f"kubernetes:{env}"] = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
    ready = all(v == "ok" for v in checks.values())
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[SERVICES].metrics.registry
    body = generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def routes() -> list[web.RouteDef]:
    return [web.get("/healthz", healthz), web.get("/readyz", readyz), web.get("/metrics", metrics)]
