"""Response URLs behave as Slack's: ephemeral by default, in_channel posts, replace_original and delete_original."""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.devtools.slackstub import SlackStandIn

CHANNEL = "C0INCIDENTS"


async def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


async def test_replace_then_delete_original(stub: SlackStandIn, client: AsyncWebClient) -> None:
    ts = (await client.chat_postMessage(channel=CHANNEL, text="Approve rollback?"))["ts"]
    url = stub.mint_response_url(CHANNEL, user="U0ONCALL1", message_ts=ts)

    replaced = await AsyncWebhookClient(url).send(text="Rollback approved by <@U0ONCALL1>", replace_original=True)
    assert replaced.status_code == 200
    assert stub.message(CHANNEL, ts).text == "Rollback approved by <@U0ONCALL1>"
    assert stub.message(CHANNEL, ts).edit_count == 1

    assert await post(url, {"delete_original": True}) == (200, {"ok": True})
    assert stub.channel_messages(CHANNEL) == []
    assert [p.effect for p in stub.response_url_posts] == ["replaced", "deleted"]


async def test_in_channel_and_ephemeral(stub: SlackStandIn) -> None:
    url = stub.mint_response_url(CHANNEL, user="U0ONCALL2")
    assert (await post(url, {"text": "visible to all", "response_type": "in_channel"}))[0] == 200
    assert (await post(url, {"text": "just for bob"}))[0] == 200
    assert [m.text for m in stub.channel_messages(CHANNEL)] == ["visible to all"]
    assert [(e.user, e.text, e.source) for e in stub.ephemerals(CHANNEL)] == [
        ("U0ONCALL2", "just for bob", "response_url")
    ]


async def test_errors_and_injected_failure(stub: SlackStandIn) -> None:
    url = stub.mint_response_url(CHANNEL, user="U0ONCALL1")
    assert await post(url, {"response_type": "in_channel"}) == (400, {"ok": False, "error": "no_text"})
    assert (await post(stub.base_url + "response_url/r-unknown", {"text": "x"}))[0] == 404
    stub.fail("response_url", status=500)
    assert (await post(url, {"text": "x"}))[0] == 500
    assert [c.http_status for c in stub.calls_to("response_url")] == [400, 404, 500]
    assert stub.ephemerals(CHANNEL) == []
