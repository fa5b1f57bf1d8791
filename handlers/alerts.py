"""POST /alerts/alertmanager and /alerts/cubeapm: authenticate, bound, validate, persist, reply.

The reply is sent only after the alerts are committed to the database, so a 2xx means nothing can be lost;
processing happens afterwards in the incident queue. A rejected request is answered with the reason and
nothing about it is processed. Alertmanager retries 5xx forever, so a database outage answers 503.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid

from aiohttp import web
from pydantic import ValidationError

from bot.store import StoreUnavailable
from bot.wiring import SERVICES, Services
from handlers import alert_payloads

MAX_BODY = 1024 * 1024
log = logging.getLogger("crashloop.alerts")


def _reject(services: Services, source: str, status: int, reason: str, message: str) -> web.Response:
    services.metrics.alerts_rejected.labels(source, reason).inc()
    log.warning(
        "webhook %s refused: %d %s: %s",
        source,
        status,
        reason,
        message,
        extra={"source": source, "status": status, "reason": reason},
    )
    return web.json_response({"error": reason, "message": message}, status=status)


def _authorized(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


async def _read_body(request: web.Request) -> bytes | None:
    """The body, or None when it exceeds MAX_BODY (checked before and while reading)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    body = bytearray()
    while len(body) <= MAX_BODY:  # read() returns what has arrived so far, not the whole body
        chunk = await request.content.read(MAX_BODY + 1 - len(body))
        if not chunk:
            break
        body.extend(chunk)
    return None if len(body) > MAX_BODY else bytes(body)


async def intake(request: web.Request, source: str) -> web.Response:
    request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
    response = await _intake(request, source, request_id)
    response.headers["X-Request-Id"] = request_id
    return response


async def _intake(request: web.Request, source: str, request_id: str) -> web.Response:
    services = request.app[SERVICES]
    token = services.settings.crashloop_webhook_token
    if token is None or not _authorized(request, token.get_secret_value()):
        return _reject(services, source, 401, "unauthorized", "send Authorization: Bearer <CRASHLOOP_WEBHOOK_TOKEN>")
    body = await _read_body(request)
    if body is None:
        return _reject(services, source, 413, "too_large", f"the body exceeds {MAX_BODY} bytes")
    try:
        payload = alert_payloads.parse(json.loads(body))
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ValidationError):
            return _reject(services, source, 400, "invalid_schema", alert_payloads.describe(exc))
        return _reject(services, source, 400, "invalid_json", f"the body is not JSON: {exc}")
    alerts = alert_payloads.normalize(payload, source)
    try:
        new, duplicates = await services.store.add_alerts(alerts)
    except StoreUnavailable as exc:
        log.error("could not store %d alert(s): %s", len(alerts), exc, extra={"request_id": request_id})
        return _reject(services, source, 503, "store_unavailable", "alerts could not be stored; retry")
    services.metrics.alerts_received.labels(source).inc(new)
    services.metrics.alerts_deduplicated.labels(source).inc(duplicates)
    if payload.truncatedAlerts:
        log.warning("%s truncated %d alert(s) from a delivery", source, payload.truncatedAlerts)
    services.wake_worker()
    log.info(
        "%s delivery: %d new, %d duplicate alert(s)",
        source,
        new,
        duplicates,
        extra={"request_id": request_id},
    )
    return web.json_response({"accepted": new, "duplicates": duplicates}, status=202)


async def alertmanager(request: web.Request) -> web.Response:
    return await intake(request, "alertmanager")


async def cubeapm(request: web.Request) -> web.Response:
    return await intake(request, "cubeapm")


def routes() -> list[web.RouteDef]:
    return [web.post("/alerts/alertmanager", alertmanager), web.post("/alerts/cubeapm", cubeapm)]
