"""Who acts, and the audit trail every step and every refusal of the change flow leaves.

Shared by the guard's steps (`bot.guard.flow`) and its apply step (`bot.guard.apply`): a refusal is raised as
`Refusal` where it is found and turned into an audited `Refused` outcome in one place (`Trail.refuse`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.metrics import Metrics
from bot.guard.access import AccessControl
from bot.guard.outcomes import Refused, Rule
from bot.store.audit import AuditEvent, AuditLog
from bot.store.changes import ChangeRow
from bot.store.rows import ProposalRow


@dataclass(frozen=True)
class Actor:
    """Who acts: a Slack user id, `cli:<user>` or `bot`."""

    id: str
    name: str | None = None


BOT = Actor("bot", "crashloop-bot")


class Refusal(Exception):
    """Raised inside a step: refuse by `rule` with `reason` (and the `field` to correct)."""

    def __init__(self, rule: Rule, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.rule, self.field = rule, field


class Stop(Exception):
    """Ends a step early with `outcome` (a refusal, already audited)."""

    def __init__(self, outcome: Refused) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


class Trail:
    """Writes the audit rows of the change flow and counts its outcomes."""

    def __init__(self, *, audit: AuditLog, access: AccessControl, metrics: Metrics) -> None:
        self.audit, self.access, self.metrics = audit, access, metrics

    async def refuse(
        self,
        actor: Actor,
        subject: ProposalRow | ChangeRow,
        refusal: Refusal,
        *,
        params: dict[str, Any] | None = None,
    ) -> Refused:
        """Audit the refusal and say it; a proposal stays usable."""
        await self.record(actor, "denied", "refused", subject, params=params, detail=str(refusal))
        self.metrics.actions.labels(subject.remedy, "denied").inc()
        change = subject if isinstance(subject, ChangeRow) else None
        return Refused(refusal.rule, str(refusal), refusal.field, change)

    async def refuse_early(
        self, actor: Actor, environment: str, workload: str, remedy: str, refusal: Refusal
    ) -> Refused:
        """A refusal before there is a proposal (the door asked first): audited with what is known."""
        event = AuditEvent(
            action="denied",
            outcome="refused",
            actor_id=actor.id,
            actor_name=actor.name or await self.access.name_of(actor.id),
            environment=environment,
            namespace="",
            workload=workload,
            remedy=remedy,
            detail=str(refusal),
        )
        await self.audit.append(event)
        self.metrics.actions.labels(remedy, "denied").inc()
        return Refused(refusal.rule, str(refusal))

    async def record(
        self,
        actor: Actor,
        action: str,
        outcome: str,
        subject: ProposalRow | ChangeRow,
        *,
        params: dict[str, Any] | None = None,
        diff: str | None = None,
        detail: str | None = None,
        change: ChangeRow | None = None,
    ) -> None:
        """One audit row for a step on `subject`; a literal value (`value`) is never part of it."""
        change = change or (subject if isinstance(subject, ChangeRow) else None)
        given = params if params is not None else subject.params
        await self.audit.append(
            AuditEvent(
                action=action,
                outcome=outcome,
                actor_id=actor.id,
                actor_name=actor.name or await self.access.name_of(actor.id),
                environment=subject.environment,
                namespace=subject.namespace,
                workload=subject.workload,
                remedy=subject.remedy,
                params={k: v for k, v in given.items() if k != "value"},
                diff=diff if diff is not None else (change.diff if change and action == "applied" else None),
                detail=detail,
                incident_id=subject.incident_id,
                slack_channel=change.channel if change else None,
                slack_ts=change.thread_ts if change else None,
                proposal_id=subject.id if isinstance(subject, ProposalRow) else subject.proposal_id,
                change_id=change.id if change else None,
            )
        )
