"""Alerts as received, incidents with their Slack root message, remedy proposals.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("workload", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("open_marker", sa.Integer),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("resolved_at", UTCDateTime),
        sa.Column("last_alert_at", UTCDateTime),
        sa.Column("alert_count", sa.Integer, nullable=False),
        sa.Column("firing", sa.JSON, nullable=False),
        sa.Column("alertnames", sa.JSON, nullable=False),
        sa.Column("channel", sa.String(32)),
        sa.Column("root_ts", sa.String(32)),
        sa.Column("branch", sa.String(32)),
        sa.Column("reason", sa.String(64)),
        sa.Column("exit_code", sa.Integer),
        sa.Column("restarts", sa.Integer),
        sa.Column("pod", sa.String(253)),
        sa.Column("container", sa.String(253)),
        sa.Column("summary", sa.Text),
        sa.Column("finding_digest", sa.String(64)),
        sa.Column("last_triage_at", UTCDateTime),
        sa.Column("updated_at", UTCDateTime),
        sa.Column("slack_error", sa.Text),
        sa.Column("message", sa.JSON),
        sa.Column("pending_replies", sa.JSON, nullable=False),
        sa.Column("needs_sync", sa.Integer, nullable=False),
        sa.Column("sync_attempts", sa.Integer, nullable=False),
        sa.Column("next_sync_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_incidents"),
        sa.UniqueConstraint(
            "environment",
            "namespace",
            "workload",
            "open_marker",
            name="uq_incidents_environment_namespace_workload_open_marker",
        ),
    )
    op.create_index("ix_incidents_needs_sync_next_sync_at", "incidents", ["needs_sync", "next_sync_at"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dedupe_key", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("alertname", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("starts_at", UTCDateTime),
        sa.Column("ends_at", UTCDateTime),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("annotations", sa.JSON, nullable=False),
        sa.Column("generator_url", sa.Text),
        sa.Column("group_key", sa.Text),
        sa.Column("sample_log", sa.Text),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("claimed_until", UTCDateTime),
        sa.Column("error", sa.Text),
        sa.Column("environment", sa.String(64)),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", name="fk_alerts_incident_id_incidents")),
        sa.Column("processed_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("dedupe_key", name="uq_alerts_dedupe_key"),
    )
    op.create_index("ix_alerts_state_next_attempt_at", "alerts", ["state", "next_attempt_at"])
    op.create_table(
        "proposals",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", name="fk_proposals_incident_id_incidents")),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("workload", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("remedy", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("resource_version", sa.String(64)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime),
        sa.Column("used_by", sa.String(32)),
        sa.PrimaryKeyConstraint("id", name="pk_proposals"),
    )


def downgrade() -> None:
    op.drop_table("proposals")
    op.drop_index("ix_alerts_state_next_attempt_at", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_incidents_needs_sync_next_sync_at", table_name="incidents")
    op.drop_table("incidents")
