"""Restart samples (the sampler's counts) and report runs (claimed exactly once per environment and period).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "restart_samples",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("workload", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("pod", sa.String(253), nullable=False),
        sa.Column("container", sa.String(253), nullable=False),
        sa.Column("restarts", sa.Integer, nullable=False),
        sa.Column("last_reason", sa.String(64)),
        sa.Column("memory_limit", sa.String(32)),
        sa.Column("pod_created", UTCDateTime),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_restart_samples"),
    )
    op.create_index("ix_restart_samples_environment_at", "restart_samples", ["environment", "at"])
    op.create_index(
        "ix_restart_samples_series", "restart_samples", ["environment", "namespace", "pod", "container", "at"]
    )
    op.create_table(
        "report_runs",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("period_start", UTCDateTime, nullable=False),
        sa.Column("period_end", UTCDateTime),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("claimed_at", UTCDateTime),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("completed_at", UTCDateTime),
        sa.Column("error", sa.Text),
        sa.Column("channel", sa.String(32)),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("chart_file_id", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_report_runs"),
        sa.UniqueConstraint("environment", "period_start", name="uq_report_runs_environment_period_start"),
    )


def downgrade() -> None:
    op.drop_table("report_runs")
    op.drop_index("ix_restart_samples_series", table_name="restart_samples")
    op.drop_index("ix_restart_samples_environment_at", table_name="restart_samples")
    op.drop_table("restart_samples")
