"""`crashloop report hotspots [ENV] [--days N] [--post]`: the restart-hotspot report from a terminal.

Prints the report as text; with `--post` posts it (message and chart) to the environment's channel, as the weekly
schedule does. Posting needs a Slack the bot can reach: without a token, or when Slack does not answer, the command
says in one line what to set and exits non-zero before building anything (no half-posted report, no traceback).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import click

from bot.core.config import Config
from bot.core.settings import Settings

if TYPE_CHECKING:  # imported where used: `crashloop --help` stays fast
    from bot.reports.model import HotspotReport
    from bot.reports.service import Posted, ReportContext
    from bot.slack.client import SlackOut

SLACK_SETTINGS = "set SLACK_BOT_TOKEN (and SLACK_API_URL when the bot does not talk to slack.com)"
CHANNEL_ERRORS = ("channel_not_found", "not_in_channel", "is_archived")


class PostFailed(Exception):
    """The report could not be posted; the message says what to set or fix."""


async def _report(config: Config, settings: Settings, envs: list[str], days: int | None, post: bool) -> list[str]:
    from bot.core.metrics import Metrics
    from bot.reports.render import report_text
    from bot.reports.service import ReportContext, build_report
    from bot.slack.client import SlackOut, make_client
    from bot.store import Store
    from bot.store.audit import AuditLog
    from bot.store.migrate import upgrade
    from bot.triage.run import Triager

    metrics = Metrics()
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    slack = SlackOut(make_client(token, settings.api_url, metrics), metrics)
    if post:
        await _reachable(slack, settings.api_url)
    store, triager = Store(settings.database_url), Triager(config)
    ctx = ReportContext(
        config=config,
        store=store,
        audit=AuditLog(store.engine),
        triager=triager,
        slack=slack,
        metrics=metrics,
        reports=config.reports,
    )
    out = []
    try:
        await upgrade(store.engine)
        for env in envs:
            report = await build_report(ctx, env, days)
            if post:
                posted = await _post(ctx, report)
                chart = f", chart {posted.chart_file_id}" if posted.chart_file_id else ", nothing to chart"
                out.append(f"{env}: posted to {posted.channel} (message {posted.message_ts}{chart})")
            else:
                out.append(report_text(report))
    finally:
        triager.close()
        await store.close()
    return out


async def _reachable(slack: SlackOut, api_url: str) -> None:
    """auth.test before anything is built: PostFailed saying what to set when Slack cannot be used."""
    from bot.slack.client import SlackSendError

    try:
        await slack.call("auth.test")
    except SlackSendError as exc:
        raise PostFailed(f"--post: Slack at {api_url} did not accept the bot ({exc.error}): {SLACK_SETTINGS}") from exc


async def _post(ctx: ReportContext, report: HotspotReport) -> Posted:
    """Post the report; PostFailed naming the channel and what to fix when Slack refuses."""
    from bot.reports.service import ReportError, post_report
    from bot.slack.client import SlackSendError

    env = report.environment
    try:
        return await post_report(ctx, report)
    except ReportError as exc:
        raise PostFailed(str(exc)) from exc
    except SlackSendError as exc:
        channel = ctx.config.environment(env).channel
        channel_problem = any(e in exc.error for e in CHANNEL_ERRORS)
        hint = f"invite the bot to {channel}, or set environments.{env}.channel" if channel_problem else SLACK_SETTINGS
        raise PostFailed(f"--post: posting to {channel} failed ({exc.error}): {hint}") from exc


@click.group("report")
def report_group() -> None:
    """Reports."""


@report_group.command("hotspots")
@click.argument("environment", required=False)
@click.option("--days", type=click.IntRange(1, 90), help="the period (default from the config, 7)")
@click.option("--post", is_flag=True, help="post to the environment's channel instead of printing")
@click.pass_context
def hotspots(ctx: click.Context, environment: str | None, days: int | None, post: bool) -> None:
    """Which workloads keep crashing, against the period before, and what was done about it."""
    from bot.cli.main import EXIT_NOT_FOUND, EXIT_UNREACHABLE, _fail, _load
    from bot.core.settings import load_settings

    config = _load(ctx)
    if environment and environment not in config.environments:
        _fail(
            f"unknown environment {environment!r}; configured: {', '.join(sorted(config.environments))}", EXIT_NOT_FOUND
        )
    envs = [environment] if environment else sorted(config.environments)
    settings = load_settings()
    if post:
        unposted = [e for e in envs if not config.environments[e].channel]
        if unposted:
            _fail(f"--post: no channel to post to: set environments.{unposted[0]}.channel", EXIT_NOT_FOUND)
        if settings.slack_bot_token is None or not settings.slack_bot_token.get_secret_value():
            _fail(f"--post needs a Slack bot token: {SLACK_SETTINGS}", EXIT_UNREACHABLE)
    try:
        texts = asyncio.run(_report(config, settings, envs, days, post))
    except PostFailed as exc:
        _fail(str(exc), EXIT_UNREACHABLE)
        raise  # unreachable: _fail exits
    for text in texts:
        click.echo(text)
