"""Rows as the rest of the bot sees them: plain frozen dataclasses, no SQLAlchemy objects leaking out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runbooks.alerts import Alert


@dataclass(frozen=True)
class AlertRow:
    """A stored alert and where it is in processing."""

    id: int
    alert: Alert
    received_at: datetime
    state: str
    attempts: int
    environment: str | None
    incident_id: int | None
    error: str | None


@dataclass(frozen=True)
class IncidentRow:
    """One incident: a crash-looping workload of one environment, with its Slack root message."""

    id: int
    environment: str
    namespace: str
    workload: str
    kind: str | None
    status: str
    opened_at: datetime
    resolved_at: datetime | None
    last_alert_at: datetime | None
    alert_count: int
    firing: list[str] = field(default_factory=list)
    alertnames: list[str] = field(default_factory=list)
    channel: str | None = None
    root_ts: str | None = None
    branch: str | None = None
    reason: str | None = None
    exit_code: int | None = None
    restarts: int | None = None
    pod: str | None = None
    container: str | None = None
    summary: str | None = None
    finding_digest: str | None = None
    last_triage_at: datetime | None = None
    updated_at: datetime | None = None
    slack_error: str | None = None
    message: dict[str, Any] | None = None
    pending_replies: list[dict[str, Any]] = field(default_factory=list)
    needs_sync: int = 0
    sync_attempts: int = 0
    next_sync_at: datetime | None = None
    owner_id: str | None = None  # who acknowledged ("I'm on it") or took it over, since `owned_since`
    owner_name: str | None = None
    owned_since: datetime | None = None
    sync_seq: int = 0  # bumped by every change Slack must show: a sync clears needs_sync only if it is unchanged

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.environment, self.namespace, self.workload)


@dataclass(frozen=True)
class ProposalRow:
    """A remedy the bot proposed, behind an opaque id (what a Slack button carries)."""

    id: str
    incident_id: int | None
    environment: str
    namespace: str
    workload: str
    kind: str
    remedy: str
    params: dict[str, Any]
    resource_version: str | None
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    used_by: str | None = None
    generation: int | None = None
