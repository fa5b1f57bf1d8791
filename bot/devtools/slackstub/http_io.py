"""Turning HTTP requests into method arguments, the way Slack accepts them.

The Web API takes arguments from the query string, from `application/x-www-form-urlencoded` or
`multipart/form-data` bodies, and from `application/json` bodies; the token comes from `Authorization: Bearer ...`
or a `token` argument. slack_sdk uses each of these styles for different methods, so all are merged here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .errors import ApiError

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


@dataclass(frozen=True)
class ApiRequest:
    """A Web API call's arguments (token removed), its token and how the body was encoded."""

    args: dict[str, Any]
    token: str | None
    content_type: str


async def read_api_request(request: web.Request) -> ApiRequest:
    """Merge query and body arguments; raises `invalid_json`/`invalid_form_data`/`invalid_post_type` like Slack."""
    args: dict[str, Any] = dict(request.query)
    content_type = request.content_type if request.can_read_body else ""
    if request.can_read_body:
        args.update(await _read_body(request))
    body_token = args.pop("token", None)
    token = _bearer(request.headers.get("Authorization")) or (str(body_token) if body_token else None)
    return ApiRequest(args=args, token=token, content_type=content_type)


async def _read_body(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        try:
            body = json.loads(await request.read() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError("invalid_json") from None
        if not isinstance(body, dict):
            raise ApiError("invalid_json")
        return body
    if request.content_type in FORM_TYPES:
        try:
            return _form_values(await request.post())
        except ValueError:
            raise ApiError("invalid_form_data") from None
    if await request.read():
        raise ApiError("invalid_post_type")
    return {}


def _form_values(form: Mapping[str, object]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in form.items():
        values[key] = value.file.read() if isinstance(value, web.FileField) else value
    return values


def _bearer(header: str | None) -> str | None:
    if header and header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


async def read_upload(request: web.Request) -> bytes:
    """The bytes POSTed to an upload URL: the raw body, or the file part of a multipart form."""
    if request.content_type == "multipart/form-data":
        form = await request.post()
        parts = [form[k] for k in ("file", "filename") if k in form] + list(form.values())
        for part in parts:
            if isinstance(part, web.FileField):
                return part.file.read()
        return str(parts[0]).encode() if parts else b""
    return await request.read()


async def read_response_url_body(request: web.Request) -> Any:
    """A response URL POST: a JSON body, or a form with a JSON `payload` field; None when unreadable."""
    try:
        if request.content_type in FORM_TYPES:
            form = await request.post()
            payload = form.get("payload")
            return json.loads(payload) if isinstance(payload, str) else None
        return json.loads(await request.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None


def json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer with Slack's content type."""
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/json",
        charset="utf-8",
        headers=headers or {},
    )
