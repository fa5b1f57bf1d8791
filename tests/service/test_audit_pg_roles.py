"""Two PostgreSQL roles on the real server: the owner migrates, the service role may only INSERT and SELECT audit_log.

Each test creates its own owner role, service role and database (trust auth on 127.0.0.1), and drops them after.
The service role is then used exactly as `crashloop serve` would: it appends and verifies, and every way to change
the log — UPDATE, DELETE, TRUNCATE, disabling the triggers, dropping the table — is refused by PostgreSQL itself.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.cli.main import cli
from bot.store import Store
from bot.store.audit import AuditLog
from bot.store.migrate import upgrade
from bot.store.pg_roles import RoleSetupError, grant_service_role
from tests.databases import PG_SERVER
from tests.service.test_audit_log import event


@dataclass(frozen=True)
class Roles:
    owner: str
    service: str
    database: str

    def url(self, role: str) -> str:
        host = PG_SERVER.split("@", 1)[1].rsplit("/", 1)[0]
        return f"postgresql+asyncpg://{role}@{host}/{self.database}"


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(PG_SERVER)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def roles() -> Iterator[Roles]:
    suffix = uuid.uuid4().hex[:10]
    r = Roles(owner=f"cl_owner_{suffix}", service=f"cl_service_{suffix}", database=f"crashloop_roles_{suffix}")
    asyncio.run(
        _admin(
            f"CREATE ROLE {r.owner} LOGIN NOSUPERUSER NOCREATEROLE",
            f"CREATE ROLE {r.service} LOGIN NOSUPERUSER NOCREATEROLE",
            f"CREATE DATABASE {r.database} OWNER {r.owner}",
        )
    )
    yield r
    asyncio.run(
        _admin(f"DROP DATABASE IF EXISTS {r.database} WITH (FORCE)", f"DROP ROLE {r.service}", f"DROP ROLE {r.owner}")
    )


@pytest.fixture
async def granted(roles: Roles) -> Roles:
    owner = Store(roles.url(roles.owner))
    try:
        await upgrade(owner.engine)
        privileges = await grant_service_role(owner.engine, roles.service)
        assert privileges.least, privileges
        await AuditLog(owner.engine).append(event(detail="written by the owner before the grant"))
    finally:
        await owner.close()
    return roles


@pytest.fixture
async def service(granted: Roles) -> AsyncIterator[Store]:
    store = Store(granted.url(granted.service))
    yield store
    await store.close()


async def test_the_service_role_appends_verifies_and_starts_on_a_migrated_schema(service: Store) -> None:
    await upgrade(service.engine)  # `serve` migrates at start: at head this changes nothing, so it is allowed
    log = AuditLog(service.engine)

    await log.append(event(detail="written by the service"))

    assert [r.event.detail for r in await log.list()] == [
        "written by the owner before the grant",
        "written by the service",
    ]
    assert (await log.verify()).ok


async def test_the_service_role_keeps_its_other_tables(service: Store, granted: Roles) -> None:
    query = text(
        "SELECT tablename, has_table_privilege(:r, tablename, 'SELECT'), has_table_privilege(:r, tablename, 'INSERT'),"
        " has_table_privilege(:r, tablename, 'UPDATE'), has_table_privilege(:r, tablename, 'DELETE')"
        " FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
    )
    async with service.engine.connect() as conn:
        privileges = {row[0]: tuple(row[1:]) for row in await conn.execute(query, {"r": granted.service})}

    assert privileges.pop("audit_log") == (True, True, False, False)
    assert privileges.pop("alembic_version") == (True, False, False, False)
    assert {"alerts", "incidents", "proposals"} <= set(privileges)
    assert set(privileges.values()) == {(True, True, True, True)}


async def test_the_service_role_cannot_grant_itself_more(service: Store, granted: Roles) -> None:
    async with service.engine.begin() as conn:
        await conn.execute(text(f"GRANT UPDATE, DELETE ON audit_log TO {granted.service}"))  # a warning, no grant
        held = await conn.execute(
            text(
                "SELECT has_table_privilege(:r, 'audit_log', 'UPDATE')"
                " OR has_table_privilege(:r, 'audit_log', 'DELETE')"
            ),
            {"r": granted.service},
        )
    assert held.scalar() is False


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE audit_log SET detail = 'nothing happened'", "permission denied"),
        ("DELETE FROM audit_log", "permission denied"),
        ("TRUNCATE audit_log", "permission denied"),
        ("ALTER TABLE audit_log DISABLE TRIGGER USER", "must be owner"),
        ("DROP TRIGGER audit_log_no_update_delete ON audit_log", "must be owner"),
        ("DROP TABLE audit_log", "must be owner"),
        (
            "CREATE TRIGGER t BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
            "permission denied",
        ),
        ("CREATE TABLE audit_log_copy (x int)", "permission denied"),
    ],
)
async def test_the_service_role_cannot_change_the_log(service: Store, statement: str, refusal: str) -> None:
    with pytest.raises(DBAPIError, match=refusal):
        async with service.engine.begin() as conn:
            await conn.execute(text(statement))

    log = AuditLog(service.engine)
    assert [r.event.detail for r in await log.list()] == ["written by the owner before the grant"]
    assert (await log.verify()).ok


async def test_grant_roles_refuses_a_role_that_could_undo_it(roles: Roles) -> None:
    owner = Store(roles.url(roles.owner))
    try:
        await upgrade(owner.engine)
        for role, why in [
            (roles.owner, "the owner of audit_log"),
            ("postgres", "a superuser"),
            ("no_such_role_here", "does not exist"),
            ("Robert'); DROP TABLE audit_log;--", "not a plain role name"),
        ]:
            with pytest.raises(RoleSetupError, match=why):
                await grant_service_role(owner.engine, role)
    finally:
        await owner.close()


def test_cli_grant_roles_says_what_the_service_role_may_do(
    roles: Roles, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", roles.url(roles.owner))
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "none"))
    runner = CliRunner()

    upgraded = runner.invoke(cli, ["db", "upgrade"])
    result = runner.invoke(cli, ["db", "grant-roles", "--service-role", roles.service])
    again = runner.invoke(cli, ["db", "grant-roles", "--service-role", roles.service])
    refused = runner.invoke(cli, ["db", "grant-roles", "--service-role", roles.owner])

    assert upgraded.exit_code == 0, upgraded.output
    assert (result.exit_code, again.exit_code) == (0, 0), result.output
    assert result.output.splitlines() == [
        f"{roles.service} on audit_log: SELECT, INSERT",
        f"{roles.service}: every other table read/write; cannot UPDATE, DELETE, TRUNCATE or ALTER audit_log",
    ]
    assert refused.exit_code == 1
    assert "could disable the audit triggers" in refused.output
