"""Fixtures shared by every test package: databases on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.store import Store
from bot.store.migrate import upgrade
from tests.databases import create_pg_database, drop_pg_database


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One fresh PostgreSQL database for the session (tables are reset per test by `store`)."""
    url = asyncio.run(create_pg_database())
    yield url
    asyncio.run(drop_pg_database(url))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated-on-demand database URL on each backend; PostgreSQL gets a fresh database per test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'crashloop.db'}"
        return
    url = asyncio.run(create_pg_database())
    yield url
    asyncio.run(drop_pg_database(url))


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = Store(db_url)
    await upgrade(s.engine)
    yield s
    await s.close()
