"""The one entry point for the hotspot report: build it, post it. The app, the scheduler and the CLI call this.

`ReportContext` holds what the report needs (not `bot.wiring.Services`, which would import the handlers' world
and make a cycle). Posting is two steps the scheduler records separately, so a retry after a crash does not post
the message twice: the message (with a `bump_memory` button where a suggestion carries one), then the chart
uploaded into its thread with files upload v2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core.config import Config
from bot.core.metrics import Metrics
from bot.core.report_settings import ReportsConfig
from bot.reports import render, wording
from bot.reports.hotspots import WORKLOAD_KINDS, compose
from bot.reports.model import SOURCE_PROMETHEUS, SOURCE_SAMPLER, Coverage, HotspotReport, Suggestion, Window
from bot.reports.owndata import (
    incident_stats,
    period_records,
    remedies_applied,
    sampled_restarts,
    summarize_actions,
    summarize_loops,
)
from bot.reports.prometheus import prometheus_restarts
from bot.slack.client import SlackOut, SlackSendError
from bot.store import Store
from bot.store.audit import AuditLog
from bot.store.report_rows import ReportStore
from bot.triage.run import Triager

UPLOAD_METHOD = "files.upload_v2"


class ReportError(Exception):
    """The report cannot be posted as asked (e.g. the environment has no channel)."""


@dataclass
class ReportContext:
    """What building and posting a report needs; `is_leader` gates the scheduled work on one replica."""

    config: Config
    store: Store
    audit: AuditLog
    triager: Triager
    slack: SlackOut
    metrics: Metrics
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    is_leader: Callable[[], bool] = field(default=lambda: True)
    report_store: ReportStore = field(init=False)

    def __post_init__(self) -> None:
        self.report_store = ReportStore(self.store.engine)


@dataclass(frozen=True)
class Posted:
    """Where a report went."""

    channel: str
    message_ts: str
    chart_file_id: str | None


# --- building ---------------------------------------------------------------------------------------------------


async def build_report(
    ctx: ReportContext,
    environment: str,
    days: int | None = None,
    top: int | None = None,
    *,
    window: Window | None = None,
) -> HotspotReport:
    """The report of `environment` for the last `days` days (default from config) up to now, or for `window`."""
    cfg = ctx.reports.hotspots
    env = ctx.config.environment(environment)
    window = window or Window.days(days or cfg.days, timezone=cfg.timezone)
    if ctx.reports.prometheus_url:
        source = SOURCE_PROMETHEUS
        timeout = ctx.reports.prometheus_timeout_seconds
        restarts = await prometheus_restarts(
            ctx.reports.prometheus_url, env.namespaces, env.cluster_label, window, timeout=timeout
        )
        coverage = Coverage.history()
    else:
        source = SOURCE_SAMPLER
        restarts, coverage = await sampled_restarts(ctx.report_store, environment, env.namespaces, window)
    records = await period_records(ctx.audit, environment, window)
    return compose(
        environment,
        window,
        restarts,
        await incident_stats(ctx.report_store, environment, window),
        summarize_actions(records),
        top=top or cfg.top,
        threshold=cfg.threshold,
        policy=ctx.config.policy(),
        source=source,
        remedies=await remedies_applied(ctx.report_store, environment, window),
        coverage=coverage,
        loops=summarize_loops(records),
    )


# --- posting ----------------------------------------------------------------------------------------------------


def channel_of(ctx: ReportContext, environment: str) -> str:
    channel = ctx.config.environment(environment).channel
    if not channel:
        raise ReportError(f"environment {environment!r} has no Slack channel configured: nowhere to post")
    return channel


async def post_report(ctx: ReportContext, report: HotspotReport, channel: str | None = None) -> Posted:
    """Post the message, then the chart into its thread (no chart when there is nothing to draw)."""
    channel = channel or channel_of(ctx, report.environment)
    ts = await post_message(ctx, report, channel)
    file_id = await upload_chart(ctx, report, channel, ts)
    return Posted(channel, ts, file_id)


async def post_message(ctx: ReportContext, report: HotspotReport, channel: str) -> str:
    """The report message, with a proposal (an opaque id) behind every suggestion that offers a remedy."""
    report = await with_proposals(ctx, report)
    blocks = render.report_blocks(report, chart_in_thread=report.drawable)
    return await ctx.slack.post(channel, render.fallback_text(report), blocks)


async def with_proposals(ctx: ReportContext, report: HotspotReport) -> HotspotReport:
    """The report with a fresh proposal per remedy suggestion (none in read-only mode)."""
    if ctx.config.limits.read_only:
        return report
    ttl = timedelta(hours=ctx.reports.hotspots.proposal_hours)
    suggestions = [await _proposed(ctx, report.environment, s, ttl) for s in report.suggestions]
    return replace(report, suggestions=suggestions)


async def _proposed(ctx: ReportContext, environment: str, s: Suggestion, ttl: timedelta) -> Suggestion:
    if not s.remedy or s.kind not in WORKLOAD_KINDS:
        return s
    proposal = await ctx.store.add_proposal(
        ttl=ttl,
        incident_id=None,
        environment=environment,
        namespace=s.namespace,
        workload=s.workload,
        kind=s.kind,
        remedy=s.remedy,
        params=dict(s.params),
        resource_version=None,
        generation=None,  # no triage behind it: the guard's dry run shows the current state before anything applies
    )
    return replace(s, proposal_id=proposal.id)


async def upload_chart(ctx: ReportContext, report: HotspotReport, channel: str, thread_ts: str | None) -> str | None:
    """The PNG chart into the report's thread; its file id (None when no listed workload restarted)."""
    if not report.drawable:
        return None
    from bot.reports import chart  # matplotlib: ≈ 40 MB resident, loaded when a chart is first drawn (issue 13)

    stamp = f"{report.period_start:%Y%m%d}-{report.period_end:%Y%m%d}"
    return await upload_png(
        ctx.slack,
        ctx.metrics,
        channel=channel,
        thread_ts=thread_ts,
        content=chart.png(report),
        filename=f"restart-hotspots-{report.environment}-{stamp}.png",
        title=f"Restarts per day · {report.environment} · {wording.period_text(report)}",
        alt_txt=f"Line chart of container restarts per day of {len(report.series())} workloads",
    )


async def upload_png(
    slack: SlackOut,
    metrics: Metrics,
    *,
    channel: str,
    thread_ts: str | None,
    content: bytes,
    filename: str,
    title: str,
    alt_txt: str,
) -> str | None:
    """files upload v2 of bytes (SlackOut.upload takes text); SlackSendError when it fails for good."""
    try:
        response = await slack.client.files_upload_v2(
            channel=channel, thread_ts=thread_ts, content=content, filename=filename, title=title, alt_txt=alt_txt
        )
    except SlackApiError as exc:
        metrics.slack_calls.labels(UPLOAD_METHOD, str(exc.response.get("error"))).inc()
        raise SlackSendError("files_upload_v2", str(exc.response.get("error"))) from exc
    except (SlackClientError, OSError, TimeoutError) as exc:
        metrics.slack_calls.labels(UPLOAD_METHOD, "transport_error").inc()
        raise SlackSendError("files_upload_v2", str(exc)) from exc
    metrics.slack_calls.labels(UPLOAD_METHOD, "ok").inc()
    return _file_id(response.data if isinstance(response.data, dict) else {})


def _file_id(data: dict[str, Any]) -> str | None:
    file = data.get("file") or next(iter(data.get("files") or []), None) or {}
    return str(file["id"]) if isinstance(file, dict) and file.get("id") else None


def period_window(ctx: ReportContext, period_start: datetime, period_end: datetime) -> Window:
    """The window of a stored run (a retry reports exactly the period that was claimed)."""
    cfg = ctx.reports.hotspots
    buckets = max(1, round((period_end - period_start) / timedelta(days=1)))
    return Window(end=period_end, period=period_end - period_start, buckets=buckets, timezone=cfg.timezone)
