"""POST /alerts/alertmanager and /alerts/cubeapm: authenticate, bound, validate, persist, reply.

The reply is sent only after the alerts are committed to the database, so a 2xx means nothing can be lost;
processing happens afterwards in the incident queue. A rejected request is answered with the reason and
nothing about it is processed. Alertmanager retries 5xx forever, so a database outage answers 503 — and nothing a
client sent ever does: malformed input gets a 4xx naming the problem (Alertmanager does not retry 4xx).

One bad alert never blocks the good ones of its delivery: the good ones are stored and the answer is
422 `partially_invalid` with `accepted`, `duplicates` and `rejected: [{index, problem}]`. A delivery with no good
alert is 400 `invalid_schema`. A body that stalls is answered 408 after `BODY_READ_TIMEOUT` seconds.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import uuid
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot.store import StoreUnavailable
from bot.wiring import SERVICES, Services
from handlers import alert_payloads

MAX_BODY = 1024 * 1024
BODY_READ_TIMEOUT = 10.0  # seconds for the whole body to arrive once the headers have
log = logging.getLogger("crashloop.alerts")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # a caller's id is echoed only when it is harmless


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
    if not header.isascii():  # a token is ASCII; anything else cannot match (and must not reach encode())
        return False
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


async def _answer_and_close(request: web.Request, response: web.Response, request_id: str) -> web.Response:
    """Send `response` and close the connection now (aiohttp would otherwise linger reading the stalled body)."""
    response.headers["X-Request-Id"] = request_id
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    if request.transport is not None:
        request.transport.close()
    return response


async def intake(request: web.Request, source: str) -> web.Response:
    given = request.headers.get("X-Request-Id", "")
    request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
    response = await _intake(request, source, request_id)
    if not response.prepared:
        response.headers["X-Request-Id"] = request_id
    return response


async def _intake(request: web.Request, source: str, request_id: str) -> web.Response:
    services = request.app[SERVICES]
    token = services.settings.crashloop_webhook_token
    if token is None or not _authorized(request, token.get_secret_value()):
        return _reject(services, source, 401, "unauthorized", "send Authorization: Bearer <CRASHLOOP_WEBHOOK_TOKEN>")
    try:
        async with asyncio.timeout(BODY_READ_TIMEOUT):
            body = await _read_body(request)
    except TimeoutError:
        response = _reject(services, source, 408, "body_timeout", f"the body did not arrive in {BODY_READ_TIMEOUT}s")
        return await _answer_and_close(request, response, request_id)
    if body is None:
        return _reject(services, source, 413, "too_large", f"the body exceeds {MAX_BODY} bytes")
    try:
        delivery = alert_payloads.read(json.loads(body), source)
    except ValidationError as exc:
        return _reject(services, source, 400, "invalid_schema", alert_payloads.describe(exc))
    except RecursionError:
        return _reject(services, source, 400, "invalid_json", "the body is nested too deeply")
    except (ValueError, UnicodeDecodeError) as exc:
        return _reject(services, source, 400, "invalid_json", f"the body is not JSON: {exc}")
    if not delivery.alerts:
        problems = "; ".join(r.problem for r in delivery.rejected[:10])
        return _reject(services, source, 400, "invalid_schema", problems)
    return await _store(services, source, request_id, delivery)


async def _store(services: Services, source: str, request_id: str, delivery: alert_payloads.Delivery) -> web.Response:
    alerts, payload = delivery.alerts, delivery.payload
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
    answer: dict[str, Any] = {"accepted": new, "duplicates": duplicates}
    if delivery.rejected:
        services.metrics.alerts_rejected.labels(source, "invalid_alert").inc(len(delivery.rejected))
        rejected = [{"index": r.index, "problem": r.problem} for r in delivery.rejected]
        message = f"{len(rejected)} alert(s) rejected, the other {len(alerts)} stored"
        answer = {"error": "partially_invalid", "message": message, **answer, "rejected": rejected}
        return web.json_response(answer, status=422)
    return web.json_response(answer, status=202)


async def alertmanager(request: web.Request) -> web.Response:
    return await intake(request, "alertmanager")


async def cubeapm(request: web.Request) -> web.Response:
    return await intake(request, "cubeapm")


def routes() -> list[web.RouteDef]:
    return [web.post("/alerts/alertmanager", alertmanager), web.post("/alerts/cubeapm", cubeapm)]
