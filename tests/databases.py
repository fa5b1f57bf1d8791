"""Throwaway databases for tests: a SQLite file, or a fresh database on this machine's PostgreSQL server.

PostgreSQL runs at 127.0.0.1:5432 with trust auth (CRASHLOOP_TEST_PG overrides the server URL). Each test
session creates its own databases and drops them afterwards, so runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid

import asyncpg

PG_SERVER = os.environ.get("CRASHLOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def create_pg_database() -> str:
    """A new empty database; returns its SQLAlchemy async URL."""
    name = f"crashloop_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(PG_SERVER)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(PG_SERVER)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
