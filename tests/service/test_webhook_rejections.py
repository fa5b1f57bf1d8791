"""Bad webhook requests get a clear error and leave nothing behind."""

from __future__ import annotations

import json

import pytest

from tests.service.conftest import WEBHOOK_TOKEN, Bot, am_alert, am_payload


async def _stored(bot: Bot) -> int:
    return await bot.services.store.count_alerts()


@pytest.mark.parametrize("path", ["/alerts/alertmanager", "/alerts/cubeapm"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {WEBHOOK_TOKEN}"},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "wrong", "not-bearer", "empty"],
)
async def test_missing_or_wrong_token_is_401(bot: Bot, path: str, headers: dict[str, str]) -> None:
    response = await bot.client.post(path, json=am_payload(am_alert("shop", "p")), headers=headers)
    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"
    assert await _stored(bot) == 0


async def test_oversized_body_is_413(bot: Bot) -> None:
    alert = am_alert("shop", "p")
    alert["annotations"]["description"] = "x" * (1024 * 1024)
    response = await bot.alerts(am_payload(alert))
    assert response.status == 413
    assert "exceeds 1048576 bytes" in (await response.json())["message"]
    assert await _stored(bot) == 0


async def test_invalid_json_is_400(bot: Bot) -> None:
    response = await bot.client.post(
        "/alerts/alertmanager", data=b"{not json", headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    )
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "invalid_json"
    assert "not JSON" in body["message"]


async def test_schema_errors_are_400_naming_the_field(bot: Bot) -> None:
    payload = am_payload(am_alert("shop", "p"))
    del payload["alerts"][0]["status"]
    payload["alerts"][0]["labels"] = "nope"
    response = await bot.alerts(payload)
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "invalid_schema"
    assert "alerts.0.status: Field required" in body["message"]
    assert "alerts.0.labels" in body["message"]
    assert await _stored(bot) == 0


async def test_rejections_are_counted_by_reason(bot: Bot) -> None:
    await bot.client.post("/alerts/alertmanager", data=json.dumps({}), headers={})
    await bot.alerts({"alerts": []})
    metrics = await (await bot.client.get("/metrics")).text()
    assert 'crashloop_alerts_rejected_total{reason="unauthorized",source="alertmanager"} 1.0' in metrics
    assert 'crashloop_alerts_rejected_total{reason="invalid_schema",source="alertmanager"} 1.0' in metrics


async def test_a_body_that_arrives_in_pieces_is_read_whole(bot: Bot) -> None:
    import asyncio

    alert = am_alert("shop", "ledger-api-5694797858-abcde")
    alert["annotations"]["description"] = "x" * 200_000
    raw = json.dumps(am_payload(alert)).encode()

    async def slowly():  # type: ignore[no-untyped-def]
        for i in range(0, len(raw), 50_000):
            yield raw[i : i + 50_000]
            await asyncio.sleep(0.05)

    response = await bot.client.post(
        "/alerts/alertmanager", data=slowly(), headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    )
    assert response.status == 202, await response.text()
    assert await _stored(bot) == 1
