"""The admin HTTP API under `/_sim/`, for demos and tests that drive the sim from outside the process.

    GET    /_sim/requests               recorded requests          DELETE /_sim/requests   forget them
    GET    /_sim/faults                 active faults              POST   /_sim/faults     add one (JSON)
    DELETE /_sim/faults                 clear faults
    PUT    /_sim/latency                {"seconds": 0.05}
    PUT    /_sim/dependencies           {"target": "orders-db:5432", "up": true}
    POST   /_sim/time                   {"advance": 300} moves the simulated clock forward

These endpoints need no token and add no latency; the server only listens on loopback.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from aiohttp import web

from .faults import Fault
from .requestlog import RecordedRequest

_FAULT_FIELDS = (
    "verb",
    "resource",
    "namespace",
    "name",
    "status",
    "delay",
    "times",
    "message",
    "user",
    "land",
    "drop",
    "dry_run",
)


class Controls(Protocol):
    @property
    def requests(self) -> list[RecordedRequest]: ...

    def clear_requests(self) -> None: ...

    def inject(self, fault: Fault) -> Fault: ...

    def clear_faults(self) -> None: ...

    def active_faults(self) -> list[Fault]: ...

    def set_latency(self, seconds: float) -> None: ...

    def set_dependency(self, target: str, up: bool) -> None: ...

    def advance_time(self, seconds: float) -> None: ...


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise web.HTTPBadRequest(text="body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object")
    return body


class _Admin:
    """The admin endpoints' handlers, one small method each."""

    def __init__(self, controls: Controls) -> None:
        self._controls = controls

    async def requests(self, _: web.Request) -> web.Response:
        return web.json_response([r.to_dict() for r in self._controls.requests])

    async def clear_requests(self, _: web.Request) -> web.Response:
        self._controls.clear_requests()
        return web.json_response({"cleared": True})

    async def faults(self, _: web.Request) -> web.Response:
        return web.json_response([f.to_dict() for f in self._controls.active_faults()])

    async def add_fault(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        try:
            fault = self._controls.inject(Fault(**{k: v for k, v in body.items() if k in _FAULT_FIELDS}))
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.json_response(fault.to_dict(), status=201)

    async def clear_faults(self, _: web.Request) -> web.Response:
        self._controls.clear_faults()
        return web.json_response({"cleared": True})

    async def latency(self, request: web.Request) -> web.Response:
        seconds = float((await _json_body(request)).get("seconds", 0.0))
        self._controls.set_latency(seconds)
        return web.json_response({"seconds": seconds})

    async def dependency(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        target, up = str(body["target"]), bool(body.get("up", True))
        self._controls.set_dependency(target, up)
        return web.json_response({"target": target, "up": up})

    async def advance(self, request: web.Request) -> web.Response:
        seconds = float((await _json_body(request)).get("advance", 0.0))
        self._controls.advance_time(seconds)
        return web.json_response({"advanced": seconds})


def admin_routes(controls: Controls) -> list[web.RouteDef]:
    admin = _Admin(controls)
    return [
        web.get("/_sim/requests", admin.requests),
        web.delete("/_sim/requests", admin.clear_requests),
        web.get("/_sim/faults", admin.faults),
        web.post("/_sim/faults", admin.add_fault),
        web.delete("/_sim/faults", admin.clear_faults),
        web.put("/_sim/latency", admin.latency),
        web.put("/_sim/dependencies", admin.dependency),
        web.post("/_sim/time", admin.advance),
    ]
