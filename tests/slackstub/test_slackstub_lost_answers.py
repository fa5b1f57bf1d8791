"""Lost answers: the call takes effect but the client never hears back (delayed past its timeout, or dropped)."""

from __future__ import annotations

import time

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.devtools.slackstub import SlackStandIn

TOKEN = "xoxb-test"
CHANNEL = "C0INCIDENTS"
METADATA = {"event_type": "crashloop_triage", "event_payload": {"incident_id": 7}}


async def test_dropped_connection_after_posting_leaves_the_message(stub: SlackStandIn) -> None:
    client = AsyncWebClient(token=TOKEN, base_url=stub.api_url, retry_handlers=[])
    stub.lose_answer("chat.postMessage", drop=True)
    with pytest.raises(aiohttp.ClientError):
        await client.chat_postMessage(channel=CHANNEL, text="landed")
    assert [m.text for m in stub.channel_messages(CHANNEL)] == ["landed"]
    # times=1: the next call is answered
    assert (await client.chat_postMessage(channel=CHANNEL, text="second"))["ok"] is True


async def test_the_sdk_default_connection_retry_posts_twice(stub: SlackStandIn, client: AsyncWebClient) -> None:
    """Why the bot does not let the SDK retry chat.postMessage: the retry re-posts a message that landed."""
    stub.lose_answer("chat.postMessage", drop=True)
    await client.chat_postMessage(channel=CHANNEL, text="once?")
    assert [m.text for m in stub.channel_messages(CHANNEL)] == ["once?", "once?"]


async def test_answer_delayed_past_the_client_timeout(stub: SlackStandIn) -> None:
    impatient = AsyncWebClient(token=TOKEN, base_url=stub.api_url, timeout=1)
    stub.lose_answer("chat.postMessage", delay=2.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await impatient.chat_postMessage(channel=CHANNEL, text="slow")
    assert time.monotonic() - started < 2.0
    assert [m.text for m in stub.channel_messages(CHANNEL)] == ["slow"]


async def test_a_short_delay_is_answered(stub: SlackStandIn, client: AsyncWebClient) -> None:
    stub.lose_answer("chat.postMessage", delay=0.2)
    started = time.monotonic()
    response = await client.chat_postMessage(channel=CHANNEL, text="late")
    assert response["ok"] is True
    assert time.monotonic() - started >= 0.2


async def test_history_shows_metadata_only_when_asked(stub: SlackStandIn, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="root", metadata=METADATA)
    plain = await client.conversations_history(channel=CHANNEL)
    assert "metadata" not in plain["messages"][0]
    full = await client.conversations_history(channel=CHANNEL, include_all_metadata=True)
    assert full["messages"][0]["metadata"] == METADATA
    assert full["messages"][0]["bot_id"]


def test_lose_answer_rejects_nonsense(stub: SlackStandIn) -> None:
    with pytest.raises(ValueError, match="times"):
        stub.lose_answer("chat.postMessage", times=0)
    with pytest.raises(ValueError, match="delay"):
        stub.lose_answer("chat.postMessage", delay=-1)
