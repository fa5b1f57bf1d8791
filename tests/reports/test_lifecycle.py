"""The cleanup context: the scheduler and the sampler start with the application and stop with it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from bot.core.report_settings import HotspotsConfig, ReportsConfig, SamplerConfig
from bot.devtools.simcluster import SimCluster
from bot.reports.lifecycle import REPORTS, reports_cleanup_ctx
from bot.reports.service import ReportContext
from tests.reports.conftest import ENV, ContextFactory, make_config


async def started(ctx: ReportContext) -> tuple[web.Application, web.AppRunner]:
    app = web.Application()
    app.cleanup_ctx.append(reports_cleanup_ctx(lambda _app: ctx))
    runner = web.AppRunner(app)
    await runner.setup()  # runs the startup half of the cleanup contexts
    return app, runner


async def test_sampler_and_scheduler_run_with_the_app_and_stop_cleanly(
    context_factory: ContextFactory, sim: SimCluster, kubeconfig: Path
) -> None:
    reports = ReportsConfig(sampler=SamplerConfig(interval_seconds=1))
    ctx = await context_factory(config=make_config(kubeconfig), reports=reports)
    app, runner = await started(ctx)
    runtime = app[REPORTS]
    scheduler = runtime.scheduler._scheduler
    assert scheduler is not None
    assert scheduler.running
    assert {job.id for job in scheduler.get_jobs()} == {"hotspots", "catch-up"}
    tasks = [t for t in asyncio.all_tasks() if t.get_name() == "restart-sampler"]
    assert len(tasks) == 1
    for _ in range(100):
        if await ctx.report_store.latest_samples(ENV):
            break
        await asyncio.sleep(0.05)
    assert {s.workload for s in await ctx.report_store.latest_samples(ENV)} >= {"ledger-api", "fraud-scorer"}

    await runner.cleanup()

    assert not scheduler.running
    assert tasks[0].done()
    assert not tasks[0].cancelled()  # stopped at the stop signal, not cancelled


async def test_with_prometheus_there_is_no_sampler_and_a_disabled_report_is_not_scheduled(
    context_factory: ContextFactory,
) -> None:
    reports = ReportsConfig(prometheus_url="http://127.0.0.1:9", hotspots=HotspotsConfig(enabled=False))
    ctx = await context_factory(reports=reports)
    app, runner = await started(ctx)
    try:
        assert app[REPORTS].scheduler._scheduler is None
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "restart-sampler"]
    finally:
        await runner.cleanup()


async def test_a_follower_does_not_sample(context_factory: ContextFactory, sim: SimCluster, kubeconfig: Path) -> None:
    reports = ReportsConfig(sampler=SamplerConfig(interval_seconds=1), hotspots=HotspotsConfig(enabled=False))
    ctx = await context_factory(config=make_config(kubeconfig), reports=reports, is_leader=lambda: False)
    _, runner = await started(ctx)
    try:
        await asyncio.sleep(0.3)
        assert await ctx.report_store.latest_samples(ENV) == []
    finally:
        await runner.cleanup()
