"""Fixtures shared by every test package: databases on both backends."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.store import Store
from bot.store.migrate import upgrade
from tests.databases import create_pg_database, drop_pg_database

# The audit log is keyed (bot/store/audit_chain.py): every test process, and every `crashloop serve` a test starts,
# writes with this key unless a test sets its own.
TEST_AUDIT_KEY = "test-audit-key-0123456789abcdef0123456789abcdef"
os.environ.setdefault("CRASHLOOP_AUDIT_KEY", TEST_AUDIT_KEY)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test (for what only PostgreSQL does, e.g. its triggers)."""
    url = asyncio.run(create_pg_database())
    yield url
    asyncio.run(drop_pg_database(url))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated-on-demand database URL on each backend; PostgreSQL gets a fresh database per test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'crashloop.db'}"
        return
    yield request.getfixturevalue("pg_url")


async def migrated(url: str) -> Store:
    s = Store(url)
    await upgrade(s.engine)
    return s


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = await migrated(db_url)
    yield s
    await s.close()


@pytest.fixture
async def pg_store(pg_url: str) -> AsyncIterator[Store]:
    s = await migrated(pg_url)
    yield s
    await s.close()
