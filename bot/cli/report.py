"""`crashloop report hotspots [ENV] [--days N] [--post]`: the restart-hotspot report from a terminal.

Prints the report as text; with `--post` posts it (message and chart) to the environment's channel, as the weekly
schedule does (needs SLACK_BOT_TOKEN).
"""

from __future__ import annotations

import asyncio

import click

from bot.core.config import Config


async def _report(config: Config, envs: list[str], days: int | None, post: bool) -> list[str]:
    from bot.core.metrics import Metrics
    from bot.core.settings import load_settings
    from bot.reports.render import report_text
    from bot.reports.service import ReportContext, build_report, post_report
    from bot.slack.client import SlackOut, make_client
    from bot.store import Store
    from bot.store.audit import AuditLog
    from bot.store.migrate import upgrade
    from bot.triage.run import Triager

    settings, metrics = load_settings(), Metrics()
    store, triager = Store(settings.database_url), Triager(config)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    slack = SlackOut(make_client(token, settings.api_url, metrics), metrics)
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
                posted = await post_report(ctx, report)
                out.append(f"{env}: posted to {posted.channel} (message {posted.message_ts})")
            else:
                out.append(report_text(report))
    finally:
        triager.close()
        await store.close()
    return out


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
    from bot.cli.main import EXIT_NOT_FOUND, _fail, _load

    config = _load(ctx)
    if environment and environment not in config.environments:
        _fail(
            f"unknown environment {environment!r}; configured: {', '.join(sorted(config.environments))}", EXIT_NOT_FOUND
        )
    envs = [environment] if environment else sorted(config.environments)
    for text in asyncio.run(_report(config, envs, days, post)):
        click.echo(text)
