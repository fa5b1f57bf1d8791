"""Silences the bot created in Alertmanager: the workload, the exact matchers, until when, by whom, for which incident.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import RedactedJSON, RedactedString, RedactedText, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "silences",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("workload", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", name="fk_silences_incident_id_incidents")),
        sa.Column("change_id", sa.String(32), sa.ForeignKey("changes.id", name="fk_silences_change_id_changes")),
        sa.Column("matchers", RedactedJSON, nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("ends_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_by_name", RedactedString(200)),
        sa.Column("comment", RedactedText),
        sa.Column("expired_at", UTCDateTime),
        sa.Column("expired_by", sa.String(64)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_silences"),
    )
    op.create_index("ix_silences_environment_namespace_workload", "silences", ["environment", "namespace", "workload"])


def downgrade() -> None:
    op.drop_index("ix_silences_environment_namespace_workload", table_name="silences")
    op.drop_table("silences")
