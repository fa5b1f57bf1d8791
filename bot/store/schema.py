"""Table definitions — the shape the Alembic migrations in `migrations/versions/` create.

Times are stored in UTC; `UTCDateTime` gives them back timezone-aware on every backend (SQLite keeps none).

Every free-text and JSON column is `RedactedText`/`RedactedJSON`: the secret patterns of `bot.core.redact` are
applied when a value is bound, so no code path can write a secret into the database in clear, whatever it forgot.
Only the strings are rewritten (keys and structure kept), so stored parameters still mean what they meant; the
redaction is idempotent, so a value redacted (and hashed, as the audit log does) before it is written is stored
exactly as hashed. `changes.sealed_value` is the one text column left as is: it is ciphertext.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from bot.core.redact import redact, redact_strings

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: use UTC-aware datetimes")
        return value.astimezone(UTC) if dialect.name == "postgresql" else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)


class RedactedText(TypeDecorator[str]):
    """Text whose secrets are redacted before it is written."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else redact(value)


class RedactedString(TypeDecorator[str]):
    """A short string column (names, reasons) whose secrets are redacted before it is written."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else redact(value)


class RedactedJSON(TypeDecorator[Any]):
    """JSON whose strings are redacted before it is written."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return redact_strings(value)


incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("environment", String(64), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("workload", String(253), nullable=False),
    Column("kind", String(32)),
    Column("status", String(16), nullable=False),  # open | resolved
    Column("open_marker", Integer),  # 1 while open, NULL once resolved: at most one open incident per workload
    Column("opened_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Column("last_alert_at", UTCDateTime),
    Column("alert_count", Integer, nullable=False, default=0),
    Column("firing", RedactedJSON, nullable=False, default=list),  # fingerprints currently firing
    Column("alertnames", RedactedJSON, nullable=False, default=list),
    Column("channel", String(32)),
    Column("root_ts", String(32)),
    Column("branch", String(32)),
    Column("reason", RedactedString(64)),
    Column("exit_code", Integer),
    Column("restarts", Integer),
    Column("pod", String(253)),
    Column("container", String(253)),
    Column("summary", RedactedText),
    Column("finding_digest", String(64)),  # what the thread was last told, to post only what is new
    Column("last_triage_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
    Column("slack_error", RedactedText),
    Column("message", RedactedJSON),  # the triage body (blocks, text, metadata) the root message shows
    Column("pending_replies", RedactedJSON, nullable=False, default=list),  # thread replies / files not yet posted
    Column("needs_sync", Integer, nullable=False, default=0),  # 1: Slack does not show the incident's state yet
    Column("sync_attempts", Integer, nullable=False, default=0),
    Column("next_sync_at", UTCDateTime),
    Column("owner_id", String(255)),  # who said "I'm on it": a Slack user id or `cli:<user>`
    Column("owner_name", RedactedString(255)),
    Column("owned_since", UTCDateTime),
    # bumped by every change Slack must show (with needs_sync=1): a sync clears needs_sync only if it is unchanged
    Column("sync_seq", Integer, nullable=False, default=0, server_default="0"),
    UniqueConstraint("environment", "namespace", "workload", "open_marker"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(64), nullable=False, unique=True),
    Column("source", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("alertname", RedactedString(200), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("starts_at", UTCDateTime),
    Column("ends_at", UTCDateTime),
    Column("labels", RedactedJSON, nullable=False),
    Column("annotations", RedactedJSON, nullable=False),
    Column("generator_url", RedactedText),
    Column("group_key", RedactedText),
    Column("sample_log", RedactedText),
    Column("received_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),  # pending | processed | unroutable | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    Column("claimed_by", String(32)),  # the instance holding the claim: a dead one's claims are taken over
    Column("error", RedactedText),
    Column("environment", String(64)),
    Column("incident_id", Integer, ForeignKey("incidents.id")),
    Column("processed_at", UTCDateTime),
    Index("ix_alerts_state_next_attempt_at", "state", "next_attempt_at"),
    Index("ix_alerts_claimed_by", "claimed_by"),
)
Index("ix_incidents_needs_sync_next_sync_at", incidents.c.needs_sync, incidents.c.next_sync_at)

proposals = Table(
    "proposals",
    metadata,
    Column("id", String(32), primary_key=True),  # opaque, random: the only thing a Slack button carries
    Column("incident_id", Integer, ForeignKey("incidents.id")),
    Column("environment", String(64), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("workload", String(253), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("remedy", String(32), nullable=False),
    Column("params", RedactedJSON, nullable=False),
    Column("resource_version", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Column("used_by", String(32)),
    Column("generation", Integer),  # the workload's metadata.generation seen at triage: a later one means stale
)

changes = Table(
    "changes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("proposal_id", String(32), ForeignKey("proposals.id"), unique=True),
    Column("incident_id", Integer, ForeignKey("incidents.id")),
    Column("environment", String(64), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("workload", String(253), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("remedy", String(32), nullable=False),
    Column("params", RedactedJSON, nullable=False),  # a literal env value is only in sealed_value
    Column("sealed_value", Text),  # Fernet token of a literal set_env value
    Column("generation", Integer),
    Column("state", String(24), nullable=False),
    Column("active_marker", Integer),  # 1 until the change ends: one change per workload at a time
    Column("requested_by", String(64), nullable=False),
    Column("requested_by_name", RedactedString(200)),
    Column("approved_by", String(64)),
    Column("approved_by_name", RedactedString(200)),
    Column("summary", RedactedText),
    Column("diff", RedactedText),
    Column("detail", RedactedText),
    Column("channel", String(32)),
    Column("thread_ts", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("applied_by", String(32)),  # the instance that moved it to `applying` (see `instances`)
    Column("held_patch", Text),  # the patch in flight while `applying`, sealed (bot/guard/held.py)
    UniqueConstraint("environment", "namespace", "workload", "active_marker"),
)

silences = Table(
    "silences",
    metadata,
    Column("id", String(64), primary_key=True),  # Alertmanager's silence id
    Column("environment", String(64), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("workload", String(253), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("incident_id", Integer, ForeignKey("incidents.id")),
    Column("change_id", String(32), ForeignKey("changes.id")),  # the guarded change that created it
    Column("matchers", RedactedJSON, nullable=False),  # exactly what was sent and read back
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_by_name", RedactedString(200)),
    Column("comment", RedactedText),
    Column("expired_at", UTCDateTime),  # set by Unsilence (the silence's own end is `ends_at`)
    Column("expired_by", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_silences_environment_namespace_workload", "environment", "namespace", "workload"),
)

instances = Table(
    "instances",
    metadata,
    Column("id", String(32), primary_key=True),  # random per process start
    Column("hostname", String(253), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
)
