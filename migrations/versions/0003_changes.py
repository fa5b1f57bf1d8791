"""Guarded changes (one active per workload) and the generation a proposal was made against.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("generation", sa.Integer))
    op.create_table(
        "changes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("proposal_id", sa.String(32), sa.ForeignKey("proposals.id", name="fk_changes_proposal_id_proposals")),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id", name="fk_changes_incident_id_incidents")),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("workload", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("remedy", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("sealed_value", sa.Text),
        sa.Column("generation", sa.Integer),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("active_marker", sa.Integer),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_by_name", sa.String(200)),
        sa.Column("approved_by", sa.String(64)),
        sa.Column("approved_by_name", sa.String(200)),
        sa.Column("summary", sa.Text),
        sa.Column("diff", sa.Text),
        sa.Column("detail", sa.Text),
        sa.Column("channel", sa.String(32)),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_changes"),
        sa.UniqueConstraint("proposal_id", name="uq_changes_proposal_id"),
        sa.UniqueConstraint(
            "environment",
            "namespace",
            "workload",
            "active_marker",
            name="uq_changes_environment_namespace_workload_active_marker",
        ),
    )


def downgrade() -> None:
    op.drop_table("changes")
    with op.batch_alter_table("proposals") as batch:
        batch.drop_column("generation")
