"""Migration 0008 (incident owner) on a database in use: keyed audit rows, an incident, a proposal that references
it. Upgrade, downgrade and upgrade again keep every row and every hash, on SQLite (foreign keys on) and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bot.store import Store
from bot.store.audit import AuditLog
from bot.store.audit_chain import AuditKeyring
from bot.store.migrate import current_revision, downgrade, upgrade
from tests.service.test_audit_log import event

KEY = "migration-audit-key-0123456789abcdef012345"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def _in_use_at_0007(store: Store) -> AuditLog:
    await upgrade(store.engine, "0007")
    log = AuditLog(store.engine, keyring=AuditKeyring.from_secrets(KEY, ()), sinks=[])
    for step in ("requested", "previewed", "applied"):
        await log.append(event(action=step, detail=f"{step} before 0008"))
    async with store.engine.begin() as conn:  # raw SQL: the rows as the 0007 schema holds them
        await conn.execute(
            text(
                "INSERT INTO incidents (id, environment, namespace, workload, status, open_marker, opened_at,"
                " alert_count, firing, alertnames, pending_replies, needs_sync, sync_attempts)"
                " VALUES (1, 'prod', 'shop', 'api', 'open', 1, :at, 1, '[]', '[]', '[]', 0, 0)"
            ),
            {"at": T0},
        )
        await conn.execute(
            text(
                "INSERT INTO proposals (id, incident_id, environment, namespace, workload, kind, remedy, params,"
                " created_at, expires_at) VALUES ('p1', 1, 'prod', 'shop', 'api', 'Deployment', 'restart', :params,"
                " :at, :until)"
            ),
            {"params": json.dumps({}), "at": T0, "until": T0 + timedelta(minutes=15)},
        )
    return log


async def test_0008_downgrade_and_upgrade_keep_rows_and_hashes(db_url: str) -> None:
    store = Store(db_url)
    try:
        log = await _in_use_at_0007(store)
        await upgrade(store.engine)
        assert (await log.verify()).ok
        assert (await store.get_incident(1)) is not None

        await downgrade(store.engine, "0007")

        assert await current_revision(store.engine) == "0007"
        assert (await log.verify()).ok
        async with store.engine.connect() as conn:
            assert (await conn.execute(text("SELECT incident_id FROM proposals WHERE id = 'p1'"))).scalar() == 1
            columns = (await conn.execute(text("SELECT * FROM incidents WHERE id = 1"))).keys()
        assert not {"owner_id", "owner_name", "owned_since", "sync_seq"} & set(columns)

        await upgrade(store.engine)

        verified = await log.verify()
        assert (verified.ok, verified.checked) == (True, 3)
        owned = await store.set_incident_owner(1, "U0ONCALL1", "alice", expected_owner=None)
        assert owned is not None
        assert (owned.owner_id, owned.sync_seq) == ("U0ONCALL1", 1)
    finally:
        await store.close()
