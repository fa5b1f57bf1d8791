"""The HTTP face of the simulated apiserver (aiohttp): routing, bearer auth, latency, faults, request log.

Every API request is authenticated (when the sim has a token), delayed by the configured latency, checked against
injected faults, answered by the cluster (`api.py`) or a discovery document, and recorded. Health endpoints and
the admin API under `/_sim/` skip auth, latency and faults.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import discovery, openapi
from .api import ClusterApi
from .errors import ApiError, path_not_found, unauthorized
from .faults import Fault, FaultSet
from .messages import ApiRequest, ApiResponse, Target, verb_for
from .requestlog import RecordedRequest, RequestLog, parse_logged_body
from .routing import Discovery, parse_path
from .watch import WatchHub

JsonObj = dict[str, Any]

_HEALTH = {"/healthz", "/livez", "/readyz"}


@dataclass
class Settings:
    """What can be changed while the server runs (from any thread)."""

    latency: float = 0.0
    token: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get_latency(self) -> float:
        with self.lock:
            return self.latency

    def set_latency(self, seconds: float) -> None:
        with self.lock:
            self.latency = max(0.0, float(seconds))


@dataclass(frozen=True)
class Services:
    api: ClusterApi
    faults: FaultSet
    log: RequestLog
    settings: Settings
    hub: WatchHub


def _json(status: int, body: JsonObj | str, content_type: str = "application/json") -> web.Response:
    """A response with the apiserver's exact Content-Type (no charset parameter)."""
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return web.Response(status=status, body=data, headers={"Content-Type": content_type})


def _discovery(services: Services, doc: Discovery) -> JsonObj | None:
    registry = services.api.ctx.registry
    if doc.document == "version":
        return discovery.version_info()
    if doc.document == "api":
        return discovery.api_versions()
    if doc.document == "apis":
        return discovery.api_group_list(registry)
    if doc.document == "group":
        return discovery.api_group(registry, doc.group)
    if doc.document == "openapi":
        return (
            openapi.group_version_document(registry, doc.group, doc.version)
            if doc.version
            else (openapi.root_document(registry))
        )
    return discovery.api_resource_list(registry, doc.group, doc.version)


def _authorized(services: Services, request: web.Request) -> bool:
    token = services.settings.token
    return token is None or request.headers.get("Authorization", "") == f"Bearer {token}"


def _resource_name(target: Target) -> str:
    return f"{target.rt.plural}/{target.subresource}" if target.subresource else target.rt.plural


async def _answer(
    services: Services, request: web.Request, target: Target, api_request: ApiRequest, verb: str
) -> web.StreamResponse | ApiResponse | None:
    """The answer to an API call (None: the connection is dropped); the call is recorded once answered, or, when
    a fault loses its answer, once it was carried out."""
    dry_run = "dryRun" in request.query
    fault = services.faults.take(verb, _resource_name(target), target.namespace, target.name, dry_run=dry_run)
    if fault is not None and fault.land and verb != "watch":
        return await _lose_answer(services, request, api_request, fault, target, verb)
    answer = await _faulted_or_handled(services, request, target, api_request, verb, fault)
    _record(services, request, api_request.body, answer.status, target, verb)
    return answer


async def _faulted_or_handled(
    services: Services, request: web.Request, target: Target, api_request: ApiRequest, verb: str, fault: Fault | None
) -> web.StreamResponse | ApiResponse:
    if fault is not None:
        if fault.delay > 0:
            await asyncio.sleep(fault.delay)
        err = fault.error(target.rt.group, _resource_name(target), verb, target.namespace, target.name)
        if err is not None:
            return ApiResponse(err.code, err.status())
    if verb == "watch":
        return await services.hub.stream(request, api_request)
    return services.api.handle(api_request)


async def _lose_answer(
    services: Services, request: web.Request, api_request: ApiRequest, fault: Fault, target: Target, verb: str
) -> ApiResponse | None:
    """Carry the call out, record it, then delay its answer, replace it by an error, or never send it."""
    done = services.api.handle(api_request)
    err = fault.error(target.rt.group, _resource_name(target), verb, target.namespace, target.name)
    answer = None if fault.drop else ApiResponse(err.code, err.status()) if err is not None else done
    _record(services, request, api_request.body, answer.status if answer is not None else 0, target, verb)
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    if answer is None and request.transport is not None:
        request.transport.abort()
    return answer


def _record(
    services: Services, request: web.Request, raw: bytes, status: int, target: Target | None, verb: str
) -> None:
    services.log.append(
        RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            content_type=request.headers.get("Content-Type", ""),
            body=parse_logged_body(raw),
            status=status,
            verb=verb,
            resource=_resource_name(target) if target else "",
            namespace=target.namespace if target else None,
            name=target.name if target else None,
            at=time.time(),
        )
    )


def _serve_discovery(services: Services, request: web.Request, raw: bytes, route: Discovery | None) -> web.Response:
    body = _discovery(services, route) if route is not None and request.method == "GET" else None
    status = 200 if body is not None else 404
    _record(services, request, raw, status, None, "get")
    return _json(status, body if body is not None else path_not_found().status())


async def _serve_api(services: Services, request: web.Request, raw: bytes, route: Target) -> web.StreamResponse:
    verb = verb_for(request.method, route, request.query)
    headers = request.headers
    api_request = ApiRequest(
        request.method, route, dict(request.query), raw, headers.get("Content-Type", ""), headers.get("Accept", "")
    )
    answer = await _answer(services, request, route, api_request, verb)
    if answer is None:  # the connection was dropped after the call was carried out
        return web.Response(status=204)
    if isinstance(answer, ApiResponse):
        return _json(answer.status, answer.body, answer.content_type)
    return answer


async def _handle(services: Services, request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    if request.path in _HEALTH:
        return web.Response(text="ok")
    if not _authorized(services, request):
        _record(services, request, raw, 401, None, "")
        return _json(401, unauthorized().status())
    latency = services.settings.get_latency()
    if latency > 0:
        await asyncio.sleep(latency)
    route = parse_path(request.path, services.api.ctx.registry)
    if isinstance(route, Target):
        return await _serve_api(services, request, raw, route)
    return _serve_discovery(services, request, raw, route)


def build_app(services: Services, admin: list[web.RouteDef]) -> web.Application:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.add_routes(admin)

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await _handle(services, request)
        except ApiError as err:
            return _json(err.code, err.status())

    app.router.add_route("*", "/{tail:.*}", handle)
    return app
