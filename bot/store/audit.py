"""The audit log: every step of a guarded change to a workload, in a table that cannot be quietly rewritten.

Someone who asks "who restarted payments-api at 03:12, and what did the bot send to Kubernetes?" must get an
answer they can trust, even when the database is shared with people who could edit it. Three layers:

- rows are only ever appended (there is no update or delete here; on PostgreSQL triggers refuse them, and the
  service's own role may only INSERT and SELECT this table: `crashloop db grant-roles`, bot/store/pg_roles.py);
- every row is chained to the one before it with an HMAC keyed by CRASHLOOP_AUDIT_KEY, which the database never
  sees (bot/store/audit_chain.py): a row cannot be edited, forged or re-chained without the key;
- after every append a signed checkpoint of the head (count, hash) goes to the JSON log and to the operator's
  sinks (bot/store/audit_checkpoint.py), so cutting the newest rows is detected too.

`verify` (bot/store/audit_verify.py) names the first broken row and what was done to it. What an attacker who
holds both the key and the database can still do is written down in the README's "Audit log" section.

Several replicas append to one chain: the next seq and prev_hash are read inside the inserting transaction,
which first takes a lock (PostgreSQL: a transaction-level advisory lock; SQLite: BEGIN IMMEDIATE) so appenders
queue; UNIQUE(seq) and UNIQUE(prev_hash) make a fork impossible even without it, and a losing appender retries.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    CheckConstraint,
    Column,
    Index,
    Integer,
    Row,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.redact import redact_strings
from bot.core.settings import Settings, load_settings
from bot.store import StoreUnavailable
from bot.store.audit_chain import AuditKey, AuditKeyError, AuditKeyring, keyed_hash
from bot.store.audit_checkpoint import Checkpoint, CheckpointSink, FileSink, check_against, make_checkpoint, publish
from bot.store.audit_records import (
    ACTIONS,
    CASES,
    GENESIS,
    OUTCOMES,
    AuditEvent,
    AuditRecord,
    VerifyResult,
    event_values,
    keyed_values,
)
from bot.store.audit_verify import walk
from bot.store.schema import RedactedJSON, RedactedString, RedactedText, UTCDateTime, metadata

__all__ = [
    "ACTIONS",
    "CASES",
    "GENESIS",
    "MASK",
    "OUTCOMES",
    "AuditEvent",
    "AuditKeyError",
    "AuditLog",
    "AuditRecord",
    "VerifyResult",
    "audit_log",
    "audit_log_for",
    "keyring_from_settings",
    "mask_params",
    "record_to_json",
]

T = TypeVar("T")
# work done in the audit row's transaction (`AuditLog.append_with`): its result, or None for nothing to record
Write = Callable[[AsyncConnection], Awaitable[T | None]]

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
    Column("actor_name", RedactedString(255)),
    Column("environment", String(64), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("workload", String(253), nullable=False),
    Column("remedy", String(64)),
    Column("params", RedactedJSON, nullable=False),
    Column("diff", RedactedText),
    Column("detail", RedactedText),
    Column("incident_id", Integer),  # no foreign key: the log outlives whatever it mentions
    Column("slack_channel", String(32)),
    Column("slack_ts", String(32)),
    Column("proposal_id", String(32)),
    Column("change_id", String(64)),
    Column("key_id", String(16)),  # which audit key hashed the row; NULL: a pre-0007 plain SHA-256 row
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


class AuditLog:
    """Append to, read and verify the audit log on the bot's engine (SQLite or PostgreSQL).

    `keyring` and `sinks` come from the composition root (`audit_log_for`); left out, they are read from the
    environment (CRASHLOOP_AUDIT_KEY, CRASHLOOP_AUDIT_RETIRED_KEYS, CRASHLOOP_AUDIT_CHECKPOINT_FILE) when first
    needed, as the CLI commands do.
    Listing needs no key; appending and verifying raise AuditKeyError without a usable one.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        keyring: AuditKeyring | None = None,
        sinks: Sequence[CheckpointSink] | None = None,
    ) -> None:
        self._engine = engine
        self._keyring = keyring
        self._sinks = sinks

    @property
    def keyring(self) -> AuditKeyring:
        if self._keyring is None:
            self._keyring = keyring_from_settings()
        return self._keyring

    @property
    def sinks(self) -> Sequence[CheckpointSink]:
        if self._sinks is None:
            self._sinks = sinks_from_settings()
        return self._sinks

    async def append(self, event: AuditEvent, at: datetime | None = None) -> AuditRecord:
        """Write `event` (params masked) as the next row of the chain, then publish a checkpoint of the head.

        Raises StoreUnavailable when the row could not be written: the caller must not act as if it was.
        """
        when = _utc(at or datetime.now(UTC))
        key = self.keyring.current
        record, _ = await self._append_retrying(_redacted(event), when, key)
        await publish(make_checkpoint(key, count=record.seq, head=record.hash, at=datetime.now(UTC)), self.sinks)
        return record

    async def append_with(self, event: AuditEvent, write: Write[T]) -> T | None:
        """Run `write` and append `event` in ONE transaction: both are committed, or neither is. `write` returning
        None means there is nothing to record (e.g. its conditional UPDATE matched no row): nothing is committed
        and None is returned. A database error, or a cancellation, leaves nothing behind either.

        Raises StoreUnavailable when the database refused (nothing was written)."""
        when = _utc(datetime.now(UTC))
        key = self.keyring.current
        try:
            record, written = await self._append_retrying(_redacted(event), when, key, write)
        except _NothingToRecord:
            return None
        await publish(make_checkpoint(key, count=record.seq, head=record.hash, at=datetime.now(UTC)), self.sinks)
        return written

    async def _append_retrying(
        self, event: AuditEvent, at: datetime, key: AuditKey, write: Write[T] | None = None
    ) -> tuple[AuditRecord, T | None]:
        """Append; a losing race with another replica (a UNIQUE conflict) is retried after a short pause."""
        for attempt in range(1, APPEND_ATTEMPTS + 1):
            try:
                with _unavailable():
                    return await self._append_once(event, at, key, write)
            except StoreUnavailable as exc:
                if attempt == APPEND_ATTEMPTS or not isinstance(exc.__cause__, IntegrityError):
                    raise
            await asyncio.sleep(random.uniform(0.005, 0.02) * attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def checkpoint(self) -> Checkpoint:
        """Sign and publish the current head now (`crashloop audit checkpoint`, e.g. from a CronJob)."""
        with _unavailable():
            async with self._engine.connect() as conn:
                head = (await conn.execute(_head_query())).first()
        count, digest = (head.seq, head.hash) if head else (0, GENESIS)
        checkpoint = make_checkpoint(self.keyring.current, count=count, head=digest, at=datetime.now(UTC))
        await publish(checkpoint, self.sinks)
        return checkpoint

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

    async def verify(self, checkpoints: Sequence[Checkpoint] | None = None) -> VerifyResult:
        """Walk the whole table in seq order; with `checkpoints` (read from outside the table), also detect a cut
        or rewritten head. The result names the first broken row and the case (one of CASES)."""
        keyring = self.keyring
        with _unavailable():
            async with self._engine.connect() as conn:
                result = await walk(self._all_records(conn), keyring, lambda h: self._seq_of(conn, h))
                if checkpoints is None:
                    return result
                return await check_against(result, checkpoints, keyring, lambda seqs: self._hashes_at(conn, seqs))

    async def _append_once(
        self, event: AuditEvent, at: datetime, key: AuditKey, write: Write[T] | None
    ) -> tuple[AuditRecord, T | None]:
        async with self._engine.connect() as conn, _writing(conn):
            written = None if write is None else await write(conn)
            if write is not None and written is None:
                raise _NothingToRecord  # rolls the transaction back
            last = (await conn.execute(_head_query())).first()
            seq, prev_hash = (last.seq + 1, last.hash) if last else (1, GENESIS)
            unhashed = AuditRecord(seq=seq, at=at, event=event, prev_hash=prev_hash, hash="", key_id=key.key_id)
            digest = keyed_hash(key, prev_hash, keyed_values(unhashed))
            await conn.execute(
                audit_log.insert().values(
                    **event_values(event), seq=seq, at=at, key_id=key.key_id, prev_hash=prev_hash, hash=digest
                )
            )
        return replace(unhashed, hash=digest), written

    async def _all_records(self, conn: AsyncConnection) -> AsyncIterator[AuditRecord]:
        """Every row in seq order, a batch at a time (keyset pagination: no long-lived cursor)."""
        after: int | None = None
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

    @staticmethod
    async def _seq_of(conn: AsyncConnection, digest: str) -> int | None:
        seq: int | None = (await conn.execute(select(audit_log.c.seq).where(audit_log.c.hash == digest))).scalar()
        return seq

    @staticmethod
    async def _hashes_at(conn: AsyncConnection, seqs: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        for start in range(0, len(seqs), VERIFY_BATCH):
            query = select(audit_log.c.seq, audit_log.c.hash).where(
                audit_log.c.seq.in_(seqs[start : start + VERIFY_BATCH])
            )
            found.update({row.seq: row.hash for row in await conn.execute(query)})
        return found


class _NothingToRecord(Exception):
    """`append_with`'s write found nothing to do: its transaction is rolled back, no row is appended."""


def audit_log_for(engine: AsyncEngine, settings: Settings) -> AuditLog:
    """The audit log the composition root builds: the key and checkpoint file of `settings` (AuditKeyError now,
    not at the first change, when the key is missing)."""
    return AuditLog(engine, keyring=keyring_from_settings(settings), sinks=sinks_from_settings(settings))


def keyring_from_settings(settings: Settings | None = None) -> AuditKeyring:
    """The keyring from CRASHLOOP_AUDIT_KEY (+ CRASHLOOP_AUDIT_RETIRED_KEYS), env vars or secret files."""
    current, retired = (settings or load_settings()).audit_secrets()
    if current is None:
        raise AuditKeyError(
            "set CRASHLOOP_AUDIT_KEY (an env var, or a file in $CRASHLOOP_SECRETS_DIR; e.g. `openssl rand -hex 32`): "
            "the audit log is keyed with it"
        )
    try:
        return AuditKeyring.from_secrets(current, retired)
    except ValueError as exc:
        raise AuditKeyError(str(exc)) from None


def sinks_from_settings(settings: Settings | None = None) -> list[CheckpointSink]:
    """The checkpoint file the operator chose (CRASHLOOP_AUDIT_CHECKPOINT_FILE), if any."""
    path = (settings or load_settings()).crashloop_audit_checkpoint_file
    return [FileSink(path)] if path else []


def mask_params(value: Any) -> Any:
    """`value` with the value of every secret-looking key replaced by MASK, at any depth."""
    if isinstance(value, dict):
        return {k: MASK if _is_secret_key(k) else mask_params(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_params(v) for v in value]
    return value


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
        "key_id": r.key_id,
        "prev_hash": r.prev_hash,
        "hash": r.hash,
    }


def _head_query() -> Any:
    return select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)


def _is_secret_key(key: Any) -> bool:
    name = str(key).lower()
    return name in SECRET_KEYS or not SECRET_WORDS.isdisjoint(re.split(r"[^a-z0-9]+", name))


def _redacted(event: AuditEvent) -> AuditEvent:
    """`event` as its row will be written — params masked, secrets in every text redacted — so the hash covers
    exactly what is stored (the columns' own redaction is idempotent and leaves it unchanged)."""
    return replace(
        event,
        params=redact_strings(mask_params(_json_safe(event.params))),
        actor_name=redact_strings(event.actor_name),
        diff=redact_strings(event.diff),
        detail=redact_strings(event.detail),
    )


def _json_safe(params: dict[str, Any]) -> dict[str, Any]:
    """Params as they will read back from a JSON column (tuples become lists, odd values strings)."""
    safe: dict[str, Any] = json.loads(json.dumps(params, default=str, allow_nan=False))
    return safe


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("naive datetime given to the audit log: use UTC-aware datetimes")
    return at.astimezone(UTC)


def _record(row: Row[Any]) -> AuditRecord:
    m = row._mapping
    event = AuditEvent(**{f.name: m[f.name] for f in fields(AuditEvent)})
    return AuditRecord(
        seq=m["seq"], at=m["at"], event=event, prev_hash=m["prev_hash"], hash=m["hash"], key_id=m["key_id"]
    )


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
