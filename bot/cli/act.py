"""`crashloop act REMEDY ENV WORKLOAD`: the runbook remedies from a terminal, through the same guard as Slack.

The terminal is one more door to `bot.guard.flow.Guard`, acting as `cli:<user>` ($USER, or `--as`): the same
rules refuse the same way — role, read-only mode, every parameter limit, one change per workload, a stale
proposal, an environment that requires a second responder's approval, or a remedy loop (the same remedy applied
to the workload within `guard.remedy_repeat_days`, which needs one too: use Slack there) — and every step is
audited. It prints the server-side dry run and the diff, asks before applying (unless --yes), then says on
stderr what it waits for while the pods recover.

Exit codes: 0 done (or declined at the prompt), 1 applied but failed or not recovered, or the database cannot
be used, 2 refused.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import secrets
from dataclasses import dataclass
from typing import Any

import click

from bot.cli.output import echo
from bot.core.config import Config
from bot.core.settings import load_settings
from bot.guard import proposals
from bot.guard.flow import Guard
from bot.guard.outcomes import (
    Applied,
    Conflict,
    Failed,
    NotRecovered,
    Outcome,
    Previewed,
    Refused,
    Uncertain,
    Verified,
)
from bot.guard.trail import Actor
from bot.kube.client import KubeConfigError, KubeError
from bot.remedies.params import default_params, typed_params
from bot.remedies.registry import is_silencing
from bot.store import Store, StoreUnavailable
from bot.store.changes import ChangeRow
from bot.store.migrate import upgrade
from bot.store.rows import IncidentRow
from bot.triage.locate import WorkloadNotFound
from bot.triage.run import Triager
from bot.wiring import build_core, build_guard
from runbooks.model import RemedyId

EXIT_FAILED, EXIT_REFUSED = 1, 2


class Stop(Exception):
    """End the command with this message and exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class TerminalNotifier:
    """The guard's notifier for a terminal: progress on stderr; no second responder can be reached from here."""

    @property
    def carries_approvals(self) -> bool:
        return False

    async def announce(self, outcome: Outcome) -> None:
        """The command prints the outcome it is returned; nothing else to tell."""

    async def to_requester(self, change: ChangeRow, outcome: Outcome) -> None:
        """The requester is the person at the terminal: the returned outcome reaches them."""

    async def progress(self, change: ChangeRow, line: str) -> None:
        echo(f"… {line}", err=True)


@dataclass(frozen=True)
class Request:
    """What the person at the terminal asked for."""

    remedy: str
    environment: str
    workload: str
    namespace: str | None
    params: dict[str, Any]
    literal: str | None
    yes: bool
    verify: bool


async def act(config: Config, request: Request, *, user: str) -> str:
    settings = load_settings()
    core = build_core(config, settings)
    # A literal value is sealed with a key that lives only as long as this process: it never needs unsealing
    # anywhere else, and no key derived from a configured secret can open what this run stored.
    guard, _ = build_guard(
        core,
        notifier=TerminalNotifier(),
        directory=None,
        signing_secret=secrets.token_urlsafe(32),
        background_verify=False,
    )
    try:
        await upgrade(core.store.engine)
        async with core.store.instances.alive():  # the change it applies is tied to this run's heartbeat
            return await _run(core.triager, core.store, guard, config, request, Actor(f"cli:{user}", user))
    except (WorkloadNotFound, KubeConfigError) as exc:
        raise Stop(str(exc), EXIT_REFUSED) from exc
    except KubeError as exc:
        raise Stop(f"the cluster could not be read: {exc}", EXIT_FAILED) from exc
    except StoreUnavailable as exc:
        raise Stop(str(exc), EXIT_FAILED) from exc
    finally:
        core.triager.close()
        await core.store.close()


async def _run(triager: Triager, store: Store, guard: Guard, config: Config, r: Request, actor: Actor) -> str:
    _refused(await guard.admit(actor, r.environment, r.workload, r.remedy))
    result = await triager.triage(r.environment, r.workload, namespace=r.namespace)
    ev = result.evidence
    proposed = next((p for p in result.finding.remedies if str(p.id) == r.remedy), None)
    params = {**(proposed.params if proposed else default_params(ev, r.remedy)), **r.params}
    params = await _silence_params(store, config, r, ev.workload.namespace, ev.workload.name, params)
    incident = await _open_incident(store, r, ev.workload.namespace, ev.workload.name)
    minutes = config.actions.proposal_minutes
    proposal = await proposals.propose(
        store, ev, r.remedy, params, minutes=minutes, incident_id=incident.id if incident else None
    )
    outcome = await guard.request(actor, proposal.id, literal=r.literal)
    _refused(outcome)
    assert isinstance(outcome, Previewed)
    change = outcome.change
    echo(f"{change.summary}\n\n{change.diff or '(no change to the pod template)'}")
    if not r.yes and not click.confirm("Apply this change?", default=False):
        await guard.cancel(actor, change.id)
        return "nothing applied"
    done = await guard.confirm(actor, change.id)
    if incident is not None and isinstance(done, Verified | Failed):
        # the running bot's sync loop brings the root message's silence line up to date on its next pass
        await store.update_incident(incident.id, needs_sync=1, sync_attempts=0, next_sync_at=None)
    _refused(done)
    if isinstance(done, Failed):
        raise Stop(f"{done.reason}", EXIT_FAILED)
    if isinstance(done, Uncertain):
        raise Stop(f"outcome unknown: {done.reason}", EXIT_FAILED)
    if isinstance(done, Conflict):
        raise Stop("the workload changed while applying (409 Conflict): nothing applied; run the command again", 1)
    if isinstance(done, Verified):  # netcheck: the check ran; a silence: in force (or expired) in Alertmanager
        return "\n".join([done.detail, *done.lines])
    assert isinstance(done, Applied)
    if not r.verify:
        await guard.leave_unwatched(change.id)
        return f"applied: {change.summary}"
    echo(f"applied: {change.summary}; watching the pods until they are Ready and restarts stop", err=True)
    recovery = await guard.verify(actor, change.id)
    if isinstance(recovery, NotRecovered):
        raise Stop(f"NOT recovered: {recovery.detail}. {recovery.suggestion}", EXIT_FAILED)
    _refused(recovery)
    assert isinstance(recovery, Verified)
    return f"recovered: {recovery.detail}"


async def _silence_params(
    store: Store, config: Config, r: Request, namespace: str, workload: str, params: dict[str, Any]
) -> dict[str, Any]:
    """silence: the configured default duration unless --param duration=…; unsilence: the bot's silence in force."""
    if r.remedy == RemedyId.SILENCE:
        return {"duration": config.silences.default_duration, **params}
    if r.remedy == RemedyId.UNSILENCE and "silence_id" not in params:
        row = await store.silences.in_force_for(r.environment, namespace, workload)
        if row is None:
            raise Stop(f"refused: the bot holds no silence in force for {namespace}/{workload}", EXIT_REFUSED)
        return {**params, "silence_id": row.id}
    return params


async def _open_incident(store: Store, r: Request, namespace: str, workload: str) -> IncidentRow | None:
    """A silence's open incident, whose root message shows the silence (other remedies: none needed here)."""
    if not is_silencing(r.remedy):
        return None
    found = await store.list_incidents(environment=r.environment, status="open")
    return next((i for i in found if (i.namespace, i.workload) == (namespace, workload)), None)


def _refused(outcome: Outcome | None) -> None:
    if isinstance(outcome, Refused):
        raise Stop(f"refused: {outcome.reason}", EXIT_REFUSED)


@click.command("act")
@click.argument("remedy", type=click.Choice(sorted(str(r) for r in RemedyId)))
@click.argument("environment")
@click.argument("workload")
@click.option("-n", "--namespace")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="override a parameter (repeatable)")
@click.option("--secret-value", is_flag=True, help="set_env: prompt for a literal value (not echoed)")
@click.option("--yes", is_flag=True, help="apply without asking")
@click.option("--no-verify", is_flag=True, help="do not wait for the pods to recover")
@click.option("--as", "as_user", metavar="USER", help="who acts, audited as cli:USER (default: $USER)")
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
    as_user: str | None,
) -> None:
    """Preview, confirm and apply a runbook REMEDY to WORKLOAD in ENVIRONMENT, then watch it recover."""
    from bot.cli.main import _fail, _load

    config = _load(ctx)
    if any("=" not in p for p in params):
        _fail("--param takes KEY=VALUE", EXIT_REFUSED)
    overrides = typed_params(dict(p.split("=", 1) for p in params))
    if "value" in overrides:
        _fail("literal values are not taken as arguments (shell history keeps them): use --secret-value", 2)
    literal = click.prompt("Value", hide_input=True) if secret_value else None
    user = as_user or os.environ.get("USER") or getpass.getuser()
    request = Request(remedy, environment, workload, namespace, overrides, literal, yes, not no_verify)
    try:
        echo(asyncio.run(act(config, request, user=user)))
    except Stop as exc:
        _fail(str(exc), exc.code)
