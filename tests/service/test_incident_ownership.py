"""'I'm on it' and 'Take over' through signed Slack clicks: the root message shows the owner, every step is audited,
a viewer cannot own, stale and forged clicks get a clear answer (never a 5xx); on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bot.devtools.slackstub.signing import block_actions_body
from tests.service.conftest import CHANNEL, Bot, BotFactory, am_alert, am_payload, blocks_text, eventually, pods_of

ALICE, BOB, CAROL, MALLORY = "U0ONCALL1", "U0ONCALL2", "U0VIEWER1", "U0STRANGER"
DATE_TOKEN = re.compile(r"<!date\^(\d+)\^\{date_short_pretty\} \{time\}\|[^>]+ UTC>")


async def posted(bot: Bot, workload: str = "search") -> Any:
    pod = pods_of(bot.sim, "shop", workload)[0]
    await bot.alerts(am_payload(am_alert("shop", pod)))
    return await eventually(lambda: next(iter(bot.roots()), None))


async def click(bot: Bot, user: str, action_id: str, value: str, ts: str | None, *, status: int = 200) -> None:
    url = bot.slack.mint_response_url(CHANNEL, user=user, message_ts=ts)
    body = block_actions_body(action_id, value, user_id=user, channel_id=CHANNEL, message_ts=ts, response_url=url)
    response = await bot.slack_request(body)
    assert response.status == status, await response.text()


async def told(bot: Bot, user: str, contains: str) -> Any:
    def find() -> Any:
        shown = bot.slack.ephemerals(CHANNEL, user)
        return next((e for e in reversed(shown) if contains in e.text + json.dumps(e.blocks or [])), None)

    return await eventually(find)


def owner_line(message: Any) -> str | None:
    texts = [e["text"] for b in message.blocks if b["type"] == "context" for e in b["elements"]]
    return next((t for t in texts if "owns this" in t), None)


async def audit_rows(bot: Bot) -> list[tuple[str, str, str]]:
    return [(r.event.action, r.event.outcome, r.event.actor_id) for r in await bot.services.audit.list()]


async def test_im_on_it_then_take_over_shows_the_owner_and_is_audited(bot_factory: BotFactory, db_url: str) -> None:
    bot = await bot_factory(db_url)
    root = await posted(bot)
    [incident] = await bot.services.store.list_incidents()
    assert owner_line(root) is None

    await click(bot, ALICE, "incident.ack", str(incident.id), root.ts)
    line = await eventually(lambda: owner_line(bot.slack.message(CHANNEL, root.ts)))
    assert line.startswith(f"👤 <@{ALICE}> owns this since <!date^")
    owned = await bot.services.store.get_incident(incident.id)
    assert owned is not None
    assert owned.owner_id == ALICE
    assert owned.owned_since is not None
    [(stamp,)] = [(int(m.group(1)),) for m in DATE_TOKEN.finditer(line)]
    assert stamp == int(owned.owned_since.timestamp())
    assert "You own the incident on shop/search" in (await told(bot, ALICE, "You own")).text

    # a second click by someone else offers to take over; the owner stays until they accept
    await click(bot, BOB, "incident.ack", str(incident.id), root.ts)
    offer = await told(bot, BOB, "take over?")
    assert offer.text.startswith(f"👤 <@{ALICE}> owns this since <!date^")
    [take] = [e for b in offer.blocks if b["type"] == "actions" for e in b["elements"]]
    assert (take["action_id"], take["value"]) == ("incident.take_over", f"{incident.id}:{ALICE}")
    assert (await bot.services.store.get_incident(incident.id)).owner_id == ALICE  # type: ignore[union-attr]

    await click(bot, BOB, "incident.take_over", take["value"], None)
    assert f"taken over from <@{ALICE}>" in (await told(bot, BOB, "taken over from")).text
    await eventually(lambda: (owner_line(bot.slack.message(CHANNEL, root.ts)) or "").startswith(f"👤 <@{BOB}>"))
    assert bot.slack.message(CHANNEL, root.ts).metadata["event_payload"]["owner"] == BOB

    # the offer clicked again (a replay): nothing changes, nothing more is audited
    await click(bot, BOB, "incident.take_over", take["value"], None)
    assert "You already own" in (await told(bot, BOB, "already own")).text
    # the previous owner, clicking "I'm on it" now, is offered it back from the new owner
    await click(bot, ALICE, "incident.ack", str(incident.id), root.ts)
    back = await told(bot, ALICE, "take over?")
    assert back.text.startswith(f"👤 <@{BOB}> owns this")

    assert await audit_rows(bot) == [("acknowledged", "ok", ALICE), ("taken_over", "ok", BOB)]
    records = await bot.services.audit.list()
    assert records[1].event.detail == f"took incident {incident.id} over from alice"
    assert (records[0].event.incident_id, records[0].event.slack_channel) == (incident.id, CHANNEL)
    assert (await bot.services.audit.verify()).ok  # the keyed chain takes the new actions


async def test_a_viewer_or_a_stranger_cannot_own_and_the_refusal_is_audited(
    bot_factory: BotFactory, db_url: str
) -> None:
    bot = await bot_factory(db_url)
    root = await posted(bot)
    [incident] = await bot.services.store.list_incidents()
    await click(bot, CAROL, "incident.ack", str(incident.id), root.ts)
    refused = await told(bot, CAROL, "responder role")
    assert "user U0VIEWER1 is listed as a viewer" in refused.text
    await click(bot, MALLORY, "incident.ack", str(incident.id), root.ts)
    assert "not a viewer or responder" in (await told(bot, MALLORY, "responder role")).text
    await click(bot, CAROL, "incident.take_over", f"{incident.id}:{ALICE}", None)
    await eventually(lambda: len(bot.slack.ephemerals(CHANNEL, CAROL)) == 2)

    assert (await bot.services.store.get_incident(incident.id)).owner_id is None  # type: ignore[union-attr]
    assert owner_line(bot.slack.message(CHANNEL, root.ts)) is None
    denied = ("denied", "refused")
    assert await audit_rows(bot) == [(*denied, CAROL), (*denied, MALLORY), (*denied, CAROL)]
    assert (await bot.services.audit.verify()).ok


async def test_stale_and_forged_clicks_get_a_clear_answer(bot_factory: BotFactory, db_url: str) -> None:
    bot = await bot_factory(db_url)
    root = await posted(bot)
    [incident] = await bot.services.store.list_incidents()

    await click(bot, ALICE, "incident.ack", "999999", root.ts)
    assert "incident 999999 is unknown" in (await told(bot, ALICE, "999999")).text
    await click(bot, ALICE, "incident.ack", "'; DROP TABLE incidents;--", root.ts)
    assert "is not an incident this bot posted" in (await told(bot, ALICE, "not an incident")).text
    await click(bot, ALICE, "incident.ack", "9" * 30, root.ts)  # past any SQL integer
    assert "is not an incident this bot posted" in (await told(bot, ALICE, "999999999")).text
    await click(bot, ALICE, "incident.take_over", f"{'9' * 30}:{BOB}", None)
    assert "is not an offer this bot made" in (await told(bot, ALICE, "99999:")).text
    await click(bot, ALICE, "incident.take_over", "not-an-offer", None)
    assert "is not an offer this bot made" in (await told(bot, ALICE, "not an offer")).text
    await click(bot, ALICE, "incident.take_over", f"424242:{BOB}", None)
    assert "incident 424242 is unknown" in (await told(bot, ALICE, "424242")).text

    pod = pods_of(bot.sim, "shop", "search")[0]
    await bot.alerts(am_payload(am_alert("shop", pod, status="resolved"), status="resolved"))
    await eventually(lambda: "Resolved after" in blocks_text(bot.slack.message(CHANNEL, root.ts).blocks))
    await click(bot, ALICE, "incident.ack", str(incident.id), root.ts)  # a button on an old copy of the message
    assert "already resolved" in (await told(bot, ALICE, "already resolved")).text
    assert (await bot.services.store.get_incident(incident.id)).owner_id is None  # type: ignore[union-attr]
    assert await audit_rows(bot) == []


async def test_of_two_owners_at_once_one_wins(bot_factory: BotFactory, db_url: str) -> None:
    bot = await bot_factory(db_url)
    await posted(bot)
    [incident] = await bot.services.store.list_incidents()
    store = bot.services.store
    won = await store.set_incident_owner(incident.id, ALICE, "alice", expected_owner=None)
    lost = await store.set_incident_owner(incident.id, BOB, "bob", expected_owner=None)  # saw it unowned too
    assert won is not None
    assert won.owner_id == ALICE
    assert lost is None
    stale = await store.set_incident_owner(incident.id, BOB, "bob", expected_owner="U0SOMEONE")
    assert stale is None
    assert (await store.get_incident(incident.id)).owner_id == ALICE  # type: ignore[union-attr]


async def test_firing_for_is_computed_at_each_render_from_stored_times(bot_factory: BotFactory, db_url: str) -> None:
    bot = await bot_factory(db_url)
    root = await posted(bot)
    [incident] = await bot.services.store.list_incidents()
    status = blocks_text(root.blocks)
    assert re.search(r"firing for \d+s \(since <!date\^\d+\^", status), status
    assert "updated <!date^" in status

    opened = datetime.now(UTC) - timedelta(hours=2, minutes=5)
    async with bot.services.store.engine.begin() as conn:  # as if it had been firing for two hours
        await conn.execute(
            text("UPDATE incidents SET opened_at = :at WHERE id = :id"), {"at": opened, "id": incident.id}
        )
    await click(bot, ALICE, "incident.ack", str(incident.id), root.ts)  # any update re-renders the message
    updated = await eventually(
        lambda: (m := bot.slack.message(CHANNEL, root.ts)) and "firing for 2h 5m" in blocks_text(m.blocks) and m
    )
    assert f"<!date^{int(opened.timestamp())}^" in blocks_text(updated.blocks)


REFUSE_AUDIT = {
    "sqlite": ["CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit down'); END"],
    "postgresql": [
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit down'; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse()",
    ],
}


async def test_nothing_is_owned_when_the_audit_row_cannot_be_written(bot_factory: BotFactory, db_url: str) -> None:
    bot = await bot_factory(db_url)
    root = await posted(bot)
    [incident] = await bot.services.store.list_incidents()
    store = bot.services.store
    async with store.engine.begin() as conn:  # the database refuses every audit row from now on
        for statement in REFUSE_AUDIT[store.dialect]:
            await conn.execute(text(statement))
    await click(bot, ALICE, "incident.ack", str(incident.id), root.ts)
    answer = await told(bot, ALICE, "Not owned")
    assert "the database refused to record it" in answer.text
    assert (await store.get_incident(incident.id)).owner_id is None  # type: ignore[union-attr]
    assert owner_line(bot.slack.message(CHANNEL, root.ts)) is None


# the database also fails any write that would take an owner back (as if it went away right after the audit row
# was refused): an owner written apart from its audit row could not be given back
REFUSE_GIVING_BACK = {
    "sqlite": [
        "CREATE TRIGGER no_give_back BEFORE UPDATE OF owner_id ON incidents"
        " WHEN OLD.owner_id IS NOT NULL AND NEW.owner_id IS NULL BEGIN SELECT RAISE(ABORT, 'database gone'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION no_give_back() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'database gone'; END $$",
        "CREATE TRIGGER no_give_back BEFORE UPDATE OF owner_id ON incidents FOR EACH ROW"
        " WHEN (OLD.owner_id IS NOT NULL AND NEW.owner_id IS NULL) EXECUTE FUNCTION no_give_back()",
    ],
}


async def test_the_owner_and_its_audit_row_are_one_transaction(bot_factory: BotFactory, db_url: str) -> None:
    bot = await bot_factory(db_url)
    root = await posted(bot)
    [incident] = await bot.services.store.list_incidents()
    store = bot.services.store
    async with store.engine.begin() as conn:
        for statement in [*REFUSE_AUDIT[store.dialect], *REFUSE_GIVING_BACK[store.dialect]]:
            await conn.execute(text(statement))
    await click(bot, ALICE, "incident.ack", str(incident.id), root.ts)
    answer = await told(bot, ALICE, "Not owned")
    assert "the database refused to record it" in answer.text
    now = await store.get_incident(incident.id)
    assert now is not None
    assert (now.owner_id, now.owned_since) == (None, None)
    assert await audit_rows(bot) == []


async def test_an_owner_set_by_another_process_during_a_root_update_reaches_the_message(
    bot_factory: BotFactory, db_url: str
) -> None:
    """`crashloop ack` (or another replica) commits an owner while this process's chat.update is in flight: the
    sync must not mark the incident up to date, or the root message would never show that owner."""
    bot = await bot_factory(db_url)
    root = await posted(bot)
    [incident] = await bot.services.store.list_incidents()
    await eventually(lambda: _synced(bot, incident.id))
    store, slack = bot.services.store, bot.worker.slack
    real_update = slack.update
    committed: list[Any] = []

    async def update_while_someone_acks(*args: Any, **kwargs: Any) -> Any:
        sent = await real_update(*args, **kwargs)
        if not committed:  # the other process commits after this payload was rendered, before the sync ends
            committed.append(await store.set_incident_owner(incident.id, "cli:ana", "ana", expected_owner=None))
        return sent

    slack.update = update_while_someone_acks  # type: ignore[method-assign]
    await bot.worker.resync(incident.id)  # e.g. a re-triage: the root message is updated

    line = await eventually(lambda: owner_line(bot.slack.message(CHANNEL, root.ts)), within=5)
    assert committed
    assert committed[0] is not None
    assert line.startswith("👤 ana owns this since <!date^")
    assert await eventually(lambda: _synced(bot, incident.id))


async def _synced(bot: Bot, incident_id: int) -> bool:
    incident = await bot.services.store.get_incident(incident_id)
    return incident is not None and not incident.needs_sync and bool(incident.root_ts)
