"""The silences the bot created in Alertmanager: which workload, exactly which matchers, until when, by whom.

Alertmanager is the authority on whether a silence is in force; this is the bot's record of what it asked for,
so the incident's root message can say "silenced until … by …" and offer Unsilence, and so the silence's id
outlives the Slack message. A silence unsilenced through the bot is marked `expired_at`; one that simply ran
out is recognised by its `ends_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.intake import StoreUnavailable
from bot.store.schema import silences


@dataclass(frozen=True)
class SilenceRow:
    """One silence the bot created."""

    id: str
    environment: str
    namespace: str
    workload: str
    kind: str
    incident_id: int | None
    change_id: str | None
    matchers: list[dict[str, Any]]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    created_by_name: str | None
    comment: str | None
    expired_at: datetime | None
    expired_by: str | None
    created_at: datetime

    def in_force(self, now: datetime) -> bool:
        return self.expired_at is None and self.ends_at > now


class SilenceStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, **values: Any) -> SilenceRow:
        """Record a silence Alertmanager holds; StoreUnavailable when it cannot be (the caller takes it back)."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(silences.insert().values(created_at=datetime.now(UTC), **values))
            found = await self.get(str(values["id"]))
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(f"silences: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
        if found is None:
            raise StoreUnavailable(f"silences: silence {values['id']} was not there once written")
        return found

    async def get(self, silence_id: str) -> SilenceRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(silences).where(silences.c.id == silence_id))).first()
        return _row(row) if row else None

    async def in_force_for(
        self,
        environment: str,
        namespace: str,
        workload: str,
        now: datetime | None = None,
        *,
        excluding: str | None = None,
    ) -> SilenceRow | None:
        """The workload's silence that runs longest, among those neither expired nor run out (other than
        `excluding`)."""
        now = now or datetime.now(UTC)
        query = (
            select(silences)
            .where(
                silences.c.environment == environment,
                silences.c.namespace == namespace,
                silences.c.workload == workload,
                silences.c.expired_at.is_(None),
                silences.c.ends_at > now,
                *([silences.c.id != excluding] if excluding else []),
            )
            .order_by(silences.c.ends_at.desc())
            .limit(1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _row(row) if row else None

    async def ended_between(self, since: datetime, until: datetime) -> list[SilenceRow]:
        """The silences that ran out (not unsilenced) after `since` and by `until`: roots to bring up to date."""
        query = select(silences).where(
            silences.c.expired_at.is_(None), silences.c.ends_at > since, silences.c.ends_at <= until
        )
        async with self.engine.connect() as conn:
            return [_row(r) for r in (await conn.execute(query)).all()]

    async def expired(self, silence_id: str, by: str, at: datetime | None = None) -> SilenceRow | None:
        """Mark the silence expired (once: None when it already was); StoreUnavailable when it cannot be."""
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    update(silences)
                    .where(silences.c.id == silence_id, silences.c.expired_at.is_(None))
                    .values(expired_at=at or datetime.now(UTC), expired_by=by)
                )
            return await self.get(silence_id) if result.rowcount else None
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailable(f"silences: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc


def _row(row: Row[Any]) -> SilenceRow:
    m = dict(row._mapping)
    m["matchers"] = list(m.get("matchers") or [])
    return SilenceRow(**m)
