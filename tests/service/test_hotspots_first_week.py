"""`/crashloop hotspots` right after the bot started: its sampler has one sweep, report-worker has 571 restarts per
pod and ledger-api has an open incident. The signed slash command must say how little data there is, count the
restarts of pods created in the period, and list the workload with the incident — not declare the week healthy.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.store.report_rows import ReportStore
from tests.service.conftest import Bot, BotFactory, am_alert, am_payload, eventually, pods_of
from tests.service.test_slack_requests import command, posts_to


async def first_sweep(bot: Bot) -> datetime:
    reports = ReportStore(bot.services.store.engine)
    samples = await eventually(lambda: reports.samples("prod", until=datetime.now(UTC)))
    return min(s.at for s in samples)


async def test_hotspots_right_after_start_says_sampling_began_and_lists_the_open_incident(
    bot_factory: BotFactory, db_url: str
) -> None:
    bot = await bot_factory(db_url)
    since = await first_sweep(bot)
    pod = pods_of(bot.sim, "shop", "ledger-api")[0]
    assert (await bot.alerts(am_payload(am_alert("shop", pod)))).status == 202
    await eventually(bot.roots)  # the incident is open and posted

    body, url = command(bot, "hotspots prod --days 7", user="U0VIEWER1")
    assert (await bot.slack_request(body)).status == 200
    [post] = await eventually(lambda: posts_to(bot, url))

    text = json.dumps(post.body["blocks"], ensure_ascii=False)
    assert "No workload restarted" not in text
    assert f"sampling since {since:%a %d %b %H:%M} (UTC); 1 sample" in text
    assert "*1. `shop/report-worker`* (Deployment) — *1142 restarts*" in text
    assert "`shop/ledger-api`* (Deployment) — *0 (+28 undated) restarts*" in text
    assert "1 incident(s), 1 open for" in text
