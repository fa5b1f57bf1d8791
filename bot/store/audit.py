"""The audit log: every step of a guarded change to a workload, in a table that cannot be quietly edited.

Someone who asks "who restarted payments-api at 03:12, and what did the bot send to Kubernetes?" must get an
answer they can trust, even when the database is shared with people who could edit it. So rows are only ever
appended (there is no update or delete here; on PostgreSQL triggers refuse them too, see migration 0002) and
every row is hash-chained to the one before it:

    hash = sha256(prev_hash + canonical_json(every column but prev_hash and hash)).hexdigest()

where the first row's prev_hash is 64 zeros and canonical JSON is `json.dumps(..., sort_keys=True,
separators=(",", ":"), ensure_ascii=False)` with `at` as an ISO-8601 UTC string with microseconds. `verify`
recomputes the chain and names the first row that was edited, or that does not follow its predecessor
(a row deleted or moved). Rows cut from the end of the log cannot be detected from the table alone.

Several replicas append to one chain: the next seq and prev_hash are read inside the inserting transaction,
which first takes a lock (PostgreSQL: a transaction-level advisory lock; SQLite: BEGIN IMMEDIATE) so appenders
queue; UNIQUE(seq) and UNIQUE(prev_hash) make a fork impossible even without it, and a losing appender retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Index,
    Integer,
    Row,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store import StoreUnavailable
from bot.store.schema import UTCDateTime, metadata

ACTIONS = (
    "requested",
    "denied",
    "previewed",
    "approved",
    "rejected",
    "applied",
    "failed",
    "verified",
    "not_recovered",
)
OUTCOMES = ("ok", "refused", "error")
GENESIS = "0" * 64
MASK = "••••"
# Keys whose values never reach the log: these names, or snake/kebab-case names with one of them as a word
# (DB_PASSWORD, api-token). The log cannot be scrubbed afterwards, so a secret written once stays forever.
SECRET_KEYS = frozenset({"value", "literal", "password", "token", "secret"})
SECRET_WORDS = frozenset({"password", "token", "secret"})
APPEND_ATTEMPTS = 5
VERIFY_BATCH = 1000
# pg_advisory_xact_lock key every appender of every replica queues on ("audit" in ASCII).
PG_LOCK_KEY = 0x6175646974

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("action", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("actor_id", String(255), nullable=False),
    Column("actor_name", String(255)),
    Column("environment", String(64), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("workload", String(253), nullable=False),
    Column("remedy", String(64)),
    Column("params", JSON, nullable=False),
    Column("diff", Text),
    Column("detail", Text),
    Column("incident_id", Integer),  # no foreign key: the log outlives whatever it mentions
    Column("slack_channel", String(32)),
    Column("slack_ts", String(32)),
    Column("proposal_id", String(32)),
    Column("change_id", String(64)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("prev_hash"),  # two rows following the same row would be a fork
    CheckConstraint("seq >= 1", name="ck_audit_log_seq"),
    CheckConstraint(f"action IN ({', '.join(repr(a) for a in ACTIONS)})", name="ck_audit_log_action"),
    CheckConstraint(f"outcome IN ({', '.join(repr(o) for o in OUTCOMES)})", name="ck_audit_log_outcome"),
)
Index(
    "ix_audit_log_environment_namespace_workload_seq",
    audit_log.c.environment,
    audit_log.c.namespace,
    audit_log.c.workload,
    audit_log.c.seq,
)


@dataclass(frozen=True)
class AuditEvent:
    """One step of a change: who did what to which workload, and what came of it."""

    action: str  # one of ACTIONS
    outcome: str  # one of OUTCOMES
    actor_id: str  # Slack user id, "cli:<os user>" or "bot"
    actor_name: str | None
    environment: str
    namespace: str
    workload: str
    remedy: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # secret-looking keys are masked on append
    diff: str | None = None
    detail: str | None = None  # the Kubernetes response or error, the reason of a refusal
    incident_id: int | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None
    proposal_id: str | None = None
    change_id: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown audit action {self.action!r}; one of {', '.join(ACTIONS)}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown audit outcome {self.outcome!r}; one of {', '.join(OUTCOMES)}")


@dataclass(frozen=True)
class AuditRecord:
    """An event as stored: its place in the chain and when it was written."""

    seq: int
    at: datetime
    event: AuditEvent
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain: `checked` rows were intact before `broken_seq` (if any)."""

    ok: bool
    checked: int
    broken_seq: int | None
    reason: str | None


class AuditLog:
    """Append to, read and verify the audit log on the bot's engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def append(self, event: AuditEvent, at: datetime | None = None) -> AuditRecord:
        """Write `event` (params masked) as the next row of the chain; committed when this returns.

        Raises StoreUnavailable when the row could not be written: the caller must not act as if it was.
        """
        when = _utc(at or datetime.now(UTC))
        stored = replace(event, params=mask_params(_json_safe(event.params)))
        for attempt in range(1, APPEND_ATTEMPTS + 1):
            try:
                with _unavailable():
                    return await self._append_once(stored, when)
            except StoreUnavailable as exc:
                if attempt == APPEND_ATTEMPTS or not isinstance(exc.__cause__, IntegrityError):
                    raise
            await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def list(
        self,
        *,
        environment: str | None = None,
        workload: str | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[AuditRecord]:
        """The newest `limit` records matching the filters, oldest first."""
        query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
        if environment is not None:
            query = query.where(audit_log.c.environment == environment)
        if workload is not None:
            query = query.where(audit_log.c.workload == workload)
        if since is not None:
            query = query.where(audit_log.c.at >= _utc(since))
        with _unavailable():
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return [_record(row) for row in reversed(rows)]

    async def verify(self) -> VerifyResult:
        """Walk the whole table in seq order; the first row that was edited or does not follow its predecessor."""
        checked = 0
        previous: AuditRecord | None = None
        with _unavailable():
            async for record in self._all_records():
                reason = chain_break(record, previous)
                if reason is not None:
                    return VerifyResult(ok=False, checked=checked, broken_seq=record.seq, reason=reason)
                checked += 1
                previous = record
        return VerifyResult(ok=True, checked=checked, broken_seq=None, reason=None)

    async def _append_once(self, event: AuditEvent, at: datetime) -> AuditRecord:
        async with self._engine.connect() as conn, _writing(conn):
            last = (
                await conn.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1))
            ).first()
            seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS)
            values = _hashed_values(seq, at, event)
            digest = chain_hash(prev_hash, values)
            await conn.execute(
                audit_log.insert().values(**_event_values(event), seq=seq, at=at, prev_hash=prev_hash, hash=digest)
            )
        return AuditRecord(seq=seq, at=at, event=event, prev_hash=prev_hash, hash=digest)

    async def _all_records(self) -> AsyncIterator[AuditRecord]:
        """Every row in seq order, a batch at a time (keyset pagination: no long-lived cursor)."""
        after: int | None = None
        async with self._engine.connect() as conn:
            while True:
                query = select(audit_log).order_by(audit_log.c.seq).limit(VERIFY_BATCH)
                if after is not None:
                    query = query.where(audit_log.c.seq > after)
                rows = (await conn.execute(query)).all()
                for row in rows:
                    yield _record(row)
                if len(rows) < VERIFY_BATCH:
                    return
                after = rows[-1].seq


def mask_params(value: Any) -> Any:
    """`value` with the value of every secret-looking key replaced by MASK, at any depth."""
    if isinstance(value, dict):
        return {k: MASK if _is_secret_key(k) else mask_params(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_params(v) for v in value]
    return value


def chain_hash(prev_hash: str, values: dict[str, Any]) -> str:
    """The hash of a row: sha256 of the previous row's hash followed by the row's canonical JSON."""
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def chain_break(record: AuditRecord, previous: AuditRecord | None) -> str | None:
    """Why `record` breaks the chain after `previous` (None: the start of the log), or None when it does not."""
    if chain_hash(record.prev_hash, _hashed_values(record.seq, record.at, record.event)) != record.hash:
        return f"row {record.seq} was edited"
    expected = (previous.seq + 1, previous.hash) if previous else (1, GENESIS)
    if (record.seq, record.prev_hash) != expected:
        before = f"row {previous.seq}" if previous else "the start of the log"
        return f"row {record.seq} does not follow {before} (deleted or reordered)"
    return None


def record_to_json(r: AuditRecord) -> dict[str, Any]:
    """A record as plain JSON (CLI output, exports)."""
    e = r.event
    return {
        "seq": r.seq,
        "at": r.at.isoformat(),
        "actor": e.actor_id,
        "actor_name": e.actor_name,
        "action": e.action,
        "outcome": e.outcome,
        "environment": e.environment,
        "namespace": e.namespace,
        "workload": e.workload,
        "remedy": e.remedy,
        "params": e.params,
        "detail": e.detail,
        "diff": e.diff,
        "incident_id": e.incident_id,
        "slack_channel": e.slack_channel,
        "slack_ts": e.slack_ts,
        "proposal_id": e.proposal_id,
        "change_id": e.change_id,
        "prev_hash": r.prev_hash,
        "hash": r.hash,
    }


def _is_secret_key(key: Any) -> bool:
    name = str(key).lower()
    return name in SECRET_KEYS or not SECRET_WORDS.isdisjoint(re.split(r"[^a-z0-9]+", name))


def _json_safe(params: dict[str, Any]) -> dict[str, Any]:
    """Params as they will read back from a JSON column (tuples become lists, odd values strings)."""
    safe: dict[str, Any] = json.loads(json.dumps(params, default=str, allow_nan=False))
    return safe


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("naive datetime given to the audit log: use UTC-aware datetimes")
    return at.astimezone(UTC)


def _event_values(event: AuditEvent) -> dict[str, Any]:
    return {f.name: getattr(event, f.name) for f in fields(event)}


def _hashed_values(seq: int, at: datetime, event: AuditEvent) -> dict[str, Any]:
    """Every column of the row but prev_hash (which prefixes the hashed text) and hash."""
    return {**_event_values(event), "seq": seq, "at": at.astimezone(UTC).isoformat(timespec="microseconds")}


def _record(row: Row[Any]) -> AuditRecord:
    m = row._mapping
    event = AuditEvent(**{f.name: m[f.name] for f in fields(AuditEvent)})
    return AuditRecord(seq=m["seq"], at=m["at"], event=event, prev_hash=m["prev_hash"], hash=m["hash"])


@asynccontextmanager
async def _writing(conn: AsyncConnection) -> AsyncIterator[None]:
    """A transaction that holds the append lock, so appenders of every replica queue instead of colliding."""
    async with conn.begin():
        if conn.dialect.name == "postgresql":
            await conn.execute(select(func.pg_advisory_xact_lock(PG_LOCK_KEY)))
        elif conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("BEGIN IMMEDIATE")  # pysqlite would only begin at the INSERT
        yield


@contextmanager
def _unavailable() -> Iterator[None]:
    """Database errors as StoreUnavailable: code outside the store does not handle SQLAlchemy exceptions."""
    try:
        yield
    except (SQLAlchemyError, OSError) as exc:
        raise StoreUnavailable(f"audit log: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc
