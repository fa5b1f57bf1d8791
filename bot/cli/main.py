"""The `crashloop` command line: the bot's commands for a terminal (triage, config check, demo).

Exit codes: 0 done; 1 the cluster could not be reached or read; 2 the request names something that does not
exist (environment, workload) or the configuration is invalid — the message lists what does exist.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from bot.cli.act import act_command
from bot.cli.audit import audit_group
from bot.cli.db_roles import grant_roles_command
from bot.cli.render_json import to_dict
from bot.cli.render_text import render
from bot.cli.report import report_group
from bot.core.config import Config, ConfigError, config_path, load_config
from bot.kube.client import KubeConfigError, KubeError
from bot.triage.locate import WorkloadNotFound
from bot.triage.run import Triager

EXIT_UNREACHABLE = 1
EXIT_NOT_FOUND = 2


def _fail(message: str, code: int) -> None:
    click.echo(f"crashloop: {message}", err=True)
    sys.exit(code)


def _load(ctx: click.Context) -> Config:
    path = config_path(ctx.obj.get("config"))
    try:
        return load_config(path)
    except ConfigError as exc:
        _fail(str(exc), EXIT_NOT_FOUND)
        raise  # unreachable: _fail exits


@click.group()
@click.option(
    "--config", "config", metavar="FILE", help="crashloop.yaml (default: $CRASHLOOP_CONFIG or ./crashloop.yaml)"
)
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """Get Kubernetes workloads out of CrashLoopBackOff fast and safely."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


@cli.command()
@click.argument("environment")
@click.argument("workload")
@click.option("-n", "--namespace", help="namespace (default: search the environment's namespaces in order)")
@click.option("--pod", help="focus on this pod of the workload")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def triage(
    ctx: click.Context, environment: str, workload: str, namespace: str | None, pod: str | None, fmt: str
) -> None:
    """Triage WORKLOAD (Deployment, StatefulSet, DaemonSet or pod name) in ENVIRONMENT."""
    config = _load(ctx)
    if environment not in config.environments:
        _fail(
            f"unknown environment {environment!r}; configured: {', '.join(sorted(config.environments))}", EXIT_NOT_FOUND
        )
    triager = Triager(config)
    try:
        result = asyncio.run(triager.triage(environment, workload, namespace=namespace, pod=pod))
    except WorkloadNotFound as exc:
        _fail(exc.describe(), EXIT_NOT_FOUND)
        return
    except KubeConfigError as exc:
        _fail(str(exc), EXIT_UNREACHABLE)
        return
    except KubeError as exc:
        _fail(f"could not {exc.what}: {exc.short}: {exc.message}", EXIT_UNREACHABLE)
        return
    finally:
        triager.close()
    click.echo(json.dumps(to_dict(result), indent=2) if fmt == "json" else render(result))


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Validate crashloop.yaml and say what it configures."""
    config = _load(ctx)
    path = config_path(ctx.obj.get("config"))
    click.echo(f"{path}: OK")
    for name, env in config.environments.items():
        where = f"context {env.context}" if env.context else "in-cluster config"
        approval = "approval required" if env.require_approval else "no approval step"
        channel = env.channel or "no channel"
        click.echo(f"  {name}: {where}; namespaces {', '.join(env.namespaces)}; {channel}; {approval}")
    access = config.access
    click.echo(f"  access: {len(access.responders)} responder(s), {len(access.viewers)} viewer(s)")
    mode = "read-only" if config.limits.read_only else "changes allowed"
    click.echo(f"  limits: max memory {config.limits.max_memory}; {mode}")


@cli.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="address to listen on")
@click.option("--port", default=3000, show_default=True, type=int)
@click.option("--socket-mode", is_flag=True, help="receive Slack events over Socket Mode (needs SLACK_APP_TOKEN)")
@click.option("--no-migrate", is_flag=True, help="do not run `db upgrade` at start")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, socket_mode: bool, no_migrate: bool) -> None:
    """Run the bot: Slack events, alert webhooks, health and metrics on one port."""
    from aiohttp import web

    from bot.app import AppOptions, build_app
    from bot.core.logs import setup_logging
    from bot.core.settings import load_settings, missing_for_serve

    config = _load(ctx)
    settings = load_settings()
    missing = missing_for_serve(settings, socket_mode)
    if missing:
        _fail(f"set {', '.join(missing)} (env vars, or files in $CRASHLOOP_SECRETS_DIR)", EXIT_NOT_FOUND)
    setup_logging()
    app = build_app(config, settings, AppOptions(migrate=not no_migrate, socket_mode=socket_mode))
    web.run_app(app, host=host, port=port, shutdown_timeout=25, print=None)


@cli.group("db")
def db_group() -> None:
    """The bot's database."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations (Alembic) to CRASHLOOP_DATABASE_URL."""
    from bot.core.settings import load_settings
    from bot.store import Store
    from bot.store.migrate import current_revision, upgrade

    async def run() -> str | None:
        store = Store(load_settings().database_url)
        try:
            await upgrade(store.engine)
            return await current_revision(store.engine)
        finally:
            await store.close()

    click.echo(f"database at revision {asyncio.run(run())}")


db_group.add_command(grant_roles_command)
cli.add_command(audit_group)
cli.add_command(act_command)
cli.add_command(report_group)


@cli.command()
@click.option("--scenario", "scenarios", multiple=True, help="only these simulated scenarios")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), help="keep the demo's files here")
def demo(scenarios: tuple[str, ...], workdir: Path | None) -> None:
    """Run the bot on the simulated cluster and print what it finds (no cluster or credentials needed)."""
    try:
        from bot.devtools.demo import run_demo
    except ModuleNotFoundError as exc:  # the production image leaves bot/devtools and its jsonpatch out
        _fail(
            f"the demo needs the development tools, which this installation leaves out ({exc.name} is missing): "
            "run it from a source checkout with `pip install -e '.[devtools]'`, or `make demo`",
            EXIT_NOT_FOUND,
        )
        return

    run_demo(list(scenarios) or None, workdir)


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
