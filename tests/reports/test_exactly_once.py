"""Exactly once per environment and period with several replicas: two schedulers, two engines, one PostgreSQL.

Each scheduler has its own engine (as two pods would); they race for the same period through the SQL claim.
One posts, the other skips. A claim whose holder crashed is retried once its lease has run out; a completed run is
never posted again. The last test lets APScheduler itself fire both schedulers every second.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger

from bot.core.report_settings import crontab_trigger
from bot.devtools.slackstub import SlackStandIn
from bot.reports.model import Window
from bot.reports.schedule import HotspotScheduler, last_fire
from tests.databases import create_pg_database, drop_pg_database
from tests.reports.conftest import CHANNEL, ENV, ContextFactory, reports_config

MONDAY_0905 = datetime(2026, 11, 16, 9, 5, tzinfo=UTC)


@pytest.fixture
async def pg() -> AsyncIterator[str]:
    url = await create_pg_database()
    yield url
    await drop_pg_database(url)


async def two_schedulers(factory: ContextFactory, url: str, **hotspots: object) -> list[HotspotScheduler]:
    replicas = [await factory(url, reports=reports_config(**hotspots)) for _ in range(2)]
    return [HotspotScheduler(ctx, owner=f"replica-{i}") for i, ctx in enumerate(replicas)]


async def test_concurrent_claims_of_one_period_have_one_winner(context_factory: ContextFactory, pg: str) -> None:
    a, b = await two_schedulers(context_factory, pg)
    start = datetime(2026, 11, 9, tzinfo=UTC)
    lease = timedelta(minutes=15)
    claims = [s.ctx.report_store.claim(ENV, start, lease, owner=f"{s.owner}-{i}") for i in range(10) for s in (a, b)]
    assert sorted(await asyncio.gather(*claims)) == [False] * 19 + [True]


async def test_two_schedulers_firing_together_post_once(
    context_factory: ContextFactory, pg: str, slack: SlackStandIn
) -> None:
    a, b = await two_schedulers(context_factory, pg)
    results = await asyncio.gather(a.fire(MONDAY_0905), b.fire(MONDAY_0905 + timedelta(seconds=3)))
    outcomes = sorted(r.outcome for rs in results for r in rs)
    assert outcomes == ["posted", "skipped"]
    assert len(slack.channel_messages(CHANNEL)) == 1
    run = await a.ctx.report_store.get_run(ENV, datetime(2026, 11, 9, tzinfo=UTC))
    assert run is not None
    assert (run.state, run.attempts, run.period_end) == ("done", 1, datetime(2026, 11, 16, tzinfo=UTC))
    # completed: neither a later fire of the same period nor a catch-up posts it again
    assert [r.outcome for r in await b.fire(MONDAY_0905 + timedelta(hours=2))] == ["skipped"]
    assert await a.catch_up(MONDAY_0905 + timedelta(hours=3)) == []
    assert len(slack.channel_messages(CHANNEL)) == 1


async def test_a_crashed_claim_is_retried_after_its_lease_and_then_never_again(
    context_factory: ContextFactory, pg: str, slack: SlackStandIn
) -> None:
    crashed, survivor = await two_schedulers(context_factory, pg, lease_minutes=15)
    window = Window.days(7, end=MONDAY_0905, align=True)
    # replica 0 claims the period and dies before posting anything
    assert await crashed.ctx.report_store.claim(
        ENV, window.start, timedelta(minutes=15), owner=crashed.owner, period_end=window.end, now=MONDAY_0905
    )
    assert await survivor.catch_up(MONDAY_0905 + timedelta(minutes=14)) == []  # still leased: hands off
    assert slack.channel_messages(CHANNEL) == []

    [retry] = await survivor.catch_up(MONDAY_0905 + timedelta(minutes=16))
    assert (retry.outcome, retry.period_start) == ("posted", window.start)
    assert len(slack.channel_messages(CHANNEL)) == 1
    run = await survivor.ctx.report_store.get_run(ENV, window.start)
    assert run is not None
    assert (run.state, run.attempts, run.claimed_by) == ("done", 2, survivor.owner)
    assert run.message_ts == slack.channel_messages(CHANNEL)[0].ts

    assert await survivor.catch_up(MONDAY_0905 + timedelta(days=1)) == []
    assert [r.outcome for r in await crashed.fire(MONDAY_0905 + timedelta(hours=1))] == ["skipped"]
    assert len(slack.channel_messages(CHANNEL)) == 1


async def test_a_failed_post_is_retried_without_posting_the_message_twice(
    context_factory: ContextFactory, pg: str, slack: SlackStandIn
) -> None:
    a, b = await two_schedulers(context_factory, pg)
    window = Window.days(7, end=MONDAY_0905, align=True)
    run = await a.ctx.report_store.claim(ENV, window.start, timedelta(minutes=15), owner=a.owner, period_end=window.end)
    assert run
    # the message went out, then the replica failed (e.g. the chart upload)
    ts = await a.ctx.slack.post(CHANNEL, "Restart hotspots in prod (first attempt)")
    assert await a.ctx.report_store.progress(ENV, window.start, owner=a.owner, channel=CHANNEL, message_ts=ts)
    assert await a.ctx.report_store.fail(ENV, window.start, owner=a.owner, error="SlackSendError: upload failed")

    [retry] = await b.catch_up(MONDAY_0905 + timedelta(minutes=1))
    assert retry.outcome == "posted"
    assert [m.ts for m in slack.channel_messages(CHANNEL)] == [ts]  # not posted again


async def test_a_missed_fire_is_caught_up_and_a_follower_does_nothing(
    context_factory: ContextFactory, pg: str, slack: SlackStandIn
) -> None:
    leader = HotspotScheduler(await context_factory(pg), owner="leader")
    follower = HotspotScheduler(await context_factory(pg, is_leader=lambda: False), owner="follower")
    assert await follower.fire(MONDAY_0905) == []
    assert await follower.catch_up(MONDAY_0905) == []
    # nobody ran Monday's 09:00 report (the leader was restarting); at 10:00 the catch-up does
    [caught] = await leader.catch_up(MONDAY_0905 + timedelta(hours=1))
    assert (caught.outcome, caught.period_start) == ("posted", datetime(2026, 11, 9, tzinfo=UTC))
    assert len(slack.channel_messages(CHANNEL)) == 1
    assert last_fire(crontab_trigger("0 9 * * 1", "UTC"), MONDAY_0905, timedelta(hours=1)) == (
        datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
    )
    assert last_fire(crontab_trigger("0 9 * * 1", "UTC"), MONDAY_0905, timedelta(minutes=1)) is None


async def test_apscheduler_fires_both_replicas_and_the_report_is_posted_once(
    context_factory: ContextFactory, pg: str, slack: SlackStandIn
) -> None:
    replicas = await two_schedulers(context_factory, pg)
    every_second = CronTrigger(second="*", timezone="UTC")
    for scheduler in replicas:
        scheduler.start(trigger=every_second, catch_up_every=timedelta(hours=1))
    try:
        await asyncio.sleep(2.5)  # at least two fires each
    finally:
        for scheduler in replicas:
            scheduler.shutdown()
    assert len(slack.channel_messages(CHANNEL)) == 1
    runs = [await replicas[0].ctx.report_store.get_run(ENV, Window.days(7, align=True).start)]
    assert [r.state if r else None for r in runs] == ["done"]
