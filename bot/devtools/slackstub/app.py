"""The stand-in's HTTP surface: `/api/<method>`, the upload URLs, file downloads and response URLs.

Each Web API call goes through the same steps as at Slack: unknown method, then any scripted failure, then the
token check (`not_authed` / `invalid_auth`), then the per-channel rate limit, then the method itself. Every call is
recorded with its arguments and the answer given. A call whose answer is to be lost takes effect, then its answer
is delayed or its connection dropped (see `FailurePlan.lose_answers`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from .errors import ApiError
from .failures import FailurePlan
from .http_io import ApiRequest, json_response, read_api_request, read_response_url_body, read_upload
from .methods import Handler, method_table
from .methods_files import receive_upload
from .models import Call
from .response_urls import handle_post
from .state import Workspace

MAX_UPLOAD_BYTES = 64 * 1024 * 1024

Answer = tuple[int, dict[str, Any], dict[str, str]]


class StandInApp:
    """Routes and request handlers over one workspace and one failure plan."""

    def __init__(self, ws: Workspace, failures: FailurePlan) -> None:
        self._ws = ws
        self._failures = failures
        self._methods: dict[str, Handler] = method_table()

    def build(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/v1/{file_id}", self._upload)
        app.router.add_get("/files/{file_id}/{name}", self._download)
        app.router.add_post("/response_url/{url_id}", self._response_url)
        return app

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            call = await read_api_request(request)
        except ApiError as exc:
            call = ApiRequest(args={}, token=None, content_type=request.content_type)
            status, body, headers = 200, exc.body(), dict[str, str]()
        else:
            status, body, headers = self._answer(method, call)
        self._ws.record(Call(method, call.args, status, body, time.time(), call.token, call.content_type))
        lost = self._failures.take_lost(method)
        if lost is not None:
            await asyncio.sleep(lost.delay)
            if lost.drop and request.transport is not None:
                request.transport.abort()  # done, but the client never hears of it
                raise asyncio.CancelledError
        return json_response(status, body, headers)

    def _answer(self, method: str, call: ApiRequest) -> Answer:
        handler = self._methods.get(method)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method", "req_method": method}, {}
        failure = self._failures.take(method)
        if failure is not None:
            return failure.status, failure.body, failure.headers
        if not call.token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if call.token not in self._ws.config.tokens:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        channel = call.args.get("channel")
        limited = self._failures.check_rate(method, channel if isinstance(channel, str) else None)
        if limited is not None:
            return limited.status, limited.body, limited.headers
        return self._run(handler, call)

    def _run(self, handler: Handler, call: ApiRequest) -> Answer:
        with self._ws.lock:
            try:
                return 200, {"ok": True, **handler(self._ws, call.args)}, {}
            except ApiError as exc:
                return 200, exc.body(), {}

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        data = await read_upload(request)
        failure = self._failures.take("upload_url")
        if failure is not None:
            status, text = failure.status, str(failure.body.get("error"))
        else:
            with self._ws.lock:
                status, text = receive_upload(self._ws, file_id, data)
        args = {"file_id": file_id, "length": len(data)}
        response = {"ok": status == 200, "body": text}
        self._ws.record(Call("upload_url", args, status, response, time.time(), None, request.content_type))
        return web.Response(status=status, text=text, content_type="text/plain")

    async def _download(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if token not in self._ws.config.tokens:
            return web.Response(status=403, text="forbidden")
        with self._ws.lock:
            uploaded = self._ws.files.get(request.match_info["file_id"])
            content = uploaded.content if uploaded is not None and uploaded.completed else None
        if content is None:
            return web.Response(status=404, text="file_not_found")
        return web.Response(body=content, content_type="application/octet-stream")

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await read_response_url_body(request)
        failure = self._failures.take("response_url")
        if failure is not None:
            status, answer, headers = failure.status, failure.body, failure.headers
        else:
            with self._ws.lock:
                status, answer = handle_post(self._ws, str(request.url), request.match_info["url_id"], body)
            headers = {}
        args = body if isinstance(body, dict) else {"raw": body}
        self._ws.record(Call("response_url", args, status, answer, time.time(), None, request.content_type))
        return json_response(status, answer, headers)
