"""The report's place in the application's lifecycle: an aiohttp cleanup context that starts and stops its work.

On startup: the hotspot scheduler (when `reports.hotspots.enabled`) and the restart sampler loop (when
`reports.sampler.enabled` and no `prometheus_url` is set). On shutdown: the scheduler stops taking jobs and the
sampler finishes its sweep in hand (or is cancelled after a grace period). Both check `ReportContext.is_leader`
before doing anything, so every replica may run this context.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web

from bot.reports.sampler import RestartSampler
from bot.reports.schedule import HotspotScheduler
from bot.reports.service import ReportContext

log = logging.getLogger("crashloop.reports")
STOP_GRACE_SECONDS = 10.0

CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


@dataclass
class ReportRuntime:
    """The running report work of one application (for handlers and tests)."""

    context: ReportContext
    scheduler: HotspotScheduler
    sampler: RestartSampler


REPORTS: web.AppKey[ReportRuntime] = web.AppKey("reports", ReportRuntime)


def reports_cleanup_ctx(get_ctx: Callable[[web.Application], ReportContext]) -> CleanupCtx:
    """A cleanup context; `get_ctx(app)` is called at startup, after the contexts that build the services."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        rc = get_ctx(app)
        runtime = ReportRuntime(rc, HotspotScheduler(rc), _sampler(rc))
        app[REPORTS] = runtime
        if rc.reports.hotspots.enabled:
            runtime.scheduler.start()
        stop = asyncio.Event()
        task = _start_sampler(rc, runtime.sampler, stop)
        try:
            yield
        finally:
            runtime.scheduler.shutdown()
            stop.set()
            if task is not None:
                await _stop(task)

    return ctx


def _sampler(rc: ReportContext) -> RestartSampler:
    return RestartSampler(config=rc.config, triager=rc.triager, store=rc.report_store, is_leader=rc.is_leader)


def _start_sampler(rc: ReportContext, sampler: RestartSampler, stop: asyncio.Event) -> asyncio.Task[None] | None:
    cfg = rc.reports.sampler
    if not cfg.enabled or rc.reports.prometheus_url:
        return None
    retention = timedelta(days=cfg.retention_days)
    return asyncio.create_task(sampler.run(stop, cfg.interval_seconds, retention), name="restart-sampler")


async def _stop(task: asyncio.Task[None]) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_SECONDS)
    except TimeoutError:
        log.warning("restart sampler did not stop within %ss; cancelled", STOP_GRACE_SECONDS)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
