"""Which remedy a workload was given before, and when it reached the cluster: the remedy-loop guard's memory.

A change row says what was asked and how it ended; the audit log's "applied" row says when it was applied. The
guard (`bot.guard.repeats`) asks for the latest change with the same remedy on the same workload that reached
the cluster within a window. Kept apart from `bot.store.changes` (the state machine's conditional updates), which
the package's engine imports before the audit log can be.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.audit import audit_log
from bot.store.changes import ChangeRow
from bot.store.schema import changes

# The states of a change whose patch reached the cluster (an "applied" audit row exists).
APPLIED_STATES = ("verifying", "verified", "not_recovered", "unverified")


@dataclass(frozen=True)
class AppliedChange:
    """A change that reached the cluster, and when (its first "applied" audit row)."""

    change: ChangeRow
    applied_at: datetime


async def last_applied(
    engine: AsyncEngine,
    *,
    environment: str,
    namespace: str,
    kind: str,
    workload: str,
    remedy: str,
    since: datetime,
    before: datetime,
) -> AppliedChange | None:
    """The latest change with `remedy` on the workload applied in [since, before), None when there is none."""
    a = audit_log.c
    applied = (
        select(a.change_id, func.min(a.at).label("applied_at"))
        .where(a.environment == environment, a.namespace == namespace, a.workload == workload)
        .where(a.action == "applied", a.outcome == "ok", a.remedy == remedy, a.change_id.is_not(None))
        .group_by(a.change_id)
        .subquery()
    )
    query = (
        select(changes, applied.c.applied_at)
        .join(applied, applied.c.change_id == changes.c.id)
        .where(
            changes.c.environment == environment,
            changes.c.namespace == namespace,
            changes.c.kind == kind,
            changes.c.workload == workload,
            changes.c.remedy == remedy,
            changes.c.state.in_(APPLIED_STATES),
            applied.c.applied_at >= since,
            applied.c.applied_at < before,
        )
        .order_by(applied.c.applied_at.desc())
        .limit(1)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    values = dict(row._mapping)
    at: datetime = values.pop("applied_at")
    values.pop("active_marker", None)
    values["params"] = dict(values.get("params") or {})
    return AppliedChange(ChangeRow(**values), at if at.tzinfo else at.replace(tzinfo=UTC))
