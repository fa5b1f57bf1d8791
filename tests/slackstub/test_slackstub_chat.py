"""Messages through the real AsyncWebClient: post, thread, update, ephemeral, metadata, history and Slack's errors."""

from __future__ import annotations

import json
import re

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.devtools.slackstub import SlackStandIn

CHANNEL = "C0INCIDENTS"
METADATA = {"event_type": "crashloop_incident", "event_payload": {"incident_id": "inc-42", "namespace": "shop"}}


def section(text: str) -> dict[str, object]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


async def test_post_returns_channel_ts_and_message_with_metadata(stub: SlackStandIn, client: AsyncWebClient) -> None:
    first = await client.chat_postMessage(channel=CHANNEL, text="checkout is crashlooping", metadata=METADATA)
    second = await client.chat_postMessage(channel=CHANNEL, text="second")

    assert first["channel"] == CHANNEL
    assert first["ts"] == "1700000000.000100"
    assert second["ts"] == "1700000000.000200"
    assert first["message"]["metadata"] == METADATA
    assert first["message"]["bot_id"] == "B0BOT0001"
    stored = stub.channel_messages(CHANNEL)
    assert [m.text for m in stored] == ["checkout is crashlooping", "second"]
    assert stored[0].metadata == METADATA
    assert stub.calls_to("chat.postMessage")[0].args["metadata"] == METADATA


async def test_wall_clock_ts_is_slack_shaped_and_increasing() -> None:
    async with SlackStandIn() as stub:
        client = AsyncWebClient(token="xoxb-test", base_url=stub.api_url)
        stamps = [(await client.chat_postMessage(channel=CHANNEL, text=str(i)))["ts"] for i in range(3)]
    assert all(re.fullmatch(r"\d{10}\.\d{6}", ts) for ts in stamps)
    assert stamps == sorted(stamps, key=float)
    assert len(set(stamps)) == 3


async def test_thread_replies_and_broadcast(stub: SlackStandIn, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="incident")
    reply = await client.chat_postMessage(channel=CHANNEL, text="triage done", thread_ts=root["ts"])
    # A reply's ts threads under the parent, as in Slack.
    await client.chat_postMessage(channel=CHANNEL, text="fixed", thread_ts=reply["ts"], reply_broadcast=True)

    assert reply["message"]["thread_ts"] == root["ts"]
    assert [m.text for m in stub.thread(CHANNEL, root["ts"])] == ["triage done", "fixed"]
    assert [m.text for m in stub.channel_messages(CHANNEL)] == ["incident"]
    assert stub.channel_messages(CHANNEL)[0].reply_count == 2

    replies = await client.conversations_replies(channel=CHANNEL, ts=root["ts"])
    assert [m["text"] for m in replies["messages"]] == ["incident", "triage done", "fixed"]
    assert replies["messages"][0]["reply_count"] == 2
    history = await client.conversations_history(channel=CHANNEL)
    assert [m["text"] for m in history["messages"]] == ["fixed", "incident"]
    assert history["messages"][0]["subtype"] == "thread_broadcast"


async def test_unknown_thread_ts_is_refused(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=CHANNEL, text="x", thread_ts="1600000000.000100")
    assert err.value.response["error"] == "thread_not_found"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
async def test_update_keeps_edit_history_and_metadata_rules(stub: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(
        channel=CHANNEL, text="fallback", blocks=[section("*Triage* running")], metadata=METADATA
    )
    ts = posted["ts"]
    await client.chat_update(channel=CHANNEL, ts=ts, blocks=[section("*Triage* done")])
    updated = await client.chat_update(channel=CHANNEL, ts=ts, text="resolved")

    assert updated["text"] == "resolved"
    message = stub.message(CHANNEL, ts)
    assert message.text == "resolved"
    assert message.blocks is None  # text without blocks replaces the blocks, as in Slack
    assert message.metadata == METADATA  # metadata not sent: kept
    assert message.edit_count == 2
    assert [e.blocks for e in message.edits] == [[section("*Triage* running")], [section("*Triage* done")]]
    assert message.edits[1].text == "fallback"  # blocks without text kept the text

    await client.chat_update(channel=CHANNEL, ts=ts, text="resolved", metadata={})
    assert stub.message(CHANNEL, ts).metadata is None


async def test_update_unknown_ts_is_message_not_found(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel=CHANNEL, ts="1700000099.000100", text="x")
    assert err.value.response["error"] == "message_not_found"


async def test_cannot_update_a_persons_message(stub: SlackStandIn, client: AsyncWebClient) -> None:
    ts = stub.post_user_message(CHANNEL, "U0ONCALL1", "I'll look at it")
    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel=CHANNEL, ts=ts, text="hijacked")
    assert err.value.response["error"] == "cant_update_message"
    assert stub.message(CHANNEL, ts).text == "I'll look at it"


async def test_ephemeral_is_kept_per_user_and_not_in_channel(stub: SlackStandIn, client: AsyncWebClient) -> None:
    response = await client.chat_postEphemeral(channel=CHANNEL, user="U0VIEWER1", text="You may not run runbooks")
    await client.chat_postEphemeral(channel=CHANNEL, user="U0ONCALL1", text="Running")

    assert re.fullmatch(r"\d{10}\.\d{6}", response["message_ts"])
    assert [e.text for e in stub.ephemerals(CHANNEL, user="U0VIEWER1")] == ["You may not run runbooks"]
    assert [e.user for e in stub.ephemerals(CHANNEL)] == ["U0VIEWER1", "U0ONCALL1"]
    assert stub.channel_messages(CHANNEL) == []


async def test_ephemeral_to_unknown_user(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.chat_postEphemeral(channel=CHANNEL, user="U0NOBODY", text="x")
    assert err.value.response["error"] == "user_not_found"


async def test_history_includes_metadata_only_when_asked(client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel=CHANNEL, text="with metadata", metadata=METADATA)

    plain = await client.conversations_history(channel=CHANNEL)
    full = await client.conversations_history(channel=CHANNEL, include_all_metadata=True)
    assert "metadata" not in plain["messages"][0]
    assert full["messages"][0]["metadata"] == METADATA


async def test_history_pages_with_cursor(client: AsyncWebClient) -> None:
    for i in range(5):
        await client.chat_postMessage(channel=CHANNEL, text=f"m{i}")
    first = await client.conversations_history(channel=CHANNEL, limit=2)
    second = await client.conversations_history(
        channel=CHANNEL, limit=2, cursor=first["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in first["messages"]] == ["m4", "m3"]
    assert first["has_more"] is True
    assert [m["text"] for m in second["messages"]] == ["m2", "m1"]


async def test_permalink_reactions_and_delete(stub: SlackStandIn, client: AsyncWebClient) -> None:
    ts = (await client.chat_postMessage(channel=CHANNEL, text="x"))["ts"]
    link = await client.chat_getPermalink(channel=CHANNEL, message_ts=ts)
    assert link["permalink"] == "https://crashloop-test.slack.com/archives/C0INCIDENTS/p1700000000000100"

    await client.reactions_add(channel=CHANNEL, timestamp=ts, name="eyes")
    assert stub.message(CHANNEL, ts).reactions == {"eyes": ["U0BOT0001"]}
    with pytest.raises(SlackApiError) as err:
        await client.reactions_add(channel=CHANNEL, timestamp=ts, name="eyes")
    assert err.value.response["error"] == "already_reacted"

    await client.chat_delete(channel=CHANNEL, ts=ts)
    assert stub.channel_messages(CHANNEL) == []


async def test_form_encoded_style_with_token_field(stub: SlackStandIn) -> None:
    client = AsyncWebClient(base_url=stub.api_url)  # no Authorization header: token goes in the form
    response = await client.api_call(
        "chat.postMessage",
        data={
            "token": "xoxb-test",
            "channel": CHANNEL,
            "text": "form",
            "blocks": json.dumps([section("from a form")]),
            "metadata": json.dumps(METADATA),
        },
    )
    assert response["ok"] is True
    call = stub.calls_to("chat.postMessage")[0]
    assert call.content_type == "application/x-www-form-urlencoded"
    assert call.token == "xoxb-test"
    assert "token" not in call.args
    assert stub.message(CHANNEL, response["ts"]).blocks == [section("from a form")]
    assert stub.message(CHANNEL, response["ts"]).metadata == METADATA


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": "no channel"}, "channel_not_found"),
        ({"channel": "C0NOWHERE", "text": "x"}, "channel_not_found"),
        ({"channel": CHANNEL}, "no_text"),
        ({"channel": CHANNEL, "blocks": [section(f"b{i}") for i in range(51)]}, "invalid_blocks"),
        ({"channel": CHANNEL, "blocks": [section("x" * 3001)]}, "invalid_blocks"),
        (
            {"channel": CHANNEL, "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]},
            "invalid_blocks",
        ),
        ({"channel": CHANNEL, "text": "x", "metadata": {"event_type": "t"}}, "invalid_metadata_format"),
        (
            {"channel": CHANNEL, "text": "x", "metadata": {"event_type": 3, "event_payload": {}}},
            "invalid_metadata_format",
        ),
        ({"channel": CHANNEL, "text": "x" * 40_001}, "msg_too_long"),
    ],
)
async def test_post_validation_errors(
    stub: SlackStandIn, client: AsyncWebClient, kwargs: dict[str, object], error: str
) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.api_call("chat.postMessage", json=kwargs)
    assert err.value.response.status_code == 200
    assert err.value.response["error"] == error
    assert stub.channel_messages(CHANNEL) == []


async def test_invalid_blocks_explain_where(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=CHANNEL, text="t", blocks=[section("ok"), section("x" * 3001)])
    messages = err.value.response["response_metadata"]["messages"]
    assert messages == ["[ERROR] must be less than 3001 characters [json-pointer:/blocks/1/text/text]"]


async def test_fifty_blocks_are_accepted(client: AsyncWebClient) -> None:
    response = await client.chat_postMessage(channel=CHANNEL, text="t", blocks=[section(f"b{i}") for i in range(50)])
    assert len(response["message"]["blocks"]) == 50


async def test_channel_by_name_and_dm_by_user_id(stub: SlackStandIn, client: AsyncWebClient) -> None:
    by_name = await client.chat_postMessage(channel="#incidents", text="by name")
    dm = await client.chat_postMessage(channel="U0ONCALL1", text="you are on call")
    opened = await client.conversations_open(users="U0ONCALL1")

    assert by_name["channel"] == CHANNEL
    assert dm["channel"].startswith("D")
    assert opened["channel"]["id"] == dm["channel"]
    assert [m.text for m in stub.channel_messages(dm["channel"])] == ["you are on call"]


@pytest.mark.parametrize(("token", "error"), [("xoxb-wrong", "invalid_auth"), (None, "not_authed")])
async def test_bad_or_missing_token(stub: SlackStandIn, token: str | None, error: str) -> None:
    client = AsyncWebClient(token=token, base_url=stub.api_url)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=CHANNEL, text="x")
    assert err.value.response["error"] == error
    assert stub.channel_messages(CHANNEL) == []
    assert stub.calls[0].error == error


async def test_unknown_method(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.api_call("chat.teleport", json={"channel": CHANNEL})
    assert err.value.response.status_code == 404
    assert err.value.response["error"] == "unknown_method"
