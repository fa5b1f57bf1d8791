"""Who owns an incident ("I'm on it"), and the audit actions that record taking and taking over ownership.

`incidents` gains owner_id, owner_name and owned_since (all NULL: nobody has acknowledged), and sync_seq: bumped
by every change the root message must show, so a sync clears needs_sync only when nothing changed while it
talked to Slack (an owner set by `crashloop ack` or another replica meanwhile is not lost). The audit log's
CHECK on `action` is widened by `acknowledged` and `taken_over`; no row is rewritten (the keyed chain covers the
row values, which stay as they are). On SQLite the CHECK lives in the table definition, so audit_log is copied
into a new table with the wider CHECK (row values byte for byte, so every hash still verifies); on PostgreSQL
the constraint is swapped in place (the append-only triggers refuse UPDATE/DELETE, not DDL).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD_ACTIONS = (
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
NEW_ACTIONS = (*OLD_ACTIONS, "acknowledged", "taken_over")
CHECK_NAME = "ck_audit_log_action"


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _set_action_check(actions: tuple[str, ...]) -> None:
    condition = f"action IN ({_in(actions)})"
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(CHECK_NAME, "audit_log", type_="check")
        op.create_check_constraint(CHECK_NAME, "audit_log", condition)
        return
    # SQLite cannot alter a CHECK: batch mode copies the table. Named CHECKs are reflected with the table, so the
    # old one is dropped by name and the new one added.
    with op.batch_alter_table("audit_log", recreate="always") as batch:
        batch.drop_constraint(CHECK_NAME, type_="check")
        batch.create_check_constraint(CHECK_NAME, condition)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("owner_id", sa.String(255)))
        batch.add_column(sa.Column("owner_name", sa.String(255)))
        batch.add_column(sa.Column("owned_since", UTCDateTime))
        batch.add_column(sa.Column("sync_seq", sa.Integer, nullable=False, server_default="0"))
    _set_action_check(NEW_ACTIONS)


def downgrade() -> None:
    used = op.get_bind().execute(
        sa.text(f"SELECT count(*) FROM audit_log WHERE action IN ({_in(('acknowledged', 'taken_over'))})")
    )
    count = used.scalar()
    if count:
        raise RuntimeError(f"audit_log holds {count} ownership row(s): downgrading below 0008 would refuse them")
    _set_action_check(OLD_ACTIONS)
    # plain ALTER TABLE … DROP COLUMN (SQLite >= 3.35): a batch copy would DROP TABLE incidents, which alerts,
    # proposals and changes reference, and foreign keys are on (bot/store/engine.py)
    for column in ("sync_seq", "owned_since", "owner_name", "owner_id"):
        op.drop_column("incidents", column)
