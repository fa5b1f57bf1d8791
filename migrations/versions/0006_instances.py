"""Live instances with a heartbeat; alert claims and change applies tied to the instance that holds them.

A process registers itself in `instances` and beats every few seconds. An alert claim (`alerts.claimed_by`) or a
change being applied (`changes.applied_by`) held by an instance that stopped beating is taken over within seconds,
instead of waiting for a lease of minutes.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("hostname", sa.String(253), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_instances"),
    )
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(32)))
    op.create_index("ix_alerts_claimed_by", "alerts", ["claimed_by"])
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("applied_by", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("applied_by")
    op.drop_index("ix_alerts_claimed_by", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("claimed_by")
    op.drop_table("instances")
