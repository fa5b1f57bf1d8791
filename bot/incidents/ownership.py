"""Who owns an incident: "I'm on it", and taking an owned incident over — the rule, the store, the audit row.

Owning is not a change to the workload, but it is a claim other responders rely on ("ana has it"), so it takes
the responder role of the incident's environment (a viewer may watch, not own: `bot.guard.access`), it is
recorded on the incident (owner and since when, shown on the root message) and every step is audited
(`acknowledged`, `taken_over`, a refusal as `denied`) — the owner and its audit row in one transaction
(`AuditLog.append_with`), so there is never an owner without its row. Of two clicks at once the database lets one
win (`Store.owner_change` is conditional on the owner the click saw); the other is told who owns it now.
Slack-free: the handler renders the outcomes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.guard.access import AccessControl, Role
from bot.guard.trail import Actor
from bot.store import Store
from bot.store.audit import AuditEvent, AuditLog
from bot.store.rows import IncidentRow


@dataclass(frozen=True)
class Owned:
    """`incident` is now owned by the actor; `previous` is whom it was taken over from (None: nobody)."""

    incident: IncidentRow
    previous: str | None = None
    previous_name: str | None = None


@dataclass(frozen=True)
class OwnedByOther:
    """Someone else owns `incident`: the actor may take it over from `incident.owner_id`."""

    incident: IncidentRow


@dataclass(frozen=True)
class AlreadyYours:
    incident: IncidentRow


@dataclass(frozen=True)
class NotOwnable:
    """The click cannot take effect: the incident is unknown or resolved, or the actor may not own it."""

    reason: str
    incident: IncidentRow | None = None


Outcome = Owned | OwnedByOther | AlreadyYours | NotOwnable


@dataclass(frozen=True)
class Where:
    """The Slack message a click came from, for the audit row."""

    channel: str | None = None
    ts: str | None = None


class Ownership:
    """Acknowledge and take over incidents; `resync(incident_id)` asks the incident queue to bring the root
    message up to date. The incident is already marked for it in SQL (its `sync_seq` bumped), so a sync in flight
    anywhere cannot clear the mark, and the sync loop of any replica (or of the bot, after `crashloop ack`)
    brings it up to date."""

    def __init__(
        self,
        *,
        store: Store,
        audit: AuditLog,
        access: AccessControl,
        resync: Callable[[int], Awaitable[None]],
    ) -> None:
        self.store, self.audit, self.access, self.resync = store, audit, access, resync

    async def acknowledge(self, actor: Actor, incident_id: int, where: Where = Where()) -> Outcome:
        """The "I'm on it" click: the actor owns the incident unless someone already does."""
        checked = await self._check(actor, incident_id, where, "acknowledge")
        if not isinstance(checked, IncidentRow):
            return checked
        if checked.owner_id == actor.id:
            return AlreadyYours(checked)
        if checked.owner_id is not None:
            return OwnedByOther(checked)
        return await self._take(actor, checked, where)

    async def take_over(self, actor: Actor, incident_id: int, offered_from: str, where: Where = Where()) -> Outcome:
        """Take the incident over from `offered_from`, the owner the actor was offered it from; if ownership
        moved meanwhile, the actor is told who owns it now (and may be offered again)."""
        checked = await self._check(actor, incident_id, where, "take over")
        if not isinstance(checked, IncidentRow):
            return checked
        if checked.owner_id == actor.id:
            return AlreadyYours(checked)
        if checked.owner_id != offered_from:
            return OwnedByOther(checked) if checked.owner_id else await self._take(actor, checked, where)
        return await self._take(actor, checked, where)

    async def _check(self, actor: Actor, incident_id: int, where: Where, verb: str) -> IncidentRow | NotOwnable:
        incident = await self.store.get_incident(incident_id)
        if incident is None:
            return NotOwnable(f"incident {incident_id} is unknown (the message may belong to another installation)")
        if incident.status != "open":
            return NotOwnable(f"the incident on {incident.workload} is already resolved", incident)
        decision = await self.access.role(actor.id, incident.environment)
        if decision.role < Role.RESPONDER:
            reason = f"owning an incident takes the responder role: {decision.why}"
            await self._audit("denied", "refused", actor, incident, where, f"{verb} incident {incident.id}: {reason}")
            return NotOwnable(reason, incident)
        return incident

    async def _take(self, actor: Actor, incident: IncidentRow, where: Where) -> Outcome:
        """The actor owns the incident: the owner and its audit row are written in one transaction (nothing is
        owned without its row; a refused row, a database error or a cancellation leave the owner as it was)."""
        name = actor.name or await self.access.name_of(actor.id)
        change = self.store.owner_change(incident.id, actor.id, name, expected_owner=incident.owner_id)
        if incident.owner_id is None:
            event = self._event("acknowledged", "ok", actor, name, incident, where, f"owns incident {incident.id}")
        else:
            detail = f"took incident {incident.id} over from {incident.owner_name or incident.owner_id}"
            event = self._event("taken_over", "ok", actor, name, incident, where, detail)
        taken = await self.audit.append_with(event, change)
        if taken is None:  # resolved, or someone else's click won: say how it is now
            now = await self.store.get_incident(incident.id)
            if now is None or now.status != "open":
                return NotOwnable(f"the incident on {incident.workload} is already resolved", now)
            return AlreadyYours(now) if now.owner_id == actor.id else OwnedByOther(now)
        await self.resync(taken.id)
        return Owned(taken, incident.owner_id, incident.owner_name)

    async def _audit(
        self, action: str, outcome: str, actor: Actor, incident: IncidentRow, where: Where, detail: str
    ) -> None:
        name = actor.name or await self.access.name_of(actor.id)
        await self.audit.append(self._event(action, outcome, actor, name, incident, where, detail))

    @staticmethod
    def _event(
        action: str, outcome: str, actor: Actor, name: str | None, incident: IncidentRow, where: Where, detail: str
    ) -> AuditEvent:
        return AuditEvent(
            action=action,
            outcome=outcome,
            actor_id=actor.id,
            actor_name=name,
            environment=incident.environment,
            namespace=incident.namespace,
            workload=incident.workload,
            detail=detail,
            incident_id=incident.id,
            slack_channel=where.channel or incident.channel,
            slack_ts=where.ts or _posted(incident.root_ts),
        )


def _posted(root_ts: str | None) -> str | None:
    """The root message's ts, not a claim on posting it (`claim:…`)."""
    return None if root_ts is None or root_ts.startswith("claim:") else root_ts
