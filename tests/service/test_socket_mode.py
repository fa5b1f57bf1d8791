"""`serve --socket-mode` end to end: the bot connects through `apps.connections.open` to the Socket Mode stand-in,
and a slash command, a button, a form submission and a reconnect (with redelivered envelopes) go through Bolt's
listeners to the simulated cluster and the Slack stand-in — the same listeners as HTTP mode, no signatures.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bot.app import AppOptions, build_app
from bot.core.settings import Settings
from bot.devtools.simcluster import SimCluster
from bot.devtools.slackstub import SlackStandIn
from bot.devtools.slackstub.signing import block_actions_body, slash_command_body, view_submission_body
from bot.devtools.slackstub.socket_mode import SocketModeStandIn
from bot.incidents.queue import WorkerSettings
from tests.service.conftest import CHANNEL, WEBHOOK_TOKEN, am_alert, am_payload, eventually, make_config, pods_of

ALICE = "U0ONCALL1"
TRIGGER = "13345224609.738474920.8088930838d88f008e0"


def form_fields(body: str) -> dict[str, str]:
    """A slash command's payload as Socket Mode carries it: the form fields as a JSON object."""
    return dict(parse_qsl(body))


def interactive(body: str) -> dict[str, Any]:
    """An interaction's payload as Socket Mode carries it: the `payload=` JSON, parsed."""
    payload: dict[str, Any] = json.loads(form_fields(body)["payload"])
    return payload


class SocketBot:
    """The bot served in Socket Mode, and what it talks to."""

    def __init__(self, client: TestClient, slack: SlackStandIn, socket: SocketModeStandIn, sim: SimCluster) -> None:
        self.client, self.slack, self.socket, self.sim = client, slack, socket, sim

    async def envelope(self, kind: str, payload: dict[str, Any], envelope_id: str | None = None) -> dict[str, Any]:
        """Send an envelope and return the bot's ack."""
        sent = await self.socket.send(kind, payload, envelope_id=envelope_id)
        return await self.socket.ack(sent)


@pytest.fixture
async def socket_bot(
    slack: SlackStandIn, sim: SimCluster, kubeconfig: Path, tmp_path: Path
) -> AsyncIterator[SocketBot]:
    async with SocketModeStandIn(slack) as socket:
        settings = Settings(
            slack_bot_token=SecretStr("xoxb-test"),
            slack_app_token=SecretStr(socket.app_token),
            crashloop_webhook_token=SecretStr(WEBHOOK_TOKEN),
            crashloop_database_url=SecretStr(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"),
            slack_api_url=socket.api_url,
        )
        options = AppOptions(slack_min_interval=0.0, socket_mode=True, worker=WorkerSettings(poll_seconds=0.2))
        client = TestClient(TestServer(build_app(make_config(kubeconfig), settings, options)))
        await client.start_server()
        try:
            await socket.wait_connected(1)
            yield SocketBot(client, slack, socket, sim)
        finally:
            await client.close()


async def test_a_slash_command_is_acked_and_answered(socket_bot: SocketBot) -> None:
    url = socket_bot.slack.mint_response_url(CHANNEL, user=ALICE)
    body = slash_command_body(text="triage prod ledger-api", user_id=ALICE, response_url=url, channel_id=CHANNEL)
    ack = await socket_bot.envelope("slash_commands", form_fields(body))
    assert "Triaging" in json.dumps(ack.get("payload", {}))
    [post] = await eventually(lambda: [p for p in socket_bot.slack.response_url_posts if p.url == url])
    text = json.dumps(post.body["blocks"], ensure_ascii=False)
    assert "Triage · shop/ledger-api (prod)" in text
    assert "OOMKilled" in text
    assert socket_bot.socket.events.opened == 1
    assert [c.token for c in socket_bot.slack.calls_to("auth.test")] == ["xoxb-test"]


async def test_a_reconnect_goes_through_connections_open_and_redeliveries_run_once(socket_bot: SocketBot) -> None:
    url = socket_bot.slack.mint_response_url(CHANNEL, user=ALICE)
    body = slash_command_body(text="triage prod search", user_id=ALICE, response_url=url, channel_id=CHANNEL)
    first = await socket_bot.socket.send("slash_commands", form_fields(body))
    await socket_bot.socket.ack(first)
    await eventually(lambda: [p for p in socket_bot.slack.response_url_posts if p.url == url])

    await socket_bot.socket.disconnect("refresh_requested")
    await socket_bot.socket.wait_connected(2)
    assert socket_bot.socket.events.opened == 2  # a fresh URL from apps.connections.open, as Slack requires

    # Slack redelivers the envelope on the new connection: acknowledged again, handled once.
    await socket_bot.socket.send("slash_commands", form_fields(body), envelope_id=first)
    await eventually(lambda: len(socket_bot.socket.acks_of(first)) == 2)
    # …and a new envelope on the new connection is handled as usual.
    url2 = socket_bot.slack.mint_response_url(CHANNEL, user=ALICE)
    body2 = slash_command_body(text="triage prod ledger-api", user_id=ALICE, response_url=url2, channel_id=CHANNEL)
    await socket_bot.envelope("slash_commands", form_fields(body2))
    await eventually(lambda: [p for p in socket_bot.slack.response_url_posts if p.url == url2])
    await asyncio.sleep(0.5)  # a second triage of the redelivered command would have posted by now
    assert len([p for p in socket_bot.slack.response_url_posts if p.url == url]) == 1


async def test_a_button_opens_the_form_and_its_submission_previews_the_change(socket_bot: SocketBot) -> None:
    pod = pods_of(socket_bot.sim, "shop", "ledger-api")[0]
    response = await socket_bot.client.post(
        "/alerts/alertmanager",
        json=am_payload(am_alert("shop", pod)),
        headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
    )
    assert response.status == 202
    root = await eventually(
        lambda: next(
            (m for m in socket_bot.slack.channel_messages(CHANNEL) if "runbook.bump_memory" in json.dumps(m.blocks)),
            None,
        )
    )
    value = next(
        e["value"] for b in root.blocks for e in b.get("elements", []) if e.get("action_id") == "runbook.bump_memory"
    )
    click = block_actions_body(
        "runbook.bump_memory",
        value,
        user_id=ALICE,
        channel_id=CHANNEL,
        message_ts=root.ts,
        response_url=socket_bot.slack.mint_response_url(CHANNEL, user=ALICE, message_ts=root.ts),
        trigger_id=TRIGGER,
    )
    await socket_bot.envelope("interactive", interactive(click))
    view = await eventually(lambda: next(iter(socket_bot.slack.views.values()), None))
    assert "384Mi" in json.dumps(view.payload)

    state = {"to": {"to": {"type": "plain_text_input", "value": "384Mi"}}}
    submit = view_submission_body("remedy.form", view.private_metadata, state, ALICE)
    await socket_bot.envelope("interactive", interactive(submit))
    preview = await eventually(
        lambda: next(
            (e for e in socket_bot.slack.ephemerals(CHANNEL, ALICE) if "Preview" in e.text + json.dumps(e.blocks)),
            None,
        )
    )
    assert "memory: 384Mi" in json.dumps(preview.blocks)
