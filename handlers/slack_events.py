"""POST /slack/events, hardened: headers, signature and body are checked before Bolt sees the request.

Bolt reads and parses the body before it verifies the signature, and a malformed header or body raised inside it
(a 500 for anything a client can send). Here, in order:
1. a `X-Slack-Request-Timestamp` that is not an integer or a `X-Slack-Signature` that is not ASCII → 401;
2. the signature (HMAC of `v0:{timestamp}:{body}`, timestamp within five minutes) is verified → 401;
3. only then is the body parsed as Slack sends it (JSON, or a form whose `payload` is JSON) and a view's
   `private_metadata` (the bot's own JSON) checked → 400 naming the problem.
A request that passes all three is handed to Bolt unchanged (Bolt verifies the signature again: cheap).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.wiring import SERVICES

MAX_AGE_SECONDS = 5 * 60  # as Slack advises: an older timestamp may be a replay
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refuse(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def _header_problem(timestamp: str, signature: str) -> str | None:
    if not (timestamp.isascii() and timestamp.isdigit()):
        return "X-Slack-Request-Timestamp must be an integer (seconds since the epoch)"
    if not signature.isascii():
        return "X-Slack-Signature must be ASCII (v0=<hex>)"
    return None


def _signed(secret: str, body: bytes, timestamp: str, signature: str) -> bool:
    if abs(time.time() - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def body_problem(text: str, content_type: str | None) -> str | None:
    """What is wrong with a signed body, parsed exactly as Bolt parses it; None when it parses."""
    if not text:
        return None
    try:
        if content_type == "application/json" or text.startswith("{"):
            payload: Any = json.loads(text)
        elif "payload" in text:
            form = dict(parse_qsl(text, keep_blank_values=True))
            if "payload" not in form:
                return None
            payload = json.loads(form["payload"])
        else:
            return None  # a slash command: a plain form
    except (ValueError, RecursionError) as exc:
        return f"the payload is not JSON: {str(exc)[:200]}"
    if not isinstance(payload, dict):
        return "the payload must be a JSON object"
    return _shape_problem(payload)


def _shape_problem(payload: dict[str, Any]) -> str | None:
    """The parts Slack always sends and Bolt reads without checking (a missing one raised inside Bolt)."""
    kind = payload.get("type")
    if kind == "event_callback" and not isinstance(payload.get("event"), dict):
        return "an event_callback needs an `event` object"
    actions = payload.get("actions")
    if kind == "block_actions" and not (isinstance(actions, list) and actions and isinstance(actions[0], dict)):
        return "block_actions needs a non-empty `actions` list of objects"
    view = payload.get("view")
    if kind in ("view_submission", "view_closed") and not (
        isinstance(view, dict) and isinstance(view.get("type"), str) and isinstance(view.get("callback_id"), str)
    ):
        return f"{kind} needs a `view` object with `type` and `callback_id`"
    if isinstance(view, dict) and view.get("private_metadata"):
        try:
            private = json.loads(str(view["private_metadata"]))
        except (ValueError, RecursionError) as exc:
            return f"view.private_metadata is not JSON: {str(exc)[:200]}"
        if not isinstance(private, dict):
            return "view.private_metadata must be a JSON object"
    return None


def hardened(dispatch: Handler) -> Handler:
    """`dispatch` (Bolt) behind the checks of this module."""

    async def handle(request: web.Request) -> web.StreamResponse:
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        problem = _header_problem(timestamp, signature)
        if problem:
            return _refuse(401, "invalid_request", problem)
        body = await request.read()
        secret = request.app[SERVICES].settings.slack_signing_secret
        if secret is None or not _signed(secret.get_secret_value(), body, timestamp, signature):
            return _refuse(401, "invalid_signature", "the request is not signed with this app's signing secret")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(400, "invalid_body", "the body is not UTF-8")
        problem = body_problem(text, request.content_type)
        if problem:
            return _refuse(400, "invalid_body", problem)
        return await dispatch(request)

    return handle
