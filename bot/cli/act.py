"""`crashloop act REMEDY ENV WORKLOAD`: the runbook remedies from a terminal, guarded the same way.

The operator's own kubeconfig credentials decide what they may do (the cluster's RBAC); the bot still shows the
server-side dry run and the diff, asks before applying, refuses stale or conflicting changes and environments that
require a second responder's approval (use Slack there), watches for recovery, and writes every step to the audit
log as `cli:<user>`.
"""

from __future__ import annotations

import asyncio
import getpass
from typing import Any

import click

from bot.core.config import Config
from bot.core.settings import load_settings
from bot.guard.executor import Executor, Target, not_allowed
from bot.guard.flow import guard_settings
from bot.kube.client import KubeConfigError, KubeError
from bot.remedies.params import default_params, typed_params
from bot.remedies.patches import NetcheckResult, PlanError
from bot.store import Store
from bot.store.audit import AuditEvent, AuditLog
from bot.store.migrate import upgrade
from bot.triage.locate import WorkloadNotFound
from bot.triage.run import Triager
from runbooks.model import RemedyId


class Stop(Exception):
    """End the command with this message and exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


async def act(
    config: Config,
    remedy: str,
    env: str,
    name: str,
    namespace: str | None,
    params: dict[str, Any],
    literal: str | None,
    yes: bool,
    verify: bool,
) -> str:
    triager = Triager(config)
    store = Store(load_settings().database_url)
    try:
        await upgrade(store.engine)
        audit, actor = AuditLog(store.engine), f"cli:{getpass.getuser()}"
        result = await triager.triage(env, name, namespace=namespace)
        ev = result.evidence
        proposed = next((r for r in result.finding.remedies if str(r.id) == remedy), None)
        merged = {**(proposed.params if proposed else default_params(ev, remedy)), **params}
        target = Target(env, ev.workload.kind, ev.workload.namespace, ev.workload.name)
        record = _recorder(audit, actor, target, remedy, merged)
        await record("requested", "ok")
        executor = Executor(triager)
        if remedy == str(RemedyId.NETCHECK):
            return await _netcheck(executor, target, merged, record)
        applied_params = {**merged, "value": literal} if literal is not None else merged
        try:
            preview = await executor.preview(target, remedy, applied_params)
        except PlanError as exc:
            await record("denied", "refused", detail=str(exc))
            raise Stop(f"cannot {remedy}: {exc}", 2) from exc
        await record("previewed", "ok", diff=preview.diff)
        click.echo(f"{preview.plan.summary}\n\n{preview.diff or '(no change to the pod template)'}")
        if config.environment(env).require_approval:
            await record("denied", "refused", detail="the environment requires a second responder's approval")
            raise Stop(f"{env} requires a second responder's approval: use the Slack flow", 2)
        if not yes and not click.confirm("Apply this change?", default=False):
            await record("rejected", "ok", detail="declined at the prompt")
            return "nothing applied"
        try:
            applied = await executor.apply(target, remedy, applied_params, preview.resource_version)
        except KubeError as exc:
            why = not_allowed(exc) if exc.status == 403 else f"{exc.short}: {exc.message}"
            await record("failed", "error", detail=why)
            raise Stop(why, 1) from exc
        meta = applied.get("metadata") or {}
        await record("applied", "ok", diff=preview.diff, detail=f"generation {meta.get('generation')}")
        if not verify:
            return f"applied: {preview.plan.summary}"
        s = guard_settings(config)
        recovery = await executor.recovery(
            target, within=s.verify_timeout, stable=s.verify_stable, interval=s.verify_interval
        )
        await record(
            "verified" if recovery.recovered else "not_recovered",
            "ok" if recovery.recovered else "error",
            detail=recovery.detail,
        )
        return f"{'recovered' if recovery.recovered else 'NOT recovered'}: {recovery.detail}"
    except (WorkloadNotFound, KubeConfigError) as exc:
        raise Stop(str(exc), 2) from exc
    finally:
        triager.close()
        await store.close()


async def _netcheck(executor: Executor, target: Target, params: dict[str, Any], record: Any) -> str:
    port = int(params["port"]) if params.get("port") else None
    result = await executor.netcheck(target, str(params["host"]), port, dry_run=False)
    assert isinstance(result, NetcheckResult)
    text = "\n".join(result.lines)
    await record("applied", "ok", detail="netcheck pod ran and was deleted")
    await record("verified", "ok", detail=text)
    return text


def _recorder(audit: AuditLog, actor: str, t: Target, remedy: str, params: dict[str, Any]) -> Any:
    async def record(action: str, outcome: str, *, diff: str | None = None, detail: str | None = None) -> None:
        await audit.append(
            AuditEvent(
                action=action,
                outcome=outcome,
                actor_id=actor,
                actor_name=None,
                environment=t.environment,
                namespace=t.namespace,
                workload=t.name,
                remedy=remedy,
                params=params,
                diff=diff,
                detail=detail,
            )
        )

    return record


@click.command("act")
@click.argument("remedy", type=click.Choice(sorted(str(r) for r in RemedyId)))
@click.argument("environment")
@click.argument("workload")
@click.option("-n", "--namespace")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="override a parameter (repeatable)")
@click.option("--secret-value", is_flag=True, help="set_env: prompt for a literal value (not echoed)")
@click.option("--yes", is_flag=True, help="apply without asking")
@click.option("--no-verify", is_flag=True, help="do not wait for the pods to recover")
@click.pass_context
def act_command(
    ctx: click.Context,
    remedy: str,
    environment: str,
    workload: str,
    namespace: str | None,
    params: tuple[str, ...],
    secret_value: bool,
    yes: bool,
    no_verify: bool,
) -> None:
    """Preview, confirm and apply a runbook REMEDY to WORKLOAD in ENVIRONMENT, then watch it recover."""
    from bot.cli.main import _fail, _load

    config = _load(ctx)
    if any("=" not in p for p in params):
        _fail("--param takes KEY=VALUE", 2)
    overrides = typed_params(dict(p.split("=", 1) for p in params))
    if "value" in overrides:
        _fail("literal values are not taken as arguments (shell history keeps them): use --secret-value", 2)
    literal = click.prompt("Value", hide_input=True) if secret_value else None
    try:
        click.echo(
            asyncio.run(act(config, remedy, environment, workload, namespace, overrides, literal, yes, not no_verify))
        )
    except Stop as exc:
        _fail(str(exc), exc.code)
