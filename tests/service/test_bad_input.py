"""Inputs that used to crash a request (5xx) get a 4xx naming the problem; one bad alert never blocks the good ones.

Each case comes from fuzzing the running bot: deep JSON, lone surrogates, non-ASCII headers, naive or overflowing
times, NUL on PostgreSQL, a stalled body, and malformed Slack requests before and after authentication.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from bot.devtools.slackstub.signing import FORM_CONTENT_TYPE, sign, view_submission_body
from bot.store.schema import alerts
from handlers import alerts as alert_routes
from tests.service.conftest import SIGNING_SECRET, WEBHOOK_TOKEN, Bot, BotFactory, am_alert, am_payload

AUTH = {"Authorization": f"Bearer {WEBHOOK_TOKEN}", "Content-Type": "application/json"}


async def _raw(bot: Bot, body: str, path: str = "/alerts/alertmanager") -> tuple[int, dict[str, Any]]:
    response = await bot.client.post(path, data=body.encode(), headers=AUTH)
    return response.status, await response.json()


@pytest.mark.parametrize("path", ["/alerts/alertmanager", "/alerts/cubeapm"])
async def test_json_nested_thousands_deep_is_400(bot: Bot, path: str) -> None:
    deep = '{"alerts": ' + "[" * 5000 + "]" * 5000 + "}"
    status, body = await _raw(bot, deep, path)
    assert status == 400
    assert body["error"] in ("invalid_json", "invalid_schema")
    assert "nested too deeply" in body["message"] or "alerts" in body["message"]


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("fingerprint", "\\ud800", "fingerprint contains a lone surrogate"),
        ("generatorURL", "http://prometheus/\\udc00", "generatorURL contains a lone surrogate"),
        ("labels", '{"pod": "web-\\ud800", "namespace": "shop"}', "labels.pod contains a lone surrogate"),
    ],
)
async def test_lone_surrogates_are_400(bot: Bot, field: str, value: str, problem: str) -> None:
    alert = am_alert("shop", "web-1")
    raw = json.dumps(am_payload(alert))
    encoded = value if field == "labels" else f'"{value}"'
    raw = raw.replace(f'"{field}": {json.dumps(alert[field])}', f'"{field}": {encoded}')
    status, body = await _raw(bot, raw)
    assert status == 400, body
    assert body["error"] == "invalid_schema"
    assert problem in body["message"]
    assert await bot.services.store.count_alerts() == 0


async def test_non_ascii_authorization_is_401(bot: Bot) -> None:
    reader, writer = await asyncio.open_connection(bot.client.host, bot.client.port)
    body = json.dumps(am_payload(am_alert("shop", "p"))).encode()
    head = (
        b"POST /alerts/alertmanager HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer \xc3\xa9t\xc3\xa9\xff\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    writer.write(head + body)
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"401"


@pytest.mark.parametrize(
    ("times", "problem"),
    [
        ({"startsAt": "2026-11-25T10:00:00"}, "startsAt: Input should have timezone info"),
        ({"endsAt": "0001-01-01T00:00:00+01:00"}, "outside the range of representable times"),
        ({"startsAt": "9999-12-31T23:59:59-01:00"}, "outside the range of representable times"),
    ],
)
async def test_naive_or_overflowing_times_reject_only_their_alert(
    bot: Bot, times: dict[str, str], problem: str
) -> None:
    good, bad = am_alert("shop", "good-1"), {**am_alert("shop", "bad-1"), **times}
    response = await bot.alerts(am_payload(good, bad))
    assert response.status == 422
    body = await response.json()
    assert body["error"] == "partially_invalid"
    assert (body["accepted"], body["duplicates"]) == (1, 0)
    [rejected] = body["rejected"]
    assert rejected["index"] == 1
    assert problem in rejected["problem"]
    assert await bot.services.store.count_alerts() == 1


async def test_nul_in_one_fingerprint_does_not_block_the_others(bot_factory: BotFactory, db_url: str) -> None:
    bot = await bot_factory(db_url)
    good = [am_alert("shop", f"good-{n}") for n in range(3)]
    bad = am_alert("shop", "bad", fingerprint="fp\x00nul")
    response = await bot.alerts(am_payload(good[0], bad, *good[1:]))
    assert response.status == 422
    body = await response.json()
    assert body["accepted"] == 3
    assert body["rejected"] == [{"index": 1, "problem": "alerts.1: fingerprint contains a NUL character"}]
    async with bot.services.store.engine.connect() as conn:
        stored = sorted(r.fingerprint for r in await conn.execute(select(alerts.c.fingerprint)))
    assert stored == sorted(a["fingerprint"] for a in good)


async def test_a_body_that_stalls_is_closed_with_408(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alert_routes, "BODY_READ_TIMEOUT", 0.5)
    reader, writer = await asyncio.open_connection(bot.client.host, bot.client.port)
    writer.write(
        b"POST /alerts/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {WEBHOOK_TOKEN}\r\nContent-Length: 1000\r\n\r\n".encode()
        + b'{"alerts": ['
    )
    await writer.drain()
    started = time.monotonic()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    rest = await asyncio.wait_for(reader.read(), 5)  # the server closes the connection
    writer.close()
    assert status_line.split()[1] == b"408"
    assert b"body_timeout" in rest
    assert time.monotonic() - started < 3


async def test_secrets_in_alerts_are_redacted_before_they_are_stored(bot: Bot) -> None:
    alert = am_alert("shop", "web-1", db_password="hunter2-label")
    alert["annotations"]["description"] = "connect failed: postgres://app:hunter2-annotation@db:5432/app"
    alert["generatorURL"] = "http://admin:hunter2-url@prometheus/graph"
    payload = {**am_payload(alert), "cubeSampleLog": "FATAL token=hunter2-log while starting"}
    assert (await bot.alerts(payload, path="/alerts/cubeapm")).status == 202
    async with bot.services.store.engine.connect() as conn:
        row = (await conn.execute(select(alerts))).one()
    stored = json.dumps([str(v) for v in row._mapping.values()])
    assert "hunter2" not in stored
    assert "[REDACTED]" in row.annotations["description"]
    assert row.labels["db_password"] == "[REDACTED]"
    assert row.sample_log == "FATAL token=[REDACTED] while starting"


# --- /slack/events ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"X-Slack-Request-Timestamp": "12e3", "X-Slack-Signature": "v0=00"}, "must be an integer"),
        ({"X-Slack-Request-Timestamp": "", "X-Slack-Signature": "v0=00"}, "must be an integer"),
        ({"X-Slack-Request-Timestamp": "１７００００００００", "X-Slack-Signature": "v0=00"}, "must be an integer"),
        ({"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=é"}, "must be ASCII"),
    ],
)
async def test_slack_malformed_headers_are_401_before_authentication(
    bot: Bot, headers: dict[str, str], problem: str
) -> None:
    response = await bot.client.post(
        "/slack/events", data="command=%2Fcrashloop", headers={**headers, "Content-Type": FORM_CONTENT_TYPE}
    )
    assert response.status == 401
    assert problem in (await response.json())["message"]


async def _signed(bot: Bot, body: str) -> tuple[int, dict[str, Any]]:
    headers = {**sign(SIGNING_SECRET, body), "Content-Type": FORM_CONTENT_TYPE}
    response = await bot.client.post("/slack/events", data=body.encode(), headers=headers)
    return response.status, await response.json()


async def test_slack_bad_payload_json_after_authentication_is_400(bot: Bot) -> None:
    status, body = await _signed(bot, urlencode({"payload": '{"type": "block_actions", '}))
    assert status == 400
    assert "the payload is not JSON" in body["message"]


async def test_slack_bad_private_metadata_is_400(bot: Bot) -> None:
    submission = view_submission_body("remedy.form", "{not json", {}, "U0ONCALL1")
    status, body = await _signed(bot, submission)
    assert status == 400
    assert "view.private_metadata is not JSON" in body["message"]


async def test_slack_bad_json_without_a_valid_signature_is_still_401(bot: Bot) -> None:
    body = urlencode({"payload": "{broken"})
    headers = {**sign("wrong-secret", body), "Content-Type": FORM_CONTENT_TYPE}
    response = await bot.client.post("/slack/events", data=body, headers=headers)
    assert response.status == 401
