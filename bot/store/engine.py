"""The Store: one async SQLAlchemy engine and the operations the bot needs, on SQLite or PostgreSQL.

Writes that must be exactly-once across retries and replicas are single statements the database arbitrates:
alert intake inserts with ON CONFLICT DO NOTHING on the dedupe key (group-committed, see `intake`), incidents
open under a unique key, pending alerts are claimed by this process's instance (and `FOR UPDATE SKIP LOCKED` on
PostgreSQL) — a dead instance's claims are taken over within seconds (see `instances`).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, case, event, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot.store.changes import ChangeRow, ChangeStore
from bot.store.instances import Instances
from bot.store.intake import GroupCommit, StoreUnavailable
from bot.store.rows import AlertRow, IncidentRow, ProposalRow
from bot.store.schema import alerts, incidents, proposals
from runbooks.alerts import Alert

__all__ = ["Store", "StoreUnavailable", "make_engine"]
# seconds a SQLite write waits for this process's queue, then for the file lock, before failing: a webhook meeting
# a locked database answers 503 within 2 x BUSY_TIMEOUT
BUSY_TIMEOUT = 5.0
ROOT_CLAIM_SECONDS = 120  # a root-post claim whose holder is alive is taken over only after this long


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, busy_timeout: float = BUSY_TIMEOUT) -> AsyncEngine:
    """An engine for `url`; SQLite gets WAL, a bounded busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": busy_timeout})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


class Store:
    """Every SQL operation of the bot. Create with `Store(url)`, `await store.close()` at shutdown."""

    def __init__(self, url: str, *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.url = url
        self.busy_timeout = busy_timeout
        self.engine = make_engine(url, busy_timeout)
        self.dialect = self.engine.dialect.name
        # SQLite has one writer: writes of this process queue on an asyncio lock instead of meeting in SQLite's
        # busy handler, which sleeps up to 100 ms between tries (the webhook p99 under load)
        self._write_lock = asyncio.Lock() if self.dialect == "sqlite" else None
        self.instances = Instances(self.engine, begin=self.begin)
        self.changes = ChangeStore(self.engine, instance_id=self.instances.id, live=self.instances.live)
        self._intake = GroupCommit(self.begin, self._insert, self._note_write)

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction (serialised within this process on SQLite)."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self.engine.connect() as conn:  # connecting (a thread per aiosqlite connection) is not queued
            try:  # bounded like SQLite's own wait: a write never queues for longer than the busy timeout
                await asyncio.wait_for(self._write_lock.acquire(), self.busy_timeout)
            except TimeoutError:
                raise StoreUnavailable(f"another write held the database for over {self.busy_timeout}s") from None
            try:
                async with conn.begin():
                    yield conn
            finally:
                self._write_lock.release()

    def _note_write(self, error: str | None) -> None:
        if error is None:
            self.instances.health.ok()
        else:
            self.instances.health.failed(error)

    async def close(self) -> None:
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    def _insert(self, table: Any) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)

    # --- alerts --------------------------------------------------------------------------------------------

    async def add_alerts(self, batch: Sequence[Alert], now: datetime | None = None) -> tuple[int, int]:
        """Persist a delivery (redacted; group-committed with concurrent ones); returns (new, duplicates).

        Committed when this returns; StoreUnavailable when it was not."""
        return await self._intake.add(batch, now)

    async def claim_alerts(self, limit: int, lease: timedelta, now: datetime | None = None) -> list[AlertRow]:
        """Pending alerts due now, claimed by this instance: no other worker takes them while it beats."""
        now = now or utcnow()
        async with self.begin() as conn:
            query = (
                select(alerts.c.id)
                .where(alerts.c.state == "pending", alerts.c.next_attempt_at <= now)
                .where(or_(alerts.c.claimed_until.is_(None), alerts.c.claimed_until < now))
                .order_by(alerts.c.id)
                .limit(limit)
            )
            if self.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = [r.id for r in await conn.execute(query)]
            if not ids:
                return []
            await conn.execute(
                update(alerts)
                .where(alerts.c.id.in_(ids))
                .values(claimed_until=now + lease, claimed_by=self.instances.id)
            )
            rows = await conn.execute(select(alerts).where(alerts.c.id.in_(ids)).order_by(alerts.c.id))
            return [_alert_row(r) for r in rows]

    async def finish_alerts(
        self,
        ids: Sequence[int],
        *,
        state: str,
        environment: str | None = None,
        incident_id: int | None = None,
        error: str | None = None,
    ) -> None:
        """Mark alerts processed / unroutable / failed."""
        async with self.begin() as conn:
            await conn.execute(
                update(alerts)
                .where(alerts.c.id.in_(list(ids)))
                .values(
                    state=state,
                    environment=environment,
                    incident_id=incident_id,
                    error=error,
                    processed_at=utcnow(),
                    claimed_until=None,
                    claimed_by=None,
                )
            )

    async def retry_alerts(self, ids: Sequence[int], error: str, delay: timedelta, max_attempts: int) -> int:
        """Put alerts back for a later attempt; those out of attempts become `failed`. Returns how many failed."""
        now = utcnow()
        async with self.begin() as conn:
            await conn.execute(
                update(alerts)
                .where(alerts.c.id.in_(list(ids)))
                .values(
                    attempts=alerts.c.attempts + 1,
                    error=error,
                    next_attempt_at=now + delay,
                    claimed_until=None,
                    claimed_by=None,
                )
            )
            result = await conn.execute(
                update(alerts)
                .where(alerts.c.id.in_(list(ids)), alerts.c.attempts >= max_attempts)
                .values(state="failed", processed_at=now)
            )
            return result.rowcount or 0

    async def count_alerts(self, state: str | None = None) -> int:
        async with self.engine.connect() as conn:
            query = select(func.count()).select_from(alerts)
            if state:
                query = query.where(alerts.c.state == state)
            return int((await conn.execute(query)).scalar_one())

    async def alerts_of(self, incident_id: int) -> list[AlertRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(alerts).where(alerts.c.incident_id == incident_id).order_by(alerts.c.id))
            return [_alert_row(r) for r in rows]

    # --- incidents -----------------------------------------------------------------------------------------

    async def open_incident(
        self, environment: str, namespace: str, workload: str, kind: str | None, now: datetime | None = None
    ) -> tuple[IncidentRow, bool]:
        """The open incident of this workload, creating it when there is none; (row, created)."""
        now = now or utcnow()
        key = (incidents.c.environment == environment, incidents.c.namespace == namespace)
        async with self.begin() as conn:
            values: dict[str, Any] = {
                "environment": environment,
                "namespace": namespace,
                "workload": workload,
                "kind": kind,
                "status": "open",
                "open_marker": 1,
                "opened_at": now,
                "alert_count": 0,
                "firing": [],
                "alertnames": [],
                "updated_at": now,
            }
            stmt = self._insert(incidents).values(**values).on_conflict_do_nothing()
            created = bool((await conn.execute(stmt)).rowcount)
            row = (
                await conn.execute(
                    select(incidents).where(*key, incidents.c.workload == workload, incidents.c.open_marker == 1)
                )
            ).one()
        return _incident_row(row), created

    async def update_incident(self, incident_id: int, **values: Any) -> IncidentRow:
        values.setdefault("updated_at", utcnow())
        if values.get("status") == "resolved":
            values["open_marker"] = None
        async with self.begin() as conn:
            await conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))
            row = (await conn.execute(select(incidents).where(incidents.c.id == incident_id))).one()
        return _incident_row(row)

    async def update_incident_atomic(
        self, incident_id: int, compute: Callable[[IncidentRow], dict[str, Any]]
    ) -> IncidentRow:
        """Read-modify-write of an incident in one transaction (row-locked on PostgreSQL): replicas handling
        alerts of the same incident cannot overwrite each other's counts, firing set or pending replies."""
        async with self.begin() as conn:
            query = select(incidents).where(incidents.c.id == incident_id)
            if self.dialect == "postgresql":
                query = query.with_for_update()
            current = _incident_row((await conn.execute(query)).one())
            values = compute(current)
            values.setdefault("updated_at", utcnow())
            if values.get("status") == "resolved":
                values["open_marker"] = None
            await conn.execute(update(incidents).where(incidents.c.id == incident_id).values(**values))
            row = (await conn.execute(select(incidents).where(incidents.c.id == incident_id))).one()
        return _incident_row(row)

    def root_claim(self) -> str:
        """A claim on posting a root message, naming this instance: `claim:<instance>:<unix time>`."""
        return f"claim:{self.instances.id}:{datetime.now(UTC).timestamp():.0f}"

    async def root_claim_abandoned(self, claim: str | None) -> bool:
        """Whether a root-post claim was left by a dead instance (or is older than ROOT_CLAIM_SECONDS)."""
        if not claim or not claim.startswith("claim:"):
            return False
        holder, _, at = claim.removeprefix("claim:").rpartition(":")
        try:
            age = datetime.now(UTC).timestamp() - float(at)
        except ValueError:
            return True
        if age > ROOT_CLAIM_SECONDS:
            return True
        return bool(holder) and holder != self.instances.id and not await self.instances.is_alive(holder)

    async def claim_root_post(self, incident_id: int, claim: str, stale: str | None = None) -> bool:
        """Whether this caller may post the incident's root message (one caller at a time, and only once).

        `stale` is a previous claim the caller found abandoned (`root_claim_abandoned`): its holder died between
        claiming and saving the posted message's ts, so the message may exist — the caller looks before posting.
        """
        free: ColumnElement[bool] = incidents.c.root_ts.is_(None)
        if stale and stale.startswith("claim:"):
            free = or_(free, incidents.c.root_ts == stale)
        async with self.begin() as conn:
            result = await conn.execute(
                update(incidents).where(incidents.c.id == incident_id, free).values(root_ts=claim)
            )
            return bool(result.rowcount)

    async def incidents_to_sync(self, limit: int, now: datetime | None = None) -> list[IncidentRow]:
        """Incidents whose Slack message is behind their state and due for another attempt; those without a
        root message come first (in a storm, every workload is shown before any is updated)."""
        now = now or utcnow()
        posted = case((incidents.c.root_ts.is_(None) | incidents.c.root_ts.like("claim:%"), 0), else_=1)
        async with self.engine.connect() as conn:
            query = (
                select(incidents)
                .where(incidents.c.needs_sync == 1)
                .where(or_(incidents.c.next_sync_at.is_(None), incidents.c.next_sync_at <= now))
                .order_by(posted, incidents.c.id)
                .limit(limit)
            )
            return [_incident_row(r) for r in await conn.execute(query)]

    async def get_incident(self, incident_id: int) -> IncidentRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(incidents).where(incidents.c.id == incident_id))).first()
        return _incident_row(row) if row else None

    async def list_incidents(self, *, environment: str | None = None, status: str | None = "open") -> list[IncidentRow]:
        async with self.engine.connect() as conn:
            query = select(incidents).order_by(incidents.c.opened_at)
            if environment:
                query = query.where(incidents.c.environment == environment)
            if status:
                query = query.where(incidents.c.status == status)
            return [_incident_row(r) for r in await conn.execute(query)]

    async def abandoned_changes(self, *, unowned_after: timedelta = timedelta(minutes=5)) -> list[ChangeRow]:
        """Changes left in `applying` by an instance that is no longer alive: the guard settles these at once."""
        return await self.changes.abandoned(unowned_after=unowned_after)

    # --- proposals -----------------------------------------------------------------------------------------

    async def add_proposal(self, *, ttl: timedelta, **values: Any) -> ProposalRow:
        now = utcnow()
        row = {"id": secrets.token_urlsafe(12), "created_at": now, "expires_at": now + ttl, **values}
        async with self.begin() as conn:
            await conn.execute(proposals.insert().values(**row))
        return ProposalRow(**row)

    async def get_proposal(self, proposal_id: str) -> ProposalRow | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(proposals).where(proposals.c.id == proposal_id))).first()
        return ProposalRow(**row._mapping) if row else None

    async def use_proposal(self, proposal_id: str, user: str, now: datetime | None = None) -> bool:
        """Single use: True for the one caller that consumes an unexpired proposal."""
        now = now or utcnow()
        async with self.begin() as conn:
            result = await conn.execute(
                update(proposals)
                .where(proposals.c.id == proposal_id, proposals.c.used_at.is_(None), proposals.c.expires_at > now)
                .values(used_at=now, used_by=user)
            )
            return bool(result.rowcount)


def _alert_row(row: Row[Any]) -> AlertRow:
    m = row._mapping
    alert = Alert(
        source=m["source"],
        status=m["status"],
        name=m["alertname"],
        fingerprint=m["fingerprint"],
        starts_at=m["starts_at"],
        ends_at=m["ends_at"],
        labels=dict(m["labels"]),
        annotations=dict(m["annotations"]),
        generator_url=m["generator_url"],
        group_key=m["group_key"],
        sample_log=m["sample_log"],
    )
    return AlertRow(
        id=m["id"],
        alert=alert,
        received_at=m["received_at"],
        state=m["state"],
        attempts=m["attempts"],
        environment=m["environment"],
        incident_id=m["incident_id"],
        error=m["error"],
    )


def _incident_row(row: Row[Any]) -> IncidentRow:
    m = dict(row._mapping)
    m.pop("open_marker", None)
    m["firing"] = list(m.get("firing") or [])
    m["alertnames"] = list(m.get("alertnames") or [])
    m["pending_replies"] = list(m.get("pending_replies") or [])
    return IncidentRow(**m)
