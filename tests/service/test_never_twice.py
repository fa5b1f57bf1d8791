"""A root message is never posted twice when Slack's answer is lost: the bot looks for it and adopts it.

Three ways an answer is lost: the connection drops after Slack posted (the SDK's own retry would re-post), the
answer comes after the client's timeout, and the process dies between the post and saving its ts.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.core.metrics import Metrics
from bot.devtools.slackstub import SlackStandIn
from bot.slack import incident_message
from bot.slack.client import SlackOut, make_client
from bot.store.rows import IncidentRow
from tests.service.conftest import CHANNEL, Bot, am_alert, am_payload, eventually, pods_of


async def _synced(bot: Bot) -> IncidentRow | None:
    [incident] = await bot.services.store.list_incidents(status="open") or [None]
    return incident if incident and incident.needs_sync == 0 and incident.root_ts else None


async def test_dropped_connection_after_the_post_adopts_the_message(bot: Bot) -> None:
    bot.slack.lose_answer("chat.postMessage", drop=True)
    pod = pods_of(bot.sim, "shop", "ledger-api")[0]
    assert (await bot.alerts(am_payload(am_alert("shop", pod)))).status == 202
    incident = await eventually(lambda: _synced(bot))
    [root] = bot.roots()
    assert incident.root_ts == root.ts
    assert len(bot.slack.calls_to("chat.postMessage")) == 1  # not re-posted: looked up instead
    [lookup] = bot.slack.calls_to("conversations.history")
    assert lookup.args["include_all_metadata"] in (True, "true", "1")


async def test_answer_after_the_client_timeout_is_adopted(slack: SlackStandIn) -> None:
    out = SlackOut(make_client("xoxb-test", slack.api_url, Metrics(), timeout=1), Metrics(), min_interval=0)
    slack.lose_answer("chat.postMessage", delay=2.0)
    metadata = {"event_type": incident_message.EVENT_TYPE, "event_payload": {"incident_id": 42}}
    ts, adopted = await out.post_unique(
        CHANNEL,
        "root",
        [],
        metadata=metadata,
        is_it=incident_message.is_root_of(42),
        since=datetime.now(UTC).timestamp() - 60,
        look_first=False,
    )
    [root] = slack.channel_messages(CHANNEL)
    assert (ts, adopted) == (root.ts, True)
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_another_incidents_root_is_not_adopted(slack: SlackStandIn) -> None:
    out = SlackOut(make_client("xoxb-test", slack.api_url, Metrics()), Metrics(), min_interval=0)
    other = {"event_type": incident_message.EVENT_TYPE, "event_payload": {"incident_id": 1}}
    await out.post(CHANNEL, "incident 1", metadata=other)
    mine = {"event_type": incident_message.EVENT_TYPE, "event_payload": {"incident_id": 2}}
    is_mine = incident_message.is_root_of(2)
    ts, adopted = await out.post_unique(
        CHANNEL, "incident 2", [], metadata=mine, is_it=is_mine, since=0, look_first=True
    )
    assert [m.text for m in slack.channel_messages(CHANNEL)] == ["incident 1", "incident 2"]
    assert (ts, adopted) == (slack.channel_messages(CHANNEL)[1].ts, False)


async def test_a_post_whose_ts_was_never_saved_is_adopted_after_its_holder_died(bot: Bot) -> None:
    pod = pods_of(bot.sim, "shop", "ledger-api")[0]
    await bot.alerts(am_payload(am_alert("shop", pod)))
    incident = await eventually(lambda: _synced(bot))
    posted = incident.root_ts
    # as if the process had died after Slack posted and before the ts was saved: its claim is left behind
    dead_claim = f"claim:deadbeef0000:{datetime.now(UTC).timestamp():.0f}"
    await bot.services.store.update_incident(incident.id, root_ts=dead_claim, needs_sync=1, next_sync_at=None)
    bot.worker.wake()
    adopted = await eventually(lambda: _synced(bot))
    assert adopted.root_ts == posted
    assert len(bot.roots()) == 1
    assert len(bot.slack.calls_to("chat.postMessage")) == 1
    assert bot.slack.calls_to("chat.update")[-1].args["ts"] == posted


async def test_a_claim_held_by_a_live_replica_is_left_alone(bot: Bot) -> None:
    store = bot.services.store
    assert not await store.root_claim_abandoned(store.root_claim())  # this instance is alive
    assert await store.root_claim_abandoned("claim:deadbeef0000:1700000000")  # dead holder, and too old
    assert not await store.root_claim_abandoned("1700000000.000100")  # a posted ts is not a claim
