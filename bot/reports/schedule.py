"""When the hotspot report is posted: on a cron schedule, exactly once per environment and period.

APScheduler 3's `AsyncIOScheduler` fires `fire()` on `reports.hotspots.cron` in `reports.hotspots.timezone`. The
period ends at midnight (in that zone) of the fire time, so replicas firing a few seconds apart agree on it. Before
anything is posted the run is claimed in SQL under UNIQUE(environment, period_start): of several replicas exactly
one posts. A second job, `catch_up()`, runs every few minutes: it re-runs a claim whose holder failed or crashed
(its lease expired) and a fire that was missed (the process was down, or not the leader, at the time), within
`catch_up_hours`. A completed run is never run again; each step that must not repeat is recorded as it happens.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.report_settings import crontab_trigger
from bot.reports.model import Window
from bot.reports.service import (
    ReportContext,
    build_report,
    channel_of,
    period_window,
    post_message,
    upload_chart,
)

log = logging.getLogger("crashloop.reports.schedule")
MISFIRE_GRACE = timedelta(hours=1)
MAX_CATCH_UP_FIRES = 5000  # bounds the walk over a very frequent cron


class ClaimLost(Exception):
    """The run's lease expired before a step could be recorded: another replica may run it again."""


@dataclass(frozen=True)
class RunResult:
    """What one environment's run of one period came to."""

    environment: str
    period_start: datetime
    outcome: str  # posted | skipped (claimed elsewhere, done, or no channel) | failed
    detail: str = ""


def owner_id() -> str:
    """Who holds a claim: the pod (or host) and process, unique per scheduler."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def last_fire(trigger: BaseTrigger, now: datetime, lookback: timedelta) -> datetime | None:
    """The trigger's latest fire time in (now - lookback, now], if any."""
    fire: datetime | None = trigger.get_next_fire_time(None, now - lookback)
    last: datetime | None = None
    for _ in range(MAX_CATCH_UP_FIRES):
        if fire is None or fire > now:
            break
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return last


class HotspotScheduler:
    """Posts the hotspot report of every environment with a channel, once per period."""

    def __init__(self, ctx: ReportContext, *, owner: str | None = None) -> None:
        self.ctx = ctx
        self.owner = owner or owner_id()
        self._scheduler: AsyncIOScheduler | None = None

    # --- APScheduler ------------------------------------------------------------------------------------------

    def start(self, trigger: BaseTrigger | None = None, catch_up_every: timedelta | None = None) -> None:
        """Schedule `fire` (on `trigger`, default the configured cron) and `catch_up`; needs a running loop."""
        cfg = self.ctx.reports.hotspots
        tz = ZoneInfo(cfg.timezone)
        every = catch_up_every or min(timedelta(minutes=5), timedelta(minutes=cfg.lease_minutes))
        scheduler = AsyncIOScheduler(timezone=tz)
        common = {"coalesce": True, "max_instances": 1, "misfire_grace_time": int(MISFIRE_GRACE.total_seconds())}
        scheduler.add_job(self._fire_job, trigger or crontab_trigger(cfg.cron, cfg.timezone), id="hotspots", **common)
        scheduler.add_job(self._catch_up_job, IntervalTrigger(seconds=every.total_seconds()), id="catch-up", **common)
        scheduler.start()
        self._scheduler = scheduler

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None

    async def _fire_job(self) -> None:
        try:
            await self.fire()
        except Exception:  # a job must not die with the error: the next fire or catch-up tries again
            log.exception("hotspot report: fire failed")

    async def _catch_up_job(self) -> None:
        try:
            await self.catch_up()
        except Exception:
            log.exception("hotspot report: catch-up failed")

    # --- what the jobs do -------------------------------------------------------------------------------------

    async def fire(self, now: datetime | None = None) -> list[RunResult]:
        """The report of every environment for the period that ends at midnight of `now` (on the leader)."""
        if not self.ctx.is_leader():
            return []
        cfg = self.ctx.reports.hotspots
        now = now or datetime.now(UTC)
        window = Window.days(cfg.days, end=now, timezone=cfg.timezone, align=True)
        return [await self.run_period(env, window, now=now) for env in self._environments()]

    async def catch_up(self, now: datetime | None = None) -> list[RunResult]:
        """Retry failed or crashed runs, and run a recent fire that no replica ran (on the leader)."""
        if not self.ctx.is_leader():
            return []
        now = now or datetime.now(UTC)
        cfg = self.ctx.reports.hotspots
        results = []
        runs = await self.ctx.report_store.retryable_runs(max_attempts=cfg.max_attempts, now=now)
        for run in runs:
            if run.period_end is not None and run.environment in self.ctx.config.environments:
                window = period_window(self.ctx, run.period_start, run.period_end)
                results.append(await self.run_period(run.environment, window, now=now))
        fired = last_fire(crontab_trigger(cfg.cron, cfg.timezone), now, timedelta(hours=cfg.catch_up_hours))
        if fired is not None:
            results += await self._missed(fired, now)
        return results

    async def _missed(self, fired: datetime, now: datetime) -> list[RunResult]:
        cfg = self.ctx.reports.hotspots
        window = Window.days(cfg.days, end=fired, timezone=cfg.timezone, align=True)
        results = []
        for env in self._environments():
            if await self.ctx.report_store.get_run(env, window.start) is None:
                results.append(await self.run_period(env, window, now=now))
        return results

    def _environments(self) -> list[str]:
        return [name for name, env in self.ctx.config.environments.items() if env.channel]

    # --- one run ----------------------------------------------------------------------------------------------

    async def run_period(self, environment: str, window: Window, *, now: datetime | None = None) -> RunResult:
        """Claim, build, post, complete; a failure gives the claim back for a retry."""
        cfg = self.ctx.reports.hotspots
        store = self.ctx.report_store
        claimed = await store.claim(
            environment,
            window.start,
            timedelta(minutes=cfg.lease_minutes),
            owner=self.owner,
            period_end=window.end,
            max_attempts=cfg.max_attempts,
            now=now,
        )
        if not claimed:
            return RunResult(environment, window.start, "skipped", "claimed by another run, or done")
        try:
            await self._post(environment, window)
        except Exception as exc:  # any failure: record it, give the claim back, let catch-up retry
            detail = f"{type(exc).__name__}: {exc}"
            log.warning("hotspot report %s %s failed: %s", environment, window.start.date(), detail)
            await store.fail(environment, window.start, owner=self.owner, error=detail)
            return RunResult(environment, window.start, "failed", detail)
        if not await store.complete(environment, window.start, owner=self.owner):
            log.warning("hotspot report %s %s: posted after the claim expired", environment, window.start.date())
        return RunResult(environment, window.start, "posted")

    async def _post(self, environment: str, window: Window) -> None:
        store, owner = self.ctx.report_store, self.owner
        run = await store.get_run(environment, window.start)
        report = await build_report(self.ctx, environment, window=window)
        channel = (run.channel if run else None) or channel_of(self.ctx, environment)
        ts = run.message_ts if run else None
        if ts is None:
            ts = await post_message(self.ctx, report, channel)
            if not await store.progress(environment, window.start, owner=owner, channel=channel, message_ts=ts):
                raise ClaimLost(f"posted {ts}, but the claim expired meanwhile: raise reports.hotspots.lease_minutes")
        if run is None or run.chart_file_id is None:
            file_id = await upload_chart(self.ctx, report, channel, ts)
            await store.progress(environment, window.start, owner=owner, chart_file_id=file_id)
