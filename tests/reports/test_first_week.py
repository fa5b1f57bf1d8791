"""The report's first week: one sweep of the sampler must not make a crash-looping cluster look healthy.

The simulated cluster starts with report-worker's two pods (created two days ago) at 571 restarts each and
ledger-api's pods (created nine days ago, before the period) at 14. After one sweep, the report counts the
restarts of pods created inside the period from their restart count, lists ledger-api because it has an open
incident, and says that sampling only just began instead of declaring the week quiet. Remedies applied in the period
list a workload too, with how often each was applied (the repeats).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.devtools.slackstub import SlackStandIn
from bot.reports.render import report_blocks, report_text
from bot.reports.sampler import RestartSampler
from bot.reports.service import ReportContext, build_report, post_report
from bot.store.audit import AuditEvent
from tests.databases import create_pg_database, drop_pg_database
from tests.reports.conftest import CHANNEL, ENV, ContextFactory, is_png, make_config


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'first-week.db'}"
        return
    url = await create_pg_database()
    yield url
    await drop_pg_database(url)


async def one_sweep_and_an_incident(ctx: ReportContext) -> datetime:
    sampler = RestartSampler(config=ctx.config, triager=ctx.triager, store=ctx.report_store)
    at = datetime.now(UTC)
    assert await sampler.sample(ENV, now=at) > 0
    await ctx.store.open_incident(ENV, "shop", "ledger-api", "Deployment", now=at - timedelta(hours=1))
    return at


async def test_one_sample_does_not_declare_the_week_healthy(
    context_factory: ContextFactory, kubeconfig: Path, db: str
) -> None:
    ctx = await context_factory(db, config=make_config(kubeconfig))
    at = await one_sweep_and_an_incident(ctx)

    text = report_text(await build_report(ctx, ENV, days=7))

    assert "No workload restarted" not in text
    assert f"sampling since {at:%a %d %b %H:%M} (UTC); 1 sample" in text
    lines = {line.split()[1]: line for line in text.splitlines() if line[:1].isdigit()}
    # 2 pods created in the period × 571 restarts, counted from their restart count
    assert lines["shop/report-worker"].split()[3] == "1142"
    # pods older than the period: their 28 restarts cannot be placed in time, but the open incident lists it
    ledger = lines["shop/ledger-api"]
    assert "0 (+28 undated)" in ledger
    assert "1 (1 open)" in ledger


async def test_the_first_week_posts_its_chart(
    context_factory: ContextFactory, kubeconfig: Path, slack: SlackStandIn
) -> None:
    ctx = await context_factory(config=make_config(kubeconfig))
    await one_sweep_and_an_incident(ctx)
    posted = await post_report(ctx, await build_report(ctx, ENV, days=7))
    [message] = slack.channel_messages(CHANNEL)
    assert "sampling since" in str(message.blocks)
    assert posted.chart_file_id is not None
    assert is_png(slack.files[posted.chart_file_id].content)


async def test_remedies_applied_in_the_period_are_listed_with_their_repeats(
    context_factory: ContextFactory, kubeconfig: Path, db: str
) -> None:
    ctx = await context_factory(db, config=make_config(kubeconfig))
    at = await one_sweep_and_an_incident(ctx)
    for i, minutes in enumerate((50, 30, 10)):  # three bumps of catalog in the period: two of them repeats
        event = AuditEvent("applied", "ok", "U0ONCALL1", "alice", ENV, "shop", "catalog", remedy="bump_memory")
        await ctx.audit.append(replace(event, change_id=f"change-{i}"), at=at - timedelta(minutes=minutes))
    resolved, _ = await ctx.store.open_incident(ENV, "shop", "catalog", "Deployment", now=at - timedelta(hours=3))
    await ctx.store.update_incident(resolved.id, status="resolved", resolved_at=at - timedelta(minutes=10))

    report = await build_report(ctx, ENV, days=7)

    [catalog] = [st for st in report.also if st.workload == "catalog"]  # healthy pods: only the remedies list it
    assert [tuple(r) for r in catalog.remedies] == [("bump_memory", 3, at - timedelta(minutes=10))]
    assert catalog.remedy_repeats == 2
    assert catalog.mean_time_to_resolve == timedelta(hours=2, minutes=50)
    blocks = str(report_blocks(report))
    assert "Remedies applied: bump_memory ×3 (2 repeats)" in blocks
    assert "1 incident(s), time to resolve 2h 50m" in blocks
