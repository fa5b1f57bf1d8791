"""`crashloop db grant-roles`: narrow the bot's PostgreSQL role to INSERT and SELECT on the audit log.

Run with CRASHLOOP_DATABASE_URL connecting as the owner of the schema (the role that runs `db upgrade`); the bot
itself then runs with a URL for the service role. Prints what the service role may do to audit_log, and exits 1
when it could still change the log (bot/store/pg_roles.py says why each check matters).
"""

from __future__ import annotations

import asyncio
import sys

import click

EXIT_FAILED = 1


@click.command("grant-roles")
@click.option("--service-role", required=True, help="the role `crashloop serve` connects as (must already exist)")
def grant_roles_command(service_role: str) -> None:
    """Grant the service role the bot's tables, audit_log INSERT and SELECT only (run as the schema owner)."""
    from bot.core.settings import load_settings
    from bot.store import Store, StoreUnavailable
    from bot.store.pg_roles import AuditPrivileges, RoleSetupError, grant_service_role

    async def run() -> AuditPrivileges:
        store = Store(load_settings().database_url)
        try:
            return await grant_service_role(store.engine, service_role)
        finally:
            await store.close()

    try:
        granted = asyncio.run(run())
    except (RoleSetupError, StoreUnavailable) as exc:
        click.echo(f"crashloop: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    held = ", ".join(p for p, ok in granted.allowed.items() if ok) or "nothing"
    click.echo(f"{granted.role} on audit_log: {held}")
    if not granted.least:
        click.echo(f"crashloop: {granted.role} can still change audit_log", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"{granted.role}: every other table read/write; cannot UPDATE, DELETE, TRUNCATE or ALTER audit_log")
