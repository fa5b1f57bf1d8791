"""`SocketModeStandIn`: Slack's Socket Mode on loopback, in front of a `SlackStandIn`.

What Slack does, as slack_sdk's Socket Mode client sees it: `apps.connections.open` (called with the app-level
`xapp-` token on the Web API base URL) answers a one-off WebSocket URL; on connecting, the server sends
`{"type": "hello"}`; then envelopes `{"envelope_id", "type": "slash_commands" | "interactive" | "events_api",
"payload", "accepts_response_payload"}`, each of which the app acknowledges with `{"envelope_id", "payload"?}`;
`{"type": "disconnect", "reason": "refresh_requested"}` asks the app to open a new connection (through
`apps.connections.open` again). Slack redelivers an envelope whose ack it did not see: `send(...,
envelope_id=...)` with an id already sent does the same.

This server answers `apps.connections.open` and the WebSocket itself, and passes every other request (the rest
of the Web API, uploads, response URLs) through to the wrapped `SlackStandIn`, so the bot needs one base URL:

    async with SlackStandIn() as slack, SocketModeStandIn(slack) as socket:
        settings = Settings(slack_api_url=socket.api_url, slack_app_token=SecretStr(socket.app_token), ...)
        ...
        envelope = await socket.send("slash_commands", {"command": "/crashloop", "text": "help", ...})
        ack = await socket.ack(envelope)
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

from .server import SlackStandIn

APP_TOKEN = "xapp-1-A0APP0001-0000000000000-standin"
PASSED_HEADERS = ("Content-Type", "Retry-After")


@dataclass
class SocketEvents:
    """What happened on the socket side, for tests to assert on."""

    opened: int = 0  # successful apps.connections.open calls
    connections: int = 0  # WebSocket connections accepted
    sent: list[dict[str, Any]] = field(default_factory=list)  # every envelope sent, in order
    acks: list[dict[str, Any]] = field(default_factory=list)  # every ack received, in order


class SocketModeStandIn:
    """Socket Mode over loopback; see the module docstring."""

    def __init__(self, slack: SlackStandIn, *, app_token: str = APP_TOKEN, host: str = "127.0.0.1") -> None:
        self.slack = slack
        self.app_token = app_token
        self.events = SocketEvents()
        self._host = host
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self._connected = asyncio.Condition()
        self._acked: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)

    # --- lifecycle ----------------------------------------------------------------------------------------------

    async def start(self) -> Self:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/apps.connections.open", self._open)
        app.router.add_get("/link", self._link)
        app.router.add_route("*", "/{tail:.*}", self._pass_through)
        self._http = aiohttp.ClientSession()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, 0).start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """The Web API base URL to give the bot (`SLACK_API_URL`): this server, passing through to the stand-in."""
        return f"http://{self._host}:{self._port}/api/"

    # --- driving it ---------------------------------------------------------------------------------------------

    async def wait_connected(self, connections: int = 1, within: float = 10.0) -> None:
        """Until `connections` WebSocket connections have been accepted in all (and one is open)."""

        def ready() -> bool:
            return self.events.connections >= connections and any(not ws.closed for ws in self._sockets)

        async with self._connected:
            await asyncio.wait_for(self._connected.wait_for(ready), within)

    async def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool = True,
    ) -> str:
        """Send an envelope on the newest open connection; returns its envelope_id (reuse one to redeliver)."""
        envelope_id = envelope_id or f"env-{next(self._ids):04d}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": sum(1 for e in self.events.sent if e["envelope_id"] == envelope_id),
            "retry_reason": "",
        }
        self._acked.setdefault(envelope_id, asyncio.get_running_loop().create_future())
        self.events.sent.append(envelope)
        await self._socket().send_str(json.dumps(envelope))
        return envelope_id

    async def ack(self, envelope_id: str, within: float = 10.0) -> dict[str, Any]:
        """The first ack of `envelope_id` (waits for it)."""
        return await asyncio.wait_for(asyncio.shield(self._acked[envelope_id]), within)

    def acks_of(self, envelope_id: str) -> list[dict[str, Any]]:
        return [a for a in self.events.acks if a.get("envelope_id") == envelope_id]

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the app to reconnect, as Slack does every few hours (and before a server restart)."""
        await self._socket().send_str(json.dumps({"type": "disconnect", "reason": reason, "debug_info": {}}))

    # --- the server side ----------------------------------------------------------------------------------------

    def _socket(self) -> web.WebSocketResponse:
        open_sockets = [ws for ws in self._sockets if not ws.closed]
        if not open_sockets:
            raise RuntimeError("no Socket Mode connection is open")
        return open_sockets[-1]

    async def _open(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "") != f"Bearer {self.app_token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        self.events.opened += 1
        url = f"ws://{self._host}:{self._port}/link?ticket={self.events.opened}"
        return web.json_response({"ok": True, "url": url})

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps(_hello(self.events.connections + 1)))
        async with self._connected:
            self.events.connections += 1
            self._connected.notify_all()
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self._received(json.loads(message.data))
        return ws

    def _received(self, message: dict[str, Any]) -> None:
        envelope_id = message.get("envelope_id")
        if not envelope_id:
            return
        self.events.acks.append(message)
        future = self._acked.get(envelope_id)
        if future is not None and not future.done():
            future.set_result(message)

    async def _pass_through(self, request: web.Request) -> web.Response:
        """Any other request goes to the Slack stand-in unchanged."""
        assert self._http is not None
        target = f"{self.slack.base_url}{request.match_info['tail']}"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self._http.request(
            request.method, target, params=request.query, data=await request.read(), headers=headers
        ) as answer:
            body = await answer.read()
            passed = {k: answer.headers[k] for k in PASSED_HEADERS if k in answer.headers and k != "Content-Type"}
            return web.Response(status=answer.status, body=body, headers=passed, content_type=answer.content_type)


def _hello(connection: int) -> dict[str, Any]:
    return {
        "type": "hello",
        "num_connections": connection,
        "debug_info": {"host": "applink-standin", "approximate_connection_time": 18060},
        "connection_info": {"app_id": "A0APP0001"},
    }
