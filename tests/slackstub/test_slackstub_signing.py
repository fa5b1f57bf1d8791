"""Signed requests as Slack sends them, checked by slack_sdk's SignatureVerifier and by a real Bolt AsyncApp
dispatching to listeners that call back into the stand-in (auth.test, say, respond, chat.update)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond, AsyncSay
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.devtools.slackstub import SlackStandIn
from bot.devtools.slackstub.signing import (
    block_actions_body,
    event_callback_body,
    sign,
    signed_headers,
    slash_command_body,
    url_verification_body,
    view_submission_body,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0INCIDENTS"


def test_sign_matches_slacks_documented_example() -> None:
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = sign(SECRET, body, timestamp=1531420618)
    assert headers == {
        "X-Slack-Request-Timestamp": "1531420618",
        "X-Slack-Signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }


@pytest.mark.parametrize(
    "body",
    [
        slash_command_body(text="shop/checkout"),
        block_actions_body("bump_memory", "1Gi", message_ts="1700000000.000100"),
        view_submission_body("bump_memory", "{}", {}, "U0ONCALL1"),
        url_verification_body("challenge-token"),
    ],
)
def test_signature_verifier_accepts_signed_bodies(body: str) -> None:
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, sign(SECRET, body))
    assert not verifier.is_valid_request(body + "x", sign(SECRET, body))
    assert not verifier.is_valid_request(body, sign("another-secret", body))
    assert not verifier.is_valid_request(body, sign(SECRET, body, timestamp=int(time.time()) - 310))


def test_slash_command_body_has_every_field_slack_sends() -> None:
    body = slash_command_body(text="triage shop/checkout", response_url="http://127.0.0.1:1/response_url/r1")
    fields = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    assert list(fields) == [
        "token", "team_id", "team_domain", "channel_id", "channel_name", "user_id", "user_name",
        "command", "text", "api_app_id", "is_enterprise_install", "response_url", "trigger_id",
    ]  # fmt: skip
    assert (fields["command"], fields["text"], fields["user_id"]) == ("/crashloop", "triage shop/checkout", "U0ONCALL1")
    assert re.fullmatch(r"\d+\.\d{13}\.[0-9a-f]{32}", fields["trigger_id"])


def test_block_actions_payload_shape() -> None:
    message = {"type": "message", "ts": "1700000000.000100", "text": "incident", "blocks": []}
    body = block_actions_body("bump_memory", "1Gi", message=message, user_id="U0ONCALL2", user_name="bob")
    payload = json.loads(parse_qs(body)["payload"][0])
    assert payload["type"] == "block_actions"
    [action] = payload["actions"]
    assert {k: action[k] for k in ("action_id", "block_id", "value", "type")} == {
        "action_id": "bump_memory",
        "block_id": "actions",
        "value": "1Gi",
        "type": "button",
    }
    assert re.fullmatch(r"\d{10}\.\d{6}", action["action_ts"])
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1700000000.000100",
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    assert (payload["user"]["id"], payload["channel"]["id"], payload["team"]["id"]) == (
        "U0ONCALL2",
        CHANNEL,
        "T0TEAM0001",
    )
    assert payload["message"] == message
    assert payload["api_app_id"] == "A0APP0001"
    assert payload["token"]


def make_app(stub: SlackStandIn) -> AsyncApp:
    client = AsyncWebClient(token="xoxb-test", base_url=stub.api_url)
    return AsyncApp(client=client, signing_secret=SECRET, process_before_response=True)


async def dispatch(app: AsyncApp, body: str, **sign_kwargs: Any) -> tuple[int, str]:
    headers: dict[str, str | Sequence[str]] = dict(signed_headers(SECRET, body, **sign_kwargs))
    response = await app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
    return response.status, response.body


async def test_slash_command_through_bolt(stub: SlackStandIn) -> None:
    app = make_app(stub)
    seen: list[dict[str, Any]] = []

    @app.command("/crashloop")
    async def on_command(ack: AsyncAck, command: dict[str, Any], say: AsyncSay, respond: AsyncRespond) -> None:
        seen.append(command)
        await ack("Working on it")
        await say(f"Triage of {command['text']} requested by <@{command['user_id']}>")
        await respond(text="Triage started", response_type="ephemeral")

    response_url = stub.mint_response_url(CHANNEL, user="U0ONCALL1")
    status, body = await dispatch(app, slash_command_body(text="shop/checkout", response_url=response_url))

    assert (status, body) == (200, "Working on it")
    assert seen[0]["text"] == "shop/checkout"
    assert len(stub.calls_to("auth.test")) == 1
    assert [m.text for m in stub.channel_messages(CHANNEL)] == ["Triage of shop/checkout requested by <@U0ONCALL1>"]
    [post] = stub.response_url_posts
    assert (post.effect, post.body["text"]) == ("ephemeral", "Triage started")
    assert [e.text for e in stub.ephemerals(CHANNEL, user="U0ONCALL1")] == ["Triage started"]


@pytest.mark.parametrize("offset", [-310, 310], ids=["older-than-5-minutes", "more-than-5-minutes-ahead"])
async def test_stale_timestamp_is_401(stub: SlackStandIn, offset: int) -> None:
    app = make_app(stub)
    ran: list[bool] = []

    @app.command("/crashloop")
    async def on_command(ack: AsyncAck) -> None:
        ran.append(True)
        await ack()

    status, _ = await dispatch(app, slash_command_body(), timestamp=int(time.time()) + offset)
    assert status == 401
    assert ran == []


async def test_wrong_signature_is_401(stub: SlackStandIn) -> None:
    app = make_app(stub)
    ran: list[bool] = []

    @app.command("/crashloop")
    async def on_command(ack: AsyncAck) -> None:
        ran.append(True)
        await ack()

    body = slash_command_body()
    headers: dict[str, str | Sequence[str]] = {
        "Content-Type": "application/x-www-form-urlencoded",
        **sign("not-the-secret", body),
    }
    response = await app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
    assert response.status == 401
    assert ran == []
    good_status, _ = await dispatch(app, body)
    assert good_status == 200
    assert ran == [True]


async def test_button_click_updates_the_message(stub: SlackStandIn) -> None:
    app = make_app(stub)
    client = AsyncWebClient(token="xoxb-test", base_url=stub.api_url)
    button = {"type": "button", "text": {"type": "plain_text", "text": "Bump memory"}, "action_id": "bump_memory"}
    posted = await client.chat_postMessage(
        channel=CHANNEL, text="incident", blocks=[{"type": "actions", "block_id": "actions", "elements": [button]}]
    )

    @app.action("bump_memory")
    async def on_bump(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await app.client.chat_update(
            channel=body["channel"]["id"], ts=body["message"]["ts"], text=f"Memory bumped to {action['value']}"
        )
        await respond(text="Done", replace_original=False, response_type="in_channel", thread_ts=body["message"]["ts"])

    response_url = stub.mint_response_url(CHANNEL, user="U0ONCALL1", message_ts=posted["ts"])
    body = block_actions_body("bump_memory", "1Gi", message=posted["message"], response_url=response_url)
    status, _ = await dispatch(app, body)

    assert status == 200
    message = stub.message(CHANNEL, posted["ts"])
    assert (message.text, message.edit_count) == ("Memory bumped to 1Gi", 1)
    assert [r.text for r in stub.thread(CHANNEL, posted["ts"])] == ["Done"]


async def test_view_submission_through_bolt(stub: SlackStandIn) -> None:
    app = make_app(stub)
    received: list[tuple[str, Any]] = []

    @app.view("bump_memory")
    async def on_submit(ack: AsyncAck, view: dict[str, Any]) -> None:
        received.append((view["private_metadata"], view["state"]["values"]["limit"]["value"]["value"]))
        await ack()

    values = {"limit": {"value": {"type": "plain_text_input", "value": "2Gi"}}}
    status, _ = await dispatch(app, view_submission_body("bump_memory", '{"incident": "inc-42"}', values, "U0ONCALL1"))
    assert status == 200
    assert received == [('{"incident": "inc-42"}', "2Gi")]


async def test_url_verification_and_app_mention(stub: SlackStandIn) -> None:
    app = make_app(stub)

    @app.event("app_mention")
    async def on_mention(event: dict[str, Any], say: AsyncSay) -> None:
        await say(text=f"Hi <@{event['user']}>", thread_ts=event["ts"])

    status, body = await dispatch(app, url_verification_body("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"))
    assert (status, json.loads(body)) == (200, {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})

    ts = stub.post_user_message(CHANNEL, "U0ONCALL1", "<@U0BOT0001> status?")
    event = {"type": "app_mention", "user": "U0ONCALL1", "text": "<@U0BOT0001> status?", "ts": ts, "channel": CHANNEL}
    status, _ = await dispatch(app, event_callback_body(event))
    assert status == 200
    assert [m.text for m in stub.thread(CHANNEL, ts)] == ["Hi <@U0ONCALL1>"]
