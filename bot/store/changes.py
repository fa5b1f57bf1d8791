"""Guarded changes in SQL: one active change per workload, and state transitions the database arbitrates.

Every transition is a conditional UPDATE (`WHERE state IN (...)`): of two clicks, two replicas or a Slack retry,
exactly one moves the change on; the others see that it already moved and say so.

A change moved to `applying` records the instance that applies it (`applied_by`): `abandoned` lists the changes
whose applier is no longer alive (no heartbeat, see `instances`), so they can be settled in seconds rather than
after a timeout. While `applying`, `held_patch` keeps the exact patch sent (sealed by the guard); it is cleared
when the change leaves `applying`.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.rows import IncidentRow
from bot.store.schema import changes

ACTIVE_STATES = ("previewed", "awaiting_approval", "applying", "verifying")


@dataclass(frozen=True)
class ChangeRow:
    """One guarded change, from request to verification."""

    id: str
    proposal_id: str | None
    incident_id: int | None
    environment: str
    namespace: str
    workload: str
    kind: str
    remedy: str
    params: dict[str, Any]
    sealed_value: str | None
    generation: int | None
    state: str
    requested_by: str
    requested_by_name: str | None
    approved_by: str | None
    approved_by_name: str | None
    summary: str | None
    diff: str | None
    detail: str | None
    channel: str | None
    thread_ts: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    applied_by: str | None = None  # the instance that moved it to `applying`
    held_patch: str | None = field(default=None, repr=False)  # sealed patch in flight while `applying`


class ActiveChangeExists(Exception):
    """The workload already has a change in progress."""

    def __init__(self, existing: ChangeRow) -> None:
        super().__init__(f"change {existing.id} ({existing.remedy}, {existing.state}) is in progress")
        self.existing = existing


class ChangeStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        instance_id: str | None = None,
        live: Callable[[], Awaitable[set[str]]] | None = None,
    ) -> None:
        """`instance_id`: this process's instance; `live`: the ids of the instances alive now (`Instances.live`)."""
        self.engine = engine
        self.instance_id = instance_id
        self._live = live

    async def create(self, *, ttl: timedelta, **values: Any) -> ChangeRow:
        """A new active change; ActiveChangeExists when the workload already has one."""
        now = datetime.now(UTC)
        row = {
            "id": secrets.token_urlsafe(12),
            "state": "previewed",
            "active_marker": 1,
            "created_at": now,
            "updated_at": now,
            "expires_at": now + ttl,
            **values,
        }
        for attempt in range(2):
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(changes.insert().values(**row))
                break
            except IntegrityError:
                existing = await self.active_for(values["environment"], values["namespace"], values["workload"])
                if existing is None and attempt == 0:
                    continue
                if existing is None:
                    raise
                # an abandoned preview or approval request does not hold the workload past its expiry
                stale = existing.state in ("previewed", "awaiting_approval") and existing.expires_at <= now
                if attempt == 0 and stale and await self.move(existing.id, [existing.state], "expired"):
                    continue
                raise ActiveChangeExists(existing) from None
        found = await self.get(row["id"])
        assert found is not None
        return found

    async def get(self, change_id: str) -> ChangeRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(changes).where(changes.c.id == change_id))).first()
        return _row(row) if row else None

    async def active_for(self, environment: str, namespace: str, workload: str) -> ChangeRow | None:
        async with self.engine.connect() as conn:
            query = select(changes).where(
                changes.c.environment == environment,
                changes.c.namespace == namespace,
                changes.c.workload == workload,
                changes.c.active_marker == 1,
            )
            row = (await conn.execute(query)).first()
        return _row(row) if row else None

    async def of_incident(self, incident_id: int) -> list[ChangeRow]:
        """The changes requested from an incident's thread, oldest first (what was done about it)."""
        async with self.engine.connect() as conn:
            query = select(changes).where(changes.c.incident_id == incident_id).order_by(changes.c.created_at)
            return [_row(r) for r in await conn.execute(query)]

    async def done_about(self, incident: IncidentRow) -> list[ChangeRow]:
        """What was done about an incident, oldest first: the changes requested from its thread, and those asked
        for on its workload while it was open from where no incident is known (`crashloop act` proposes
        without one: its change has no incident_id)."""
        until = incident.resolved_at or datetime.now(UTC)
        elsewhere = and_(
            changes.c.incident_id.is_(None),
            changes.c.environment == incident.environment,
            changes.c.namespace == incident.namespace,
            changes.c.workload == incident.workload,
            changes.c.created_at >= incident.opened_at,
            changes.c.created_at <= until,
        )
        if incident.kind:
            elsewhere = and_(elsewhere, changes.c.kind == incident.kind)
        query = select(changes).where(or_(changes.c.incident_id == incident.id, elsewhere))
        async with self.engine.connect() as conn:
            return [_row(r) for r in await conn.execute(query.order_by(changes.c.created_at))]

    async def in_state(self, state: str, limit: int = 100) -> list[ChangeRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(changes).where(changes.c.state == state).order_by(changes.c.created_at).limit(limit)
            )
            return [_row(r) for r in rows]

    async def abandoned_applying(self, live: set[str], *, unowned_after: timedelta) -> list[ChangeRow]:
        """Changes left in `applying` by an instance not in `live` (an unowned one once `unowned_after` passed)."""
        now = datetime.now(UTC)
        found = []
        for change in await self.in_state("applying"):
            if change.applied_by is None:
                if now - change.updated_at >= unowned_after:
                    found.append(change)
            elif change.applied_by != self.instance_id and change.applied_by not in live:
                found.append(change)
        return found

    async def abandoned(self, *, unowned_after: timedelta) -> list[ChangeRow]:
        """Changes left in `applying` by an instance that is no longer alive (see `abandoned_applying`); without
        a registry of live instances, only unowned ones."""
        if self._live is None:
            return [c for c in await self.abandoned_applying(set(), unowned_after=unowned_after) if not c.applied_by]
        return await self.abandoned_applying(await self._live(), unowned_after=unowned_after)

    async def move(self, change_id: str, from_states: Iterable[str], to_state: str, **values: Any) -> ChangeRow | None:
        """Move the change from one of `from_states` to `to_state`; None when it was not in one of them."""
        values.update(state=to_state, updated_at=datetime.now(UTC))
        if to_state == "applying":
            values.setdefault("applied_by", self.instance_id)
        else:
            values.setdefault("held_patch", None)  # the patch in flight matters only while applying
        if to_state not in ACTIVE_STATES:
            values["active_marker"] = None
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(changes)
                .where(changes.c.id == change_id, changes.c.state.in_(list(from_states)))
                .values(**values)
            )
        return await self.get(change_id) if result.rowcount else None

    async def update(self, change_id: str, **values: Any) -> ChangeRow | None:
        values["updated_at"] = datetime.now(UTC)
        async with self.engine.begin() as conn:
            await conn.execute(update(changes).where(changes.c.id == change_id).values(**values))
        return await self.get(change_id)


def _row(row: Row[Any]) -> ChangeRow:
    m = dict(row._mapping)
    m.pop("active_marker", None)
    m["params"] = dict(m.get("params") or {})
    return ChangeRow(**m)
