"""The audit log's keyed chain: a key_id column, and no privileges on audit_log for PUBLIC (see bot/store/audit.py).

Rows written before this revision keep key_id NULL and their plain SHA-256 hash: this migration re-keys nothing,
because it cannot prove those rows were not edited before it ran (and it never sees the key). The bot's first
keyed row covers their head hash, which seals them from then on (bot/store/audit_chain.py).

On PostgreSQL, PUBLIC loses every privilege on audit_log; `crashloop db grant-roles` grants the service's role
INSERT and SELECT only (bot/store/pg_roles.py). Migrations keep running as the owner.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch table copy on SQLite, no UPDATE that the append-only triggers would refuse).
    op.add_column("audit_log", sa.Column("key_id", sa.String(16), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("REVOKE ALL ON TABLE audit_log FROM PUBLIC")


def downgrade() -> None:
    # Keyed rows cannot become plain SHA-256 rows without losing what proves them: refuse rather than drop.
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_log WHERE key_id IS NOT NULL")).scalar()
    if count:
        raise RuntimeError(f"audit_log holds {count} keyed row(s): downgrading below 0007 would make them unverifiable")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("key_id")
