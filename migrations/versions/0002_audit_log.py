"""The audit log: append-only, hash-chained record of every step of a change (see bot/store/audit.py).

On PostgreSQL, triggers refuse UPDATE, DELETE and TRUNCATE of audit_log, so even a database user with write
access cannot change the record without first disabling them (which the hash chain still exposes).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ACTIONS = ("requested", "denied", "previewed", "approved", "rejected", "applied", "failed", "verified", "not_recovered")
OUTCOMES = ("ok", "refused", "error")

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$
"""


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(255), nullable=False),
        sa.Column("actor_name", sa.String(255)),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("workload", sa.String(253), nullable=False),
        sa.Column("remedy", sa.String(64)),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("diff", sa.Text),
        sa.Column("detail", sa.Text),
        sa.Column("incident_id", sa.Integer),
        sa.Column("slack_channel", sa.String(32)),
        sa.Column("slack_ts", sa.String(32)),
        sa.Column("proposal_id", sa.String(32)),
        sa.Column("change_id", sa.String(64)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
        sa.UniqueConstraint("prev_hash", name="uq_audit_log_prev_hash"),
        sa.CheckConstraint("seq >= 1", name="ck_audit_log_seq"),
        sa.CheckConstraint(f"action IN ({_in(ACTIONS)})", name="ck_audit_log_action"),
        sa.CheckConstraint(f"outcome IN ({_in(OUTCOMES)})", name="ck_audit_log_outcome"),
    )
    op.create_index(
        "ix_audit_log_environment_namespace_workload_seq", "audit_log", ["environment", "namespace", "workload", "seq"]
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update_delete ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index("ix_audit_log_environment_namespace_workload_seq", table_name="audit_log")
    op.drop_table("audit_log")
