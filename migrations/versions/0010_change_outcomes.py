"""Changes settled precisely after a crash: the patch in flight kept (sealed) in SQL, and an unknown outcome audited.

`changes.held_patch` holds the exact patch a change sends, sealed (Fernet, the key the guard seals literal values
with: a rollout_undo patch carries a whole previous pod template, a set_env one a literal value), written before
the PATCH leaves and cleared when the change leaves `applying`. Whoever settles a change left `applying` — the
process itself after a lost answer, a restarted one, a surviving replica — re-reads the workload and compares it
with that patch (bot/guard/inplace.py), instead of guessing from the generation.

The audit log gains the action `outcome_unknown` (a PATCH whose answer was lost and whose re-read failed), settled
later by `applied` or `failed`. Only the CHECK constraint on `action` changes: no row is rewritten, so every hash of
the chain stays as it was. PostgreSQL swaps the constraint in place (its append-only triggers are untouched);
SQLite, which cannot alter a constraint, copies the table (it has no triggers; rows keep every value).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# What the CHECK allows before this revision once it follows 0008 (which added the ownership actions): the lead
# chains 0010 after 0008/0009, and widening from the complete list keeps `acknowledged` and `taken_over` allowed.
BEFORE = (
    "requested",
    "denied",
    "previewed",
    "approved",
    "rejected",
    "applied",
    "failed",
    "verified",
    "not_recovered",
    "acknowledged",
    "taken_over",
)
AFTER = (*BEFORE, "outcome_unknown")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _actions(values: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_log DROP CONSTRAINT ck_audit_log_action")
        op.execute(f"ALTER TABLE audit_log ADD CONSTRAINT ck_audit_log_action CHECK (action IN ({_in(values)}))")
        return
    with op.batch_alter_table("audit_log", recreate="always") as batch:
        batch.drop_constraint("ck_audit_log_action", type_="check")
        batch.create_check_constraint("ck_audit_log_action", sa.text(f"action IN ({_in(values)})"))


def upgrade() -> None:
    op.add_column("changes", sa.Column("held_patch", sa.Text, nullable=True))
    _actions(AFTER)


def downgrade() -> None:
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'outcome_unknown'")).scalar()
    if count:
        raise RuntimeError(f"audit_log holds {count} outcome_unknown row(s): downgrading below 0010 would refuse them")
    _actions(BEFORE)
    # plain ALTER TABLE … DROP COLUMN (SQLite >= 3.35): a batch copy would DROP TABLE changes, which silences
    # reference (0009), and foreign keys are on (bot/store/engine.py)
    op.drop_column("changes", "held_patch")
