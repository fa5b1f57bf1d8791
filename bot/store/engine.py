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
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
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
from bot.store.silences import SilenceStore
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
            # every commit reaches the disk before it returns, so a 202 survives a power loss too, not only a crash
            # of this process (NORMAL would); the cost is one fsync per commit, shared by a round of deliveries
            cursor.execute("PRAGMA synchronous=FULL")
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
        self.silences = SilenceStore(self.engine)
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
        """Pending alerts due now, claimed by this instance: no other worker takes them while it beats.

        One statement (UPDATE … WHERE id IN (due ids) RETURNING the rows): the write lock it takes on SQLite is
        held for one round trip, not three, so the webhook's commits barely wait behind the queue's claims."""
        now = now or utcnow()
        due = (
            select(alerts.c.id)
            .where(alerts.c.state == "pending", alerts.c.next_attempt_at <= now)
            .where(or_(alerts.c.claimed_until.is_(None), alerts.c.claimed_until < now))
            .order_by(alerts.c.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            due = due.with_for_update(skip_locked=True)
        claim = (
            update(alerts)
            .where(alerts.c.id.in_(due.scalar_subquery()))
            .values(claimed_until=now + lease, claimed_by=self.instances.id)
            .returning(*alerts.c)
        )
        async with self.begin() as conn:
            rows = (await conn.execute(claim)).all()
        # built after the commit (the webhook's writes wait for none of it), oldest first as they arrived
        return sorted((_alert_row(r) for r in rows), key=lambda row: row.id)

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
        values = _marked(values)
        stmt = update(incidents).where(incidents.c.id == incident_id).values(**values).returning(*incidents.c)
        async with self.begin() as conn:
            row = (await conn.execute(stmt)).one()
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
            values = _marked(compute(current))
            stmt = update(incidents).where(incidents.c.id == incident_id).values(**values).returning(*incidents.c)
            row = (await conn.execute(stmt)).one()  # the updated row in the same statement: one round trip less
        return _incident_row(row)

    async def set_incident_owner(
        self,
        incident_id: int,
        owner_id: str | None,
        owner_name: str | None,
        *,
        expected_owner: str | None,
        since: datetime | None = None,
    ) -> IncidentRow | None:
        """Make `owner_id` the owner (since `since`, default now; None: nobody) of an open incident whose owner
        is still `expected_owner` (None: nobody); None when the incident is resolved or its owner changed
        meanwhile. Of two clicks one wins; the root message is marked for an update. Ownership that must be
        audited goes through `owner_change` inside the audit row's transaction (`AuditLog.append_with`)."""
        change = self.owner_change(incident_id, owner_id, owner_name, expected_owner=expected_owner, since=since)
        async with self.begin() as conn:
            return await change(conn)

    @staticmethod
    def owner_change(
        incident_id: int,
        owner_id: str | None,
        owner_name: str | None,
        *,
        expected_owner: str | None,
        since: datetime | None = None,
    ) -> Callable[[AsyncConnection], Awaitable[IncidentRow | None]]:
        """`set_incident_owner` as a step of a caller's transaction: run it on the transaction's connection."""

        async def change(conn: AsyncConnection) -> IncidentRow | None:
            now = utcnow()
            held = incidents.c.owner_id.is_(None) if expected_owner is None else incidents.c.owner_id == expected_owner
            owned_since = (since or now) if owner_id else None
            values = _marked(
                {
                    "owner_id": owner_id,
                    "owner_name": owner_name,
                    "owned_since": owned_since,
                    "updated_at": now,
                    "needs_sync": 1,
                    "sync_attempts": 0,
                    "next_sync_at": None,
                }
            )
            result = await conn.execute(
                update(incidents)
                .where(incidents.c.id == incident_id, incidents.c.status == "open", held)
                .values(**values)
            )
            if not result.rowcount:
                return None
            row = (await conn.execute(select(incidents).where(incidents.c.id == incident_id))).one()
            return _incident_row(row)

        return change

    async def finish_sync(self, incident_id: int, seen: int, **values: Any) -> IncidentRow:
        """Slack shows the incident as it was when its `sync_seq` was `seen`: needs_sync is cleared, unless a change
        was made since (by any process: `crashloop ack`, another replica), which leaves it marked for the next pass.
        One conditional statement, so no change can slip in between the check and the clear."""
        values = {**values, "updated_at": utcnow()}
        values["needs_sync"] = case((incidents.c.sync_seq == seen, 0), else_=incidents.c.needs_sync)
        async with self.begin() as conn:
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


def _marked(values: dict[str, Any]) -> dict[str, Any]:
    """`values` of an incident update with what every update implies: the time, the open marker of a resolved
    incident, and `sync_seq` bumped when the change is one Slack must show (needs_sync=1)."""
    values = {"updated_at": utcnow(), **values}
    if values.get("status") == "resolved":
        values["open_marker"] = None
    if values.get("needs_sync") == 1:
        values["sync_seq"] = incidents.c.sync_seq + 1
    return values


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
