"""Slash commands and button clicks, sent to /slack/events signed exactly as Slack signs them."""

from __future__ import annotations

import json
import time

from bot.devtools.slackstub.signing import block_actions_body, slash_command_body
from tests.service.conftest import CHANNEL, Bot, am_alert, am_payload, eventually, pods_of


def command(bot: Bot, text: str, user: str = "U0ONCALL1") -> tuple[str, str]:
    url = bot.slack.mint_response_url(CHANNEL, user=user)
    return slash_command_body(text=text, user_id=user, response_url=url, channel_id=CHANNEL), url


def posts_to(bot: Bot, url: str) -> list:  # type: ignore[type-arg]
    return [p for p in bot.slack.response_url_posts if p.url == url]


async def test_triage_command_acks_then_answers_in_channel(bot: Bot) -> None:
    body, url = command(bot, "triage prod ledger-api")
    started = time.monotonic()
    response = await bot.slack_request(body)
    assert response.status == 200
    assert time.monotonic() - started < 3
    assert "Triaging" in await response.text()
    [post] = await eventually(lambda: posts_to(bot, url))
    assert post.effect == "in_channel"
    text = json.dumps(post.body["blocks"], ensure_ascii=False)
    assert "Triage · shop/ledger-api (prod)" in text
    assert "OOMKilled" in text
    assert "runbook.bump_memory" in text


async def test_unsigned_bad_or_stale_requests_are_401(bot: Bot) -> None:
    body, url = command(bot, "triage prod ledger-api")
    assert (await bot.slack_request(body, secret="not-the-secret")).status == 401
    assert (await bot.slack_request(body, timestamp=int(time.time()) - 6 * 60)).status == 401
    unsigned = await bot.client.post(
        "/slack/events", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert unsigned.status == 401
    assert posts_to(bot, url) == []


async def test_unknown_user_is_refused_with_the_reason(bot: Bot) -> None:
    body, url = command(bot, "triage prod ledger-api", user="U0STRANGER")
    assert (await bot.slack_request(body)).status == 200
    [post] = await eventually(lambda: posts_to(bot, url))
    assert post.effect == "ephemeral"
    assert "/crashloop triage prod ledger-api" in post.body["text"]
    assert "not a viewer or responder" in post.body["text"]


async def test_group_member_may_triage(bot: Bot) -> None:
    body, url = command(bot, "triage prod search", user="U0ONCALL2")  # in S0SRE0001
    await bot.slack_request(body)
    [post] = await eventually(lambda: posts_to(bot, url))
    assert post.effect == "in_channel"
    assert bot.slack.calls_to("usergroups.users.list")


async def test_failed_group_lookup_denies(bot: Bot) -> None:
    bot.slack.fail("usergroups.users.list", error="missing_scope", times=None)
    body, url = command(bot, "triage prod search", user="U0ONCALL2")
    await bot.slack_request(body)
    [post] = await eventually(lambda: posts_to(bot, url))
    assert post.effect == "ephemeral"
    assert "missing_scope" in post.body["text"]


async def test_unknown_environment_and_workload_are_explained(bot: Bot) -> None:
    body, url = command(bot, "triage staging web")
    await bot.slack_request(body)
    [post] = await eventually(lambda: posts_to(bot, url))
    assert "unknown environment `staging`; configured: prod" in post.body["text"]
    body, url = command(bot, "triage prod nope")
    await bot.slack_request(body)
    [post] = await eventually(lambda: posts_to(bot, url))
    assert "no Deployment, StatefulSet, DaemonSet or Pod named 'nope'" in post.body["text"]
    assert "ledger-api (Deployment)" in post.body["text"]


async def test_status_lists_open_incidents(bot: Bot) -> None:
    pod = pods_of(bot.sim, "shop", "ledger-api")[0]
    await bot.alerts(am_payload(am_alert("shop", pod)))
    await eventually(bot.roots)
    body, url = command(bot, "status prod", user="U0VIEWER1")
    await bot.slack_request(body)
    [post] = await eventually(lambda: posts_to(bot, url))
    assert post.effect == "ephemeral"
    assert "1 open incident(s) in prod" in post.body["text"]
    assert "shop/ledger-api" in post.body["text"]


async def test_help_and_unknown_commands(bot: Bot) -> None:
    body, url = command(bot, "help")
    await bot.slack_request(body)
    [post] = await eventually(lambda: posts_to(bot, url))
    assert "/crashloop triage ENV WORKLOAD" in post.body["text"]
    body, url = command(bot, "frobnicate")
    await bot.slack_request(body)
    [post] = await eventually(lambda: posts_to(bot, url))
    assert "unknown command 'frobnicate'" in post.body["text"]


async def test_rerun_triage_button_updates_the_root_message(bot: Bot) -> None:
    pod = pods_of(bot.sim, "shop", "search")[0]
    await bot.alerts(am_payload(am_alert("shop", pod)))
    [root] = await eventually(bot.roots)
    incident = (await bot.services.store.list_incidents())[0]
    before = len(bot.slack.calls_to("chat.update"))
    url = bot.slack.mint_response_url(CHANNEL, user="U0VIEWER1", message_ts=root.ts)
    body = block_actions_body(
        "triage.rerun", str(incident.id), user_id="U0VIEWER1", message_ts=root.ts, response_url=url, channel_id=CHANNEL
    )
    response = await bot.slack_request(body)
    assert response.status == 200
    await eventually(lambda: len(bot.slack.calls_to("chat.update")) > before)
    updated = await bot.services.store.get_incident(incident.id)
    assert updated is not None
    assert updated.last_triage_at is not None
    assert incident.last_triage_at is not None
    assert updated.last_triage_at > incident.last_triage_at


async def test_rerun_by_a_stranger_is_refused(bot: Bot) -> None:
    pod = pods_of(bot.sim, "shop", "search")[0]
    await bot.alerts(am_payload(am_alert("shop", pod)))
    [root] = await eventually(bot.roots)
    incident = (await bot.services.store.list_incidents())[0]
    url = bot.slack.mint_response_url(CHANNEL, user="U0STRANGER", message_ts=root.ts)
    body = block_actions_body(
        "triage.rerun", str(incident.id), user_id="U0STRANGER", message_ts=root.ts, response_url=url, channel_id=CHANNEL
    )
    await bot.slack_request(body)
    [post] = await eventually(lambda: posts_to(bot, url))
    assert "Re-run triage of search" in post.body["text"]
    assert "not a viewer or responder" in post.body["text"]


async def test_hotspots_command_reports_for_the_asker(bot: Bot) -> None:
    body, url = command(bot, "hotspots prod --days 7", user="U0VIEWER1")
    await bot.slack_request(body)
    [post] = await eventually(lambda: posts_to(bot, url))
    assert post.effect == "ephemeral"
    assert "Restart hotspots" in json.dumps(post.body["blocks"], ensure_ascii=False)
    body, url = command(bot, "hotspots prod --days 900", user="U0VIEWER1")
    await bot.slack_request(body)
    [post] = await eventually(lambda: posts_to(bot, url))
    assert "`--days N` takes a number of days from 1 to 90" in post.body["text"]


async def test_what_a_user_typed_is_echoed_inert(bot: Bot) -> None:
    body, url = command(bot, "triage `*st_ag~ing*` <!here>")
    await bot.slack_request(body)
    [post] = await eventually(lambda: posts_to(bot, url))
    text = post.body["text"]
    assert text.startswith(":no_entry: `/crashloop triage ˋ*st_ag~ing*ˋ &lt;!here&gt;` — ")
    assert "unknown environment `ˋ*st_ag~ing*ˋ`; configured: prod" in text
