"""A thread reply is never posted twice when Slack's answer is lost: the bot looks for it in the thread and adopts it.

The reply is a real one: "Re-run triage" on an incident whose workload can no longer be read queues "Could not
triage" for its thread. Slack (the stand-in) posts it and loses the answer; the bot must end with exactly one such
reply, whether the look-up happens at once or only on the next attempt (after the look-up itself failed, as after
a crash between Slack and SQL: the reply was marked tried in SQL before it was sent).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.store.rows import IncidentRow
from tests.databases import create_pg_database, drop_pg_database
from tests.service.conftest import CHANNEL, Bot, BotFactory, am_alert, am_payload, blocks_text, eventually, pods_of


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    url = await create_pg_database()
    yield url
    await drop_pg_database(url)


async def _posted(bot: Bot) -> IncidentRow:
    async def synced() -> IncidentRow | None:
        [incident] = await bot.services.store.list_incidents(status="open") or [None]
        return incident if incident and incident.needs_sync == 0 and incident.root_ts else None

    pod = pods_of(bot.sim, "shop", "ledger-api")[0]
    assert (await bot.alerts(am_payload(am_alert("shop", pod)))).status == 202
    incident: IncidentRow = await eventually(synced)
    return incident


def _could_not_triage(bot: Bot, root_ts: str) -> list[Any]:
    return [m for m in bot.slack.thread(CHANNEL, root_ts) if "Could not triage" in blocks_text(m.blocks)]


async def _settled(bot: Bot, incident: IncidentRow) -> bool:
    """Slack shows the incident as it is: nothing pending, no sync due."""
    now = await bot.services.store.get_incident(incident.id)
    return now is not None and now.needs_sync == 0 and now.pending_replies == []


async def _retriage_failing(bot: Bot, incident: IncidentRow) -> None:
    bot.sim.add_fault(verb="get", status=403)  # the workload can no longer be read: triage fails, said in the thread
    bot.sim.add_fault(verb="list", status=403)
    await bot.worker.retriage(incident.id)


async def test_a_reply_whose_answer_was_dropped_is_adopted_not_posted_again(bot: Bot) -> None:
    incident = await _posted(bot)
    posts_before = len(bot.slack.calls_to("chat.postMessage"))
    bot.slack.lose_answer("chat.postMessage", drop=True)
    await _retriage_failing(bot, incident)
    await eventually(lambda: _settled(bot, incident))
    assert len(_could_not_triage(bot, str(incident.root_ts))) == 1
    replies = [c for c in bot.slack.calls_to("chat.postMessage")[posts_before:] if c.args.get("thread_ts")]
    assert len(replies) == 1  # posted once; the lost answer was settled by a look-up in the thread
    [lookup] = bot.slack.calls_to("conversations.replies")
    assert lookup.args["ts"] == incident.root_ts
    assert lookup.args["include_all_metadata"] in (True, "true", "1")


async def test_a_reply_tried_before_is_looked_up_on_the_next_attempt(
    bot_factory: BotFactory, db_url: str | None
) -> None:
    bot = await bot_factory(db_url=db_url)
    incident = await _posted(bot)
    bot.slack.lose_answer("chat.postMessage", drop=True)
    bot.slack.fail("conversations.replies", error="internal_error")  # the first look-up fails: the sync is retried
    await _retriage_failing(bot, incident)

    async def failed_once() -> IncidentRow | None:
        now = await bot.services.store.get_incident(incident.id)
        return now if now is not None and now.slack_error is not None else None

    failed = await eventually(failed_once)
    assert failed.needs_sync == 1
    [pending] = failed.pending_replies
    assert pending["tried"] is True  # marked in SQL before it was sent: any later attempt looks first
    await eventually(lambda: _settled(bot, incident), within=20)
    assert len(_could_not_triage(bot, str(incident.root_ts))) == 1
    assert len(bot.slack.calls_to("conversations.replies")) == 2


async def test_another_reply_in_the_thread_is_not_adopted(bot: Bot) -> None:
    incident = await _posted(bot)
    await _retriage_failing(bot, incident)  # a first "Could not triage", answered normally
    await eventually(lambda: _could_not_triage(bot, str(incident.root_ts)))
    bot.slack.lose_answer("chat.postMessage", drop=True)
    await bot.worker.retriage(incident.id)  # a second one: its lost answer must not adopt the first
    await eventually(lambda: _settled(bot, incident))
    assert len(_could_not_triage(bot, str(incident.root_ts))) == 2
