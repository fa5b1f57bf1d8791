"""Bringing the database schema up to date with Alembic (`crashloop db upgrade`, and at `serve` start).

Alembic is configured in code (the migrations directory ships inside the package as `migrations`) and runs on
a connection of the bot's own async engine, so it works from inside the running event loop.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from bot.core.redact import redact
from bot.store.intake import StoreUnavailable


def _alembic_config(connection: Connection | None = None) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Apply every migration up to `revision`; StoreUnavailable when the database cannot be reached or refused."""

    def run(connection: Connection) -> None:
        command.upgrade(_alembic_config(connection), revision)

    try:
        async with engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # replicas starting together migrate one after the other
                await conn.execute(text("SELECT pg_advisory_xact_lock(7301852994)"))
            await conn.run_sync(run)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreUnavailable(f"the database cannot be used: {_first_line(exc)}") from exc


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Undo migrations down to `revision` (an operator rolling a release back)."""

    def run(connection: Connection) -> None:
        command.downgrade(_alembic_config(connection), revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)


def _first_line(exc: BaseException) -> str:
    """The error's first line (SQLAlchemy appends the statement and a link), redacted like every other exit."""
    inner = getattr(exc, "orig", None) or exc
    return redact(f"{type(inner).__name__}: {str(inner).splitlines()[0] if str(inner) else ''}"[:300])


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()
