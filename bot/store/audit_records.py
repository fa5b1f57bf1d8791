"""What an audit row holds, as the project's own dataclasses, and the exact values its hash is computed over.

Kept apart from the table and the appender so the verifier (bot/store/audit_verify.py) and the appender agree on
one definition of "the hashed values of a row" without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

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
    "acknowledged",  # someone took ownership of an incident ("I'm on it")
    "taken_over",  # someone took an owned incident over from its owner
    "outcome_unknown",  # a PATCH whose answer was lost and whose re-read failed; `applied`/`failed` settle it
)
OUTCOMES = ("ok", "refused", "error")
GENESIS = "0" * 64

# How `audit verify` names what is wrong with the first broken row (see bot/store/audit_verify.py).
CASES = (
    "edited",  # a row's content no longer matches its keyed hash, its successor still links to it
    "missing",  # a row follows a row that is not in the table: rows were deleted before it
    "inserted",  # a row that is not keyed sits where its successor's keyed link says nothing was
    "reordered",  # an intact row sits at the wrong place (it follows a later row), or its seq was changed
    "re-chained",  # hashes were recomputed without the key (a row and the link to it both changed)
    "unknown-key",  # a row names a key id this verifier does not hold
    "unkeyed",  # the newest rows carry no keyed hash and nothing keyed seals them
    "head-cut",  # the table ends before the newest signed checkpoint does: newest rows deleted
    "checkpoint",  # the checkpoint given is not signed by a key this verifier holds, or cannot be read
)


@dataclass(frozen=True)
class AuditEvent:
    """One step of a change (or of an incident's ownership): who did what to which workload, and what came of it."""

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
    """An event as stored: its place in the chain, when it was written and which key hashed it (None: pre-0007)."""

    seq: int
    at: datetime
    event: AuditEvent
    prev_hash: str
    hash: str
    key_id: str | None = None


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of walking the chain: `checked` rows were intact before `broken_seq` (if any).

    `case` is one of CASES when the log is broken.
    """

    ok: bool
    checked: int
    broken_seq: int | None
    reason: str | None
    case: str | None = None
    unkeyed_rows: int = 0  # pre-0007 rows, trusted only because a keyed row seals them


def event_values(event: AuditEvent) -> dict[str, Any]:
    return {f.name: getattr(event, f.name) for f in fields(event)}


def keyed_values(record: AuditRecord) -> dict[str, Any]:
    """What a keyed row's HMAC covers besides prev_hash: every column but seq, prev_hash and hash."""
    return {**event_values(record.event), "at": iso(record.at), "key_id": record.key_id}


def legacy_values(record: AuditRecord) -> dict[str, Any]:
    """What a pre-0007 row's SHA-256 covers besides prev_hash: every column of 0002, seq included."""
    return {**event_values(record.event), "seq": record.seq, "at": iso(record.at)}


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")
