"""Posting through the scheduler when Slack fails half-way: the retry uploads the chart, never the message twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.devtools.slackstub import SlackStandIn
from bot.reports.model import Window
from bot.reports.schedule import HotspotScheduler
from tests.reports.conftest import CHANNEL, ENV, ContextFactory, is_png, sample

NOW = datetime(2026, 11, 16, 9, 0, 3, tzinfo=UTC)


async def test_a_failed_chart_upload_is_retried_into_the_same_thread(
    context_factory: ContextFactory, slack: SlackStandIn
) -> None:
    ctx = await context_factory()
    window = Window.days(7, end=NOW, align=True)
    at = window.start + timedelta(days=2)
    await ctx.report_store.add_samples(
        [sample("ledger-api-1", 10, window.start - timedelta(days=1)), sample("ledger-api-1", 30, at)]
    )
    scheduler = HotspotScheduler(ctx, owner="only")
    slack.fail("files.completeUploadExternal", error="internal_error")

    [first] = await scheduler.fire(NOW)

    assert first.outcome == "failed"
    assert "files_upload_v2" in first.detail
    run = await ctx.report_store.get_run(ENV, window.start)
    assert run is not None
    assert (run.state, run.attempts, run.chart_file_id) == ("failed", 1, None)
    [message] = slack.channel_messages(CHANNEL)
    assert run.message_ts == message.ts
    failed = ctx.metrics.slack_calls.labels("files.upload_v2", "internal_error")._value.get()
    assert failed == 1

    [retry] = await scheduler.catch_up(NOW + timedelta(minutes=5))

    assert retry.outcome == "posted"
    assert [m.ts for m in slack.channel_messages(CHANNEL)] == [message.ts]
    run = await ctx.report_store.get_run(ENV, window.start)
    assert run is not None
    assert (run.state, run.attempts) == ("done", 2)
    chart = slack.files[str(run.chart_file_id)]
    assert chart.completed
    assert is_png(chart.content)
    assert chart.thread_ts == message.ts
    assert "ledger-api 20" in message.text
