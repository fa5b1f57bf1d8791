"""`crashloop ack ENV NAMESPACE WORKLOAD`: "I'm on it" from a terminal, as `cli:<user>`.

The same rule as the Slack button (`bot.incidents.ownership`): the responder role of the environment (with no
`cli:` principal in `access`, the operator's kubeconfig decides and they are a responder — and as owning reads no
cluster, that means anyone with the database URL and CRASHLOOP_AUDIT_KEY, under any `--as` name: the README's
"Guarded remedies" says so), one owner at a time,
`--take-over` to take an owned incident over, every step audited. The running bot brings the root message up to
date on its next pass (the incident is marked for it in SQL).

Exit codes: 0 owned (now or already), 1 the database cannot be reached, 2 refused, unknown, resolved, owned by
someone else without --take-over, or not owned because the audit log cannot be written (no CRASHLOOP_AUDIT_KEY,
or the database refused the row: the owner and its row are one transaction, so nothing was owned).
"""

from __future__ import annotations

import asyncio
import getpass
import os

import click

from bot.cli.output import echo
from bot.core.config import Config
from bot.core.settings import load_settings
from bot.guard.access import AccessControl
from bot.guard.trail import Actor
from bot.incidents.ownership import AlreadyYours, NotOwnable, Outcome, Owned, OwnedByOther, Ownership
from bot.store import StoreUnavailable
from bot.store.audit import AuditKeyError
from bot.store.migrate import upgrade
from bot.store.rows import IncidentRow
from bot.wiring import build_core

EXIT_UNAVAILABLE, EXIT_REFUSED = 1, 2


class Refused(Exception):
    """End the command with this message (exit 2)."""


class Unavailable(Exception):
    """The database cannot be used: end the command with this message (exit 1)."""


async def ack(config: Config, environment: str, namespace: str, workload: str, *, user: str, take_over: bool) -> str:
    try:
        core = build_core(config, load_settings())
    except AuditKeyError as exc:  # nothing is owned without its audit row
        raise Refused(f"not owned: the audit log cannot be written ({exc})") from exc
    ownership = Ownership(store=core.store, audit=core.audit, access=AccessControl(config, None), resync=_marked)
    actor = Actor(f"cli:{user}", user)
    try:
        try:
            await upgrade(core.store.engine)
        except StoreUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        incidents = await core.store.list_incidents(environment=environment, status="open")
        incident = next((i for i in incidents if (i.namespace, i.workload) == (namespace, workload)), None)
        if incident is None:
            raise Refused(f"no open incident for {namespace}/{workload} in environment {environment}")
        try:
            outcome = await ownership.acknowledge(actor, incident.id)
            if isinstance(outcome, OwnedByOther) and take_over:
                outcome = await ownership.take_over(actor, incident.id, str(outcome.incident.owner_id))
        except StoreUnavailable as exc:  # the owner and its audit row are one transaction: neither was written
            raise Refused(f"not owned: the database refused to record it ({exc})") from exc
        return _said(outcome)
    finally:
        core.triager.close()
        await core.store.close()


async def _marked(incident_id: int) -> None:
    """Nothing more to do here: the incident is marked in SQL (its sync_seq bumped, so a sync the running bot has
    in flight cannot clear the mark) and the bot's sync loop updates its root message on its next pass."""


def _said(outcome: Outcome) -> str:
    if isinstance(outcome, NotOwnable):
        raise Refused(f"refused: {outcome.reason}")
    incident = outcome.incident
    where = f"{incident.namespace}/{incident.workload}"
    if isinstance(outcome, OwnedByOther):
        raise Refused(f"{_owner(incident)} owns {where}{_since(incident)}; --take-over takes it over")
    if isinstance(outcome, AlreadyYours):
        return f"you already own {where}{_since(incident)}"
    assert isinstance(outcome, Owned)
    was = f", taken over from {outcome.previous_name or outcome.previous}" if outcome.previous else ""
    return f"you own {where} now{was}; the root message says so on the bot's next pass"


def _owner(incident: IncidentRow) -> str:
    return incident.owner_name or str(incident.owner_id)


def _since(incident: IncidentRow) -> str:
    return f" since {incident.owned_since:%Y-%m-%d %H:%M} UTC" if incident.owned_since else ""


@click.command("ack")
@click.argument("environment")
@click.argument("namespace")
@click.argument("workload")
@click.option("--take-over", is_flag=True, help="take the incident over when someone else owns it")
@click.option("--as", "as_user", metavar="USER", help="who acts, audited as cli:USER (default: $USER)")
@click.pass_context
def ack_command(
    ctx: click.Context, environment: str, namespace: str, workload: str, take_over: bool, as_user: str | None
) -> None:
    """Say you are on the open incident of WORKLOAD in NAMESPACE of ENVIRONMENT ("I'm on it")."""
    from bot.cli.main import _fail, _load

    config = _load(ctx)
    user = as_user or os.environ.get("USER") or getpass.getuser()
    try:
        echo(asyncio.run(ack(config, environment, namespace, workload, user=user, take_over=take_over)))
    except Refused as exc:
        _fail(str(exc), EXIT_REFUSED)
    except Unavailable as exc:
        _fail(str(exc), EXIT_UNAVAILABLE)
