"""Migration 0010 on a live audit log: rows written before it still verify, and `outcome_unknown` is accepted.

0010 widens the CHECK on `audit_log.action` (PostgreSQL in place, SQLite by copying the table) and adds
`changes.held_patch`. The keyed chain must come through unchanged, the PostgreSQL append-only triggers must still
refuse edits, and the `crashloop audit` commands must list and verify the new action.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from bot.store import Store
from bot.store.audit import AuditLog
from bot.store.migrate import current_revision, downgrade, head_revision, upgrade
from tests.service.test_audit_log import cli_db, event, run_cli  # noqa: F401  (cli_db is a fixture)


def _columns_of_changes(conn: Connection) -> list[str]:
    return [column["name"] for column in inspect(conn).get_columns("changes")]


RAW_UNKNOWN = text(
    "INSERT INTO audit_log (seq, at, action, outcome, actor_id, environment, namespace, workload, params, "
    "prev_hash, hash) VALUES (99, :at, 'outcome_unknown', 'error', 'bot', 'prod', 'shop', 'web', '{}', 'x', 'y')"
)


def test_rows_from_before_0010_verify_after_it_and_the_new_action_is_listed(cli_db: str) -> None:  # noqa: F811
    now = datetime.now(UTC)

    async def scenario() -> None:
        store = Store(cli_db)
        try:
            await upgrade(store.engine, "0007")
            log = AuditLog(store.engine)
            await log.append(event("web", action="requested"), at=now - timedelta(minutes=3))
            await log.append(event("web", action="applied", detail="patched"), at=now - timedelta(minutes=2))
            with pytest.raises(DBAPIError):  # 0007 knows no such action
                async with store.engine.begin() as conn:
                    await conn.execute(RAW_UNKNOWN, {"at": now})
            await upgrade(store.engine)
            assert await current_revision(store.engine) == head_revision()
            assert (await log.verify()).ok  # the copy (SQLite) or the swapped constraint (PostgreSQL) kept every hash
            await log.append(event("web", action="outcome_unknown", outcome="error", detail="answer lost"), at=now)
            await log.append(event("web", action="applied", actor_id="bot", detail="settled"), at=now)
            result = await log.verify()
            assert result.ok
            assert result.checked == 4
            if store.dialect == "postgresql":
                with pytest.raises(DBAPIError, match="audit_log is append-only"):
                    async with store.engine.begin() as conn:
                        await conn.execute(text("UPDATE audit_log SET detail = 'nothing' WHERE seq = 3"))
            async with store.engine.connect() as conn:
                columns = await conn.run_sync(_columns_of_changes)
            assert "held_patch" in columns
        finally:
            await store.close()

    asyncio.run(scenario())
    listed = run_cli("audit", "list", "--format", "json", "--workload", "web")
    assert listed.exit_code == 0, listed.output
    assert [(r["action"], r["outcome"]) for r in json.loads(listed.output)] == [
        ("requested", "ok"),
        ("applied", "ok"),
        ("outcome_unknown", "error"),
        ("applied", "ok"),
    ]
    verified = run_cli("audit", "verify")
    assert verified.exit_code == 0, verified.output


async def test_0010_downgrades_with_a_silence_that_references_a_change(db_url: str) -> None:
    """silences.change_id references changes (0009): dropping `held_patch` must not copy (drop) the changes table."""
    store = Store(db_url)
    try:
        await upgrade(store.engine)
        change = await store.changes.create(
            ttl=timedelta(minutes=5),
            environment="prod",
            namespace="shop",
            workload="web",
            kind="Deployment",
            remedy="silence",
            params={},
            requested_by="U0ONCALL1",
        )
        now = datetime.now(UTC)
        async with store.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO silences (id, environment, namespace, workload, kind, change_id, matchers, "
                    "starts_at, ends_at, created_by, created_at) "
                    "VALUES ('s-1', 'prod', 'shop', 'web', 'Deployment', :change, '[]', :now, :now, 'U0ONCALL1', :now)"
                ),
                {"change": change.id, "now": now},
            )
        await downgrade(store.engine, "0009")
        assert await current_revision(store.engine) == "0009"
        async with store.engine.connect() as conn:
            columns = await conn.run_sync(_columns_of_changes)
            linked = (await conn.execute(text("SELECT change_id FROM silences WHERE id = 's-1'"))).scalar()
        assert "held_patch" not in columns
        assert linked == change.id
        await upgrade(store.engine)
        assert await current_revision(store.engine) == head_revision()
    finally:
        await store.close()
