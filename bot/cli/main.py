"""The `crashloop` command line: the bot's commands for a terminal, shaped like kubectl.

`-h`/`--help` with examples, `--version`, `-o text|json|yaml|wide`, global options accepted anywhere on the line
(`crashloop triage prod web --config x.yaml`), colour only on a terminal (NO_COLOR honoured), shell completion
(`crashloop completion bash`). Subcommands that need the Slack, SQL or report stacks (act, audit, report, serve,
db grant-roles, demo) import them only when they run, so a read-only triage and `--help` stay fast (bench/cli_speed.py).

Exit codes: 0 done; 1 the cluster could not be reached or read; 2 the request names something that does not
exist (environment, workload, context) or the configuration is invalid — the message says what to type instead.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import click

from bot.cli.lazy import Lazy, LazyGroup
from bot.cli.output import echo, output_option, render_triage, use_colour

if TYPE_CHECKING:
    from bot.core.config import Config

EXIT_UNREACHABLE = 1
EXIT_NOT_FOUND = 2
UNREACHABLE = ("unreachable", "timeout", "unauthenticated")  # the cluster could not be read: exit 1

EXAMPLES = """\b
Examples:
  crashloop triage prod checkout                     # why it crashes, and the one safe next step
  crashloop triage prod checkout-7f9c-x2k4p -o json  # a pod name works too; JSON for scripts
  crashloop triage prod web --config x.yaml          # global options may follow the command
  crashloop act bump_memory prod ledger-api          # preview, confirm, apply, watch the recovery
  crashloop config check                             # crashloop.yaml valid, every cluster reachable?
  crashloop demo                                     # the whole loop on a simulated cluster
  source <(crashloop completion bash)                # tab completion (bash, zsh, fish)
"""


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection during a one-shot command such as `triage`.

    Its imports and config models allocate tens of thousands of objects that live until the process exits; the
    collector would walk them again and again (≈ 10 % of a triage's wall time, bench/cli_speed.py). A triage
    allocates a few MB at most; collection resumes afterwards (tests run commands in-process).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"crashloop: {message}", err=True)  # our own words; a cluster error in them is redacted at source
    sys.exit(code)


def _load(ctx: click.Context) -> Config:
    from bot.core.config import ConfigError, config_path, load_config

    path = config_path(ctx.find_root().params.get("config") or (ctx.obj or {}).get("config"))
    try:
        return load_config(path)
    except ConfigError as exc:
        _fail(f"{exc}\n  (check it with: crashloop --config FILE config check)", EXIT_NOT_FOUND)


def _environment(config: Config, name: str) -> None:
    if name not in config.environments:
        known = ", ".join(sorted(config.environments))
        _fail(
            f"unknown environment {name!r}; configured: {known}",
            EXIT_NOT_FOUND,
        )


def _complete_environment(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Tab completion of ENVIRONMENT from crashloop.yaml (nothing when it cannot be read)."""
    from bot.core.config import ConfigError, config_path, load_config

    try:
        config = load_config(config_path(ctx.find_root().params.get("config")))
    except (ConfigError, OSError):
        return []
    return [name for name in sorted(config.environments) if name.startswith(incomplete)]


@click.group(
    "crashloop",
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
    epilog=EXAMPLES,
    lazy={
        "act": Lazy("bot.cli.act:act_command", "Apply one runbook remedy, guarded: preview, confirm, apply, verify."),
        "ack": Lazy("bot.cli.ack:ack_command", 'Say you are on an open incident ("I\'m on it"), or take it over.'),
        "audit": Lazy("bot.cli.audit:audit_group", "The audit log of every change proposed, refused or made."),
        "report": Lazy("bot.cli.report:report_group", "Reports: which workloads keep crashing."),
        "demo": Lazy("bot.cli.demo:demo", "Run the bot on the simulated cluster (no cluster or credentials needed)."),
    },
)
@click.version_option(package_name="crashloop-bot", prog_name="crashloop", message="%(prog)s %(version)s")
@click.option(
    "--config", "config", metavar="FILE", help="crashloop.yaml (default: $CRASHLOOP_CONFIG or ./crashloop.yaml)"
)
@click.option("--no-color", "no_color", is_flag=True, help="never colour the output (also: NO_COLOR=1)")
@click.pass_context
def cli(ctx: click.Context, config: str | None, no_color: bool) -> None:
    """Get Kubernetes workloads out of CrashLoopBackOff fast and safely."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config
    ctx.obj["colour"] = use_colour(disabled=no_color)


@cli.command(
    epilog="\b\nExamples:\n  crashloop triage prod checkout\n  crashloop triage prod checkout -n shop -o wide\n"
    "  crashloop triage prod checkout-7f9c6d5b8-x2k4p -o yaml"
)
@click.argument("environment", shell_complete=_complete_environment)
@click.argument("workload")
@click.option("-n", "--namespace", help="namespace (default: search the environment's namespaces in order)")
@click.option("--pod", help="focus on this pod of the workload")
@output_option()
@click.pass_context
def triage(
    ctx: click.Context, environment: str, workload: str, namespace: str | None, pod: str | None, fmt: str
) -> None:
    """Triage WORKLOAD (Deployment, StatefulSet, DaemonSet or pod name) in ENVIRONMENT."""
    with paused_gc():
        _triage(ctx, environment, workload, namespace, pod, fmt)


def _triage(
    ctx: click.Context, environment: str, workload: str, namespace: str | None, pod: str | None, fmt: str
) -> None:
    # The bot uses no pydantic plugins; looking for them scans every installed distribution's entry points when the
    # first model class is built — at import of bot.core.config, so this must precede the imports below (≈ 5 ms of
    # a triage, bench/cli_speed.py). An explicit setting is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

    import asyncio

    from bot.kube.client import KubeConfigError, KubeError
    from bot.triage.locate import WorkloadNotFound
    from bot.triage.run import Triager

    config = _load(ctx)
    _environment(config, environment)
    triager = Triager(config)
    try:
        result = asyncio.run(triager.triage(environment, workload, namespace=namespace, pod=pod))
    except WorkloadNotFound as exc:
        unreachable = [f for f in exc.failures if f.status in UNREACHABLE]
        if unreachable:
            _fail(f"{unreachable[0].message}\n  (check the cluster with: crashloop config check)", EXIT_UNREACHABLE)
        _fail(exc.describe(), EXIT_NOT_FOUND)
    except KubeConfigError as exc:
        _fail(f"{exc}\n  (list the contexts with: kubectl config get-contexts)", EXIT_UNREACHABLE)
    except KubeError as exc:
        _fail(f"could not {exc.what}: {exc.short}: {exc.message}", EXIT_UNREACHABLE)
    finally:
        triager.close()
    echo(render_triage(result, fmt, colour=ctx.obj["colour"]))


@cli.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check", epilog="\b\nExamples:\n  crashloop config check\n  crashloop config check --offline")
@click.option("--offline", is_flag=True, help="do not contact the API servers (only check the kubeconfig contexts)")
@click.pass_context
def config_check(ctx: click.Context, offline: bool) -> None:
    """Validate crashloop.yaml, that every context exists and (unless --offline) that its API server answers."""
    from bot.cli.clusters import check_environment
    from bot.core.config import config_path

    config = _load(ctx)
    click.echo(f"{config_path(ctx.find_root().params.get('config'))}: valid")
    worst = 0
    for name, env in config.environments.items():
        where = f"context {env.context}" if env.context else "in-cluster config"
        approval = "approval required" if env.require_approval else "no approval step"
        channel = env.channel or "no channel"
        click.echo(f"  {name}: {where}; namespaces {', '.join(env.namespaces)}; {channel}; {approval}")
        check = check_environment(env, offline=offline)
        click.echo(f"    {'ok' if check.ok else 'FAILED'}: {check.message}")
        worst = max(worst, check.exit_code)
    access = config.access
    click.echo(f"  access: {len(access.responders)} responder(s), {len(access.viewers)} viewer(s)")
    mode = "read-only" if config.limits.read_only else "changes allowed"
    click.echo(f"  limits: max memory {config.limits.max_memory}; {mode}")
    signatures = config.triage.signatures
    click.echo(f"  triage: {len(signatures)} operator signature(s), matched before the built-in ones")
    for sig in signatures:
        remedy = f"remedy {sig.remedy}" if sig.remedy else "no remedy"
        click.echo(f"    - {sig.id}: {sig.branch} ({remedy}) /{sig.pattern}/")
    if worst:
        sys.exit(worst)


@cli.command()
@click.option("--host", default="0.0.0.0", show_default=True, help="address to listen on")
@click.option("--port", default=3000, show_default=True, type=int)
@click.option("--socket-mode", is_flag=True, help="receive Slack events over Socket Mode (needs SLACK_APP_TOKEN)")
@click.option("--no-migrate", is_flag=True, help="do not run `db upgrade` at start")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, socket_mode: bool, no_migrate: bool) -> None:
    """Run the bot: Slack events, alert webhooks, health and metrics on one port."""
    from bot.cli.serving import run_server

    config = _load(ctx)
    run_server(config, host=host, port=port, socket_mode=socket_mode, migrate=not no_migrate)


@cli.group(
    "db",
    cls=LazyGroup,
    lazy={
        "grant-roles": Lazy(
            "bot.cli.db_roles:grant_roles_command",
            "Grant the service role the bot's tables, audit_log INSERT and SELECT only (run as the schema owner).",
        )
    },
)
def db_group() -> None:
    """The bot's database."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Apply the schema migrations (Alembic) to CRASHLOOP_DATABASE_URL."""
    import asyncio

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


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: `source <(crashloop completion bash)`, or add that line to ~/.bashrc."""
    from click.shell_completion import get_completion_class

    completer = get_completion_class(shell)
    if completer is None:  # click ships all three; kept for type checkers
        _fail(f"no completion for {shell}", EXIT_NOT_FOUND)
    click.echo(completer(cli, {}, "crashloop", "_CRASHLOOP_COMPLETE").source())


def main() -> None:
    try:
        cli(obj={}, prog_name="crashloop", complete_var="_CRASHLOOP_COMPLETE")
    finally:
        # The process exits next: freezing its objects keeps the collector's final pass at exit from walking
        # every object the imports made (≈ 30 ms of a 0.3 s triage, bench/cli_speed.py). Nothing is lost: the
        # objects are freed with the process.
        gc.freeze()


if __name__ == "__main__":
    main()
