"""Two PostgreSQL roles: the owner that migrates, and the service role the bot runs as (`crashloop db grant-roles`).

The append-only triggers of audit_log (migration 0002) stop a careless UPDATE, but the table's owner can disable
them (`ALTER TABLE ... DISABLE TRIGGER`), and so could the bot if it ran as the owner. So the schema is owned by a
migrations role, and the bot runs as a role that may read and write the operational tables but on audit_log may
only INSERT and SELECT: no UPDATE, DELETE, TRUNCATE, TRIGGER, and — not being the owner, a member of it or a
superuser — no ALTER TABLE either. Run as the owner after every `db upgrade` (idempotent): new tables get the
service privileges through default privileges, but only this command narrows audit_log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
AUDIT_ALLOWED = ("SELECT", "INSERT")
AUDIT_DENIED = ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES")


class RoleSetupError(Exception):
    """The roles cannot be set up as asked (unknown role, a role that would keep power over audit_log, not PG)."""


@dataclass(frozen=True)
class AuditPrivileges:
    """What the service role may do to audit_log, as PostgreSQL reports it after the grants."""

    role: str
    allowed: dict[str, bool]  # privilege -> held
    owner: bool
    superuser: bool
    member_of_owner: bool

    @property
    def least(self) -> bool:
        """INSERT and SELECT only, and no way around the triggers."""
        return (
            all(self.allowed[p] for p in AUDIT_ALLOWED)
            and not any(self.allowed[p] for p in AUDIT_DENIED)
            and not (self.owner or self.superuser or self.member_of_owner)
        )


def grant_statements(role: str, database: str, schema: str) -> list[str]:
    """The SQL `grant-roles` runs (as the owner): every table for the service, audit_log narrowed."""
    r, d, s = _ident(role), _ident(database), _ident(schema)
    return [
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        "REVOKE ALL ON TABLE audit_log FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {d} TO {r}",
        f"GRANT USAGE ON SCHEMA {s} TO {r}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {r}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {r}",
        f"REVOKE ALL ON TABLE audit_log FROM {r}",
        f"GRANT SELECT, INSERT ON TABLE audit_log TO {r}",
        f"REVOKE ALL ON TABLE alembic_version FROM {r}",
        f"GRANT SELECT ON TABLE alembic_version TO {r}",  # `serve` checks the schema is at head, changes nothing
    ]


async def grant_service_role(engine: AsyncEngine, role: str) -> AuditPrivileges:
    """Grant `role` the service privileges (connected as the schema's owner); what it may then do to audit_log."""
    if engine.dialect.name != "postgresql":
        raise RoleSetupError("grant-roles is for PostgreSQL; on SQLite the file's permissions are the only guard")
    if not ROLE_NAME.match(role):
        raise RoleSetupError(f"{role!r} is not a plain role name (lowercase letters, digits, _)")
    async with engine.begin() as conn:
        await _refuse_powerful(conn, role)
        database, schema = (await conn.execute(text("SELECT current_database(), current_schema()"))).one()
        for statement in grant_statements(role, database, schema):
            await conn.execute(text(statement))
    async with engine.connect() as conn:
        return await audit_privileges(conn, role)


async def audit_privileges(conn: AsyncConnection, role: str) -> AuditPrivileges:
    allowed = {
        p: bool(
            (await conn.execute(text("SELECT has_table_privilege(:r, 'audit_log', :p)"), {"r": role, "p": p})).scalar()
        )
        for p in (*AUDIT_ALLOWED, *AUDIT_DENIED)
    }
    owner, superuser, member = (
        await conn.execute(
            text(
                "SELECT t.tableowner = :r, r.rolsuper, pg_has_role(:r, t.tableowner, 'MEMBER') "
                "FROM pg_tables t, pg_roles r WHERE t.tablename = 'audit_log' "
                "AND t.schemaname = current_schema() AND r.rolname = :r"
            ),
            {"r": role},
        )
    ).one()
    return AuditPrivileges(role=role, allowed=allowed, owner=owner, superuser=superuser, member_of_owner=member)


async def _refuse_powerful(conn: AsyncConnection, role: str) -> None:
    """A service role that owns audit_log, is a superuser or is a member of the owner could undo every grant."""
    row = (
        await conn.execute(
            text(
                "SELECT r.rolsuper, t.tableowner = r.rolname, pg_has_role(r.rolname, t.tableowner, 'MEMBER') "
                "FROM pg_roles r LEFT JOIN pg_tables t ON t.tablename = 'audit_log' "
                "AND t.schemaname = current_schema() WHERE r.rolname = :r"
            ),
            {"r": role},
        )
    ).first()
    if row is None:
        raise RoleSetupError(f"role {role!r} does not exist: CREATE ROLE {role} LOGIN PASSWORD '...' first")
    superuser, owner, member = row
    if owner is None:
        raise RoleSetupError("audit_log does not exist here: run `crashloop db upgrade` as the owner first")
    if superuser or owner or member:
        why = "a superuser" if superuser else "the owner of audit_log" if owner else "a member of the owner role"
        raise RoleSetupError(f"role {role!r} is {why}: it could disable the audit triggers; use a separate role")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
