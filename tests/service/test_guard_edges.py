"""The guard's edges in Slack: group membership re-read before an apply, buttons that go dead once a change
moves on, one answer (with an error id) for failures nobody expected, and no request body in any log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.devtools.slackstub.signing import block_actions_body, slash_command_body
from tests.service.conftest import CHANNEL, BotFactory, eventually
from tests.service.test_guarded_actions import (
    ALICE,
    BOB,
    CAROL,
    alert_for,
    button,
    change_id,
    click,
    config,
    real_patches,
    told,
)


async def click_on(bot: Any, user: str, action_id: str, value: str, message: Any) -> None:
    """A click on a posted message, carrying the message as Slack sends it (its blocks included)."""
    url = bot.slack.mint_response_url(CHANNEL, user=user, message_ts=message.ts)
    clicked = {"type": "message", "ts": message.ts, "text": message.text, "blocks": message.blocks}
    body = block_actions_body(action_id, value, user_id=user, channel_id=CHANNEL, message=clicked, response_url=url)
    assert (await bot.slack_request(body)).status == 200


@pytest.fixture
def sim() -> Iterator[SimCluster]:
    with SimCluster(load_scenarios(), token="sim-token").running() as cluster:
        yield cluster


@pytest.fixture
def kubeconfig(sim: SimCluster, tmp_path: Path) -> Path:
    return Path(sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim"))


async def test_a_responder_removed_from_the_group_cannot_confirm_on_the_cached_membership(
    bot_factory: BotFactory, kubeconfig: Path
) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, "shop", "web-app")
    await click(bot, BOB, "runbook.rollout_undo", button(root, "runbook.rollout_undo")["value"], root.ts)
    preview = await told(bot, BOB, "Preview")  # bob is a responder through S0SRE0001: now cached
    bot.slack.set_usergroup_members("S0SRE0001", [])  # bob leaves the on-call group
    await click(bot, BOB, "change.confirm", change_id(preview, "change.confirm"))
    refusal = await told(bot, BOB, "not a viewer or responder")
    assert "you may not confirm" in refusal.text
    assert real_patches(bot.sim) == []


async def test_a_responder_removed_from_the_group_cannot_approve(bot_factory: BotFactory, kubeconfig: Path) -> None:
    bot = await bot_factory(config=config(kubeconfig, approval=True))
    root = await alert_for(bot, "shop", "web-app")
    await click(bot, ALICE, "runbook.rollout_undo", button(root, "runbook.rollout_undo")["value"], root.ts)
    await click(bot, ALICE, "change.confirm", change_id(await told(bot, ALICE, "Preview"), "change.confirm"))
    request = await eventually(
        lambda: next((m for m in bot.slack.thread(CHANNEL, root.ts) if "Approve" in json.dumps(m.blocks)), None)
    )
    assert (await bot.services.access.role(BOB, "prod")).role.name == "RESPONDER"  # cached from here on
    bot.slack.set_usergroup_members("S0SRE0001", [])
    await click(bot, BOB, "change.approve", change_id(request, "change.approve"))
    assert "you may not approve" in (await told(bot, BOB, "you may not approve")).text
    assert real_patches(bot.sim) == []


async def test_directly_listed_people_do_not_depend_on_the_group_lookup(
    bot_factory: BotFactory, kubeconfig: Path
) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, "shop", "web-app")
    bot.slack.fail("usergroups.users.list", error="internal_error", times=None)  # Slack cannot say who is in S0…
    url = bot.slack.mint_response_url(CHANNEL, user=CAROL)
    await bot.slack_request(
        slash_command_body(text="triage prod web-app", user_id=CAROL, response_url=url, channel_id=CHANNEL)
    )
    await eventually(lambda: any(p.url == url and p.effect == "in_channel" for p in bot.slack.response_url_posts))
    await click(bot, ALICE, "runbook.rollout_undo", button(root, "runbook.rollout_undo")["value"], root.ts)
    await click(bot, ALICE, "change.confirm", change_id(await told(bot, ALICE, "Preview"), "change.confirm"))
    await eventually(lambda: len(real_patches(bot.sim)) == 1)
    await click(bot, BOB, "runbook.rollout_undo", button(root, "runbook.rollout_undo")["value"], root.ts)
    assert "could not read members of user group S0SRE0001" in (await told(bot, BOB, "could not read")).text


async def test_approval_buttons_are_replaced_by_the_state_once_the_change_moves_on(
    bot_factory: BotFactory, kubeconfig: Path
) -> None:
    bot = await bot_factory(config=config(kubeconfig, approval=True))
    root = await alert_for(bot, "shop", "web-app")
    await click(bot, ALICE, "runbook.rollout_undo", button(root, "runbook.rollout_undo")["value"], root.ts)
    await click(bot, ALICE, "change.confirm", change_id(await told(bot, ALICE, "Preview"), "change.confirm"))
    request = await eventually(
        lambda: next((m for m in bot.slack.thread(CHANNEL, root.ts) if "Approve" in json.dumps(m.blocks)), None)
    )
    approve = change_id(request, "change.approve")
    await click_on(bot, ALICE, "change.approve", approve, request)  # refused: the buttons stay live
    await told(bot, ALICE, "self-approval")
    assert "change.approve" in json.dumps(bot.slack.message(CHANNEL, request.ts).blocks)

    await click_on(bot, BOB, "change.reject", approve, request)
    settled = await eventually(
        lambda: (m := bot.slack.message(CHANNEL, request.ts)) and "change.approve" not in json.dumps(m.blocks) and m
    )
    assert "rejected; nothing was applied" in json.dumps(settled.blocks)
    assert "asks to" in json.dumps(settled.blocks)  # the request itself is still there to read
    await click_on(bot, BOB, "change.approve", approve, request)  # a stale copy of the buttons
    assert "not awaiting approval (it is rejected now)" in (await told(bot, BOB, "not awaiting approval")).text
    assert real_patches(bot.sim) == []


async def test_an_unexpected_failure_answers_with_an_error_id_that_is_in_the_log(
    bot_factory: BotFactory, kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, "shop", "checkout")
    bot.slack.fail("views.open", error="internal_error", times=None)  # after the ack: the form cannot open
    with caplog.at_level(logging.ERROR, logger="crashloop"):
        await click(bot, ALICE, "runbook.set_env", button(root, "runbook.set_env")["value"], root.ts)
        answer = await told(bot, ALICE, "error id")
    error_id = answer.text.split("error id `", 1)[1].split("`", 1)[0]
    assert len(error_id) == 8
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged
    assert logged[0].exc_info is not None
    assert "response_url" not in caplog.text


async def test_a_bad_signature_is_refused_without_logging_the_body(
    bot_factory: BotFactory, kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    url = bot.slack.mint_response_url(CHANNEL, user=ALICE)
    body = block_actions_body("change.confirm", "x", user_id=ALICE, channel_id=CHANNEL, response_url=url)
    with caplog.at_level(logging.DEBUG):
        response = await bot.slack_request(body, secret="not-the-secret")
    assert response.status == 401
    logged: Any = caplog.text
    assert url not in logged
    assert "payload" not in logged
    assert "response_url" not in logged
