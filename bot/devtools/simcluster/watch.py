"""Watches (`?watch=true`): a stream of `{"type": "ADDED|MODIFIED|DELETED", "object": ...}` lines.

Store changes happen under the cluster lock in whatever thread made them; the hub renders each change once per
open stream that selects it and hands it to that stream's asyncio queue on the server loop. Without a
resourceVersion (or with "0") a watch starts with ADDED events for the current objects, as the apiserver does.
Restart counts that grow with time are not changes and produce no events.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .api import ClusterApi
from .messages import ApiRequest
from .negotiation import partial, representation
from .resources import ResourceType
from .store import clone
from .tables import table

JsonObj = dict[str, Any]
_CLOSE: tuple[str, JsonObj] = ("CLOSE", {})


@dataclass(eq=False)
class _Subscriber:
    request: ApiRequest
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[str, JsonObj]] = field(default_factory=asyncio.Queue)


class WatchHub:
    def __init__(self, api: ClusterApi) -> None:
        self._api = api
        self._subscribers: set[_Subscriber] = set()
        self._unsubscribe = api.ctx.store.subscribe(self._on_change)

    def close(self) -> None:
        """End every open stream (server shutdown)."""
        with self._api.lock:
            for sub in list(self._subscribers):
                sub.loop.call_soon_threadsafe(sub.queue.put_nowait, _CLOSE)
            self._subscribers.clear()
            self._unsubscribe()

    def _on_change(self, event: str, rt: ResourceType, obj: JsonObj) -> None:
        for sub in list(self._subscribers):
            if sub.request.target.rt != rt:
                continue
            rendered = self._api.render(rt, clone(obj))
            if self._api.selects(sub.request, rendered):
                sub.loop.call_soon_threadsafe(sub.queue.put_nowait, (event, self._shape(sub.request, rendered)))

    def _shape(self, request: ApiRequest, obj: JsonObj) -> JsonObj:
        wanted = representation(request.accept)
        if wanted == "Table":
            ctx = self._api.ctx
            include = request.query.get("includeObject") or "Metadata"
            return table(request.target.rt, [obj], ctx.store.resource_version, ctx.clock.now(), include)
        return partial(obj) if wanted.startswith("PartialObjectMetadata") else obj

    async def stream(self, http_request: web.Request, request: ApiRequest) -> web.StreamResponse:
        sub = _Subscriber(request, asyncio.get_running_loop())
        with self._api.lock:
            self._api.controllers.catch_up()
            initial = [] if request.query.get("resourceVersion", "0") not in ("", "0") else self._api.matching(request)
            for obj in initial:
                sub.queue.put_nowait(("ADDED", self._shape(request, obj)))
            self._subscribers.add(sub)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(http_request)
        try:
            await self._pump(sub, response, float(request.query.get("timeoutSeconds") or 1800))
        finally:
            with self._api.lock:
                self._subscribers.discard(sub)
        return response

    @staticmethod
    async def _pump(sub: _Subscriber, response: web.StreamResponse, lifetime: float) -> None:
        deadline = asyncio.get_running_loop().time() + lifetime
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            try:
                event, obj = await asyncio.wait_for(sub.queue.get(), remaining)
            except TimeoutError:
                return
            if (event, obj) == _CLOSE:
                return
            line = json.dumps({"type": event, "object": obj}) + "\n"
            try:
                await response.write(line.encode())
            except ConnectionResetError:
                return
