"""The audit log on real SQLite and PostgreSQL: append-only, keyed-chained, masked, safe under concurrent appenders.

Tampering is done the way a DBA would, behind the bot's back (raw SQL, triggers disabled on PostgreSQL), and
the chain must name the row (every variant: tests/service/test_audit_tampering.py). The CLI is driven through
click with CRASHLOOP_DATABASE_URL pointing at the database and CRASHLOOP_AUDIT_KEY set (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli.main import cli
from bot.store import Store
from bot.store.audit import GENESIS, MASK, AuditEvent, AuditLog, VerifyResult, audit_log, record_to_json
from bot.store.engine import make_engine
from bot.store.migrate import upgrade
from tests.conftest import TEST_AUDIT_KEY

T0 = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def event(workload: str = "api", environment: str = "prod", **values: Any) -> AuditEvent:
    base: dict[str, Any] = {
        "action": "requested",
        "outcome": "ok",
        "actor_id": "U0ONCALL1",
        "actor_name": "alice",
        "environment": environment,
        "namespace": "shop",
        "workload": workload,
    }
    return AuditEvent(**{**base, **values})


def full_event() -> AuditEvent:
    """An event with every column set, so tampering with any of them changes a value."""
    return event(
        action="applied",
        remedy="set_memory",
        params={"memory": "512Mi"},
        diff="-memory: 256Mi\n+memory: 512Mi",
        detail="deployment.apps/api patched",
        incident_id=7,
        slack_channel="C0INCIDENTS",
        slack_ts="1764064800.000100",
        proposal_id="prop-1",
        change_id="chg-1",
    )


@pytest.fixture
async def log(store: Store) -> AuditLog:
    return AuditLog(store.engine)


async def behind_the_bots_back(engine: AsyncEngine, statement: Any, params: dict[str, Any] | None = None) -> None:
    """Run a write as a DBA would: on PostgreSQL the append-only triggers are disabled around it."""
    postgres = engine.dialect.name == "postgresql"
    async with engine.begin() as conn:
        if postgres:
            await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        await conn.execute(statement, params or {})
        if postgres:
            await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


# --- append and list -------------------------------------------------------------------------------------------


async def test_append_returns_the_stored_record_and_list_filters(log: AuditLog) -> None:
    first = await log.append(event("api", "prod"), at=T0)
    await log.append(event("worker", "prod", action="denied", outcome="refused", detail="not a responder"), at=T0)
    await log.append(event("api", "staging"), at=T0 + timedelta(hours=1))
    await log.append(event("api", "prod", action="approved"), at=T0 + timedelta(hours=2))

    assert (first.seq, first.at, first.prev_hash) == (1, T0, GENESIS)
    assert [r.seq for r in await log.list()] == [1, 2, 3, 4]
    assert [r.seq for r in await log.list(workload="api")] == [1, 3, 4]
    assert [r.seq for r in await log.list(environment="prod")] == [1, 2, 4]
    assert [r.seq for r in await log.list(environment="prod", workload="api")] == [1, 4]
    assert [r.seq for r in await log.list(since=T0 + timedelta(minutes=30))] == [3, 4]
    assert [r.seq for r in await log.list(limit=2)] == [3, 4]  # the newest two, oldest first
    stored = (await log.list(workload="worker"))[0]
    assert stored.event == event("worker", "prod", action="denied", outcome="refused", detail="not a responder")
    assert stored.at == T0
    assert stored.at.tzinfo is not None


async def test_a_record_reads_back_exactly_as_appended(log: AuditLog) -> None:
    appended = await log.append(full_event(), at=T0.astimezone(UTC) + timedelta(microseconds=123))

    (listed,) = await log.list()

    assert listed == appended
    assert record_to_json(listed) | {"hash": None} == {
        "seq": 1,
        "at": "2026-11-25T10:00:00.000123+00:00",
        "actor": "U0ONCALL1",
        "actor_name": "alice",
        "action": "applied",
        "outcome": "ok",
        "environment": "prod",
        "namespace": "shop",
        "workload": "api",
        "remedy": "set_memory",
        "params": {"memory": "512Mi"},
        "detail": "deployment.apps/api patched",
        "diff": "-memory: 256Mi\n+memory: 512Mi",
        "incident_id": 7,
        "slack_channel": "C0INCIDENTS",
        "slack_ts": "1764064800.000100",
        "proposal_id": "prop-1",
        "change_id": "chg-1",
        "key_id": documented_key_id(TEST_AUDIT_KEY),
        "prev_hash": GENESIS,
        "hash": None,
    }


async def test_append_with_commits_the_write_and_the_row_together_or_neither(log: AuditLog, store: Store) -> None:
    incident, _ = await store.open_incident("prod", "shop", "api", "Deployment")
    owns = event(action="acknowledged", detail=f"owns incident {incident.id}", incident_id=incident.id)

    # a write that finds nothing to do (someone else owns it already) appends nothing
    await store.set_incident_owner(incident.id, "U0ONCALL2", "bob", expected_owner=None)
    change = store.owner_change(incident.id, "U0ONCALL1", "alice", expected_owner=None)
    assert await log.append_with(owns, change) is None
    assert await log.list() == []

    # cancelled inside the transaction (a Slack click's task torn down): neither the owner nor the row
    in_transaction, hold = asyncio.Event(), asyncio.Event()
    take = store.owner_change(incident.id, "U0ONCALL1", "alice", expected_owner="U0ONCALL2")

    async def take_then_wait(conn: Any) -> Any:
        taken = await take(conn)
        in_transaction.set()
        await hold.wait()
        return taken

    step = asyncio.create_task(log.append_with(owns, take_then_wait))
    await in_transaction.wait()
    step.cancel()
    with pytest.raises(asyncio.CancelledError):
        await step
    assert (await store.get_incident(incident.id)).owner_id == "U0ONCALL2"  # type: ignore[union-attr]
    assert await log.list() == []

    taken = await log.append_with(owns, take)
    assert taken is not None
    assert taken.owner_id == "U0ONCALL1"
    assert [(r.event.action, r.event.incident_id) for r in await log.list()] == [("acknowledged", incident.id)]
    assert (await log.verify()).ok


async def test_secret_params_are_masked_at_any_depth_before_they_are_stored(log: AuditLog, store: Store) -> None:
    params: dict[str, Any] = {
        "memory": "512Mi",
        "env": [{"name": "DB_HOST", "value": "db.internal"}, {"name": "LOG_LEVEL", "literal": "debug"}],
        "auth": {"Password": "hunter2", "nested": {"token": "xoxb-123", "secret": {"key": "s3cr3t"}}},
        "DB_PASSWORD": "pw-in-a-name",
        "tokens_per_minute": 10,
    }

    record = await log.append(event(params=params))

    expected = {
        "memory": "512Mi",
        "env": [{"name": "DB_HOST", "value": MASK}, {"name": "LOG_LEVEL", "literal": MASK}],
        "auth": {"Password": MASK, "nested": {"token": MASK, "secret": MASK}},
        "DB_PASSWORD": MASK,
        "tokens_per_minute": 10,
    }
    assert record.event.params == expected
    assert (await log.list())[0].event.params == expected
    async with store.engine.connect() as conn:
        raw = (await conn.execute(text("SELECT CAST(params AS TEXT) FROM audit_log"))).scalar_one()
    for secret in ("db.internal", "debug", "hunter2", "xoxb-123", "s3cr3t", "pw-in-a-name"):
        assert secret not in raw
    assert params["auth"]["Password"] == "hunter2"  # the caller's dict is left alone


@pytest.mark.parametrize(("field", "value"), [("action", "deleted"), ("outcome", "maybe")])
def test_unknown_actions_and_outcomes_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"unknown audit {field}"):
        event(**{field: value})


async def test_naive_times_are_refused(log: AuditLog) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        await log.append(event(), at=datetime(2026, 11, 25, 10, 0))
    assert await log.list() == []


# --- the chain -------------------------------------------------------------------------------------------------


async def test_rows_are_chained_and_verify(log: AuditLog, store: Store) -> None:
    records = [await log.append(event(detail=f"step {i}", params={"n": i, "ü": [1.5, None]})) for i in range(5)]

    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    assert records[0].prev_hash == GENESIS
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    assert len({r.hash for r in records}) == 5
    async with store.engine.connect() as conn:
        rows = [dict(row._mapping) for row in await conn.execute(select(audit_log).order_by(audit_log.c.seq))]
    assert [documented_hash(TEST_AUDIT_KEY, row) for row in rows] == [r.hash for r in records]
    assert {row["key_id"] for row in rows} == {documented_key_id(TEST_AUDIT_KEY)}
    assert await log.verify() == _ok(5)


async def test_an_empty_log_verifies(log: AuditLog) -> None:
    assert await log.verify() == _ok(0)


async def test_a_row_edited_with_raw_sql_is_named(log: AuditLog, store: Store) -> None:
    for i in range(4):
        await log.append(event(detail=f"step {i}"))

    await behind_the_bots_back(store.engine, text("UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 2"))

    result = await log.verify()
    assert (result.ok, result.broken_seq, result.case, result.checked) == (False, 2, "edited", 1)
    assert result.reason == "row 2 was edited: its content no longer matches the hash the next row vouches for"


async def test_every_column_is_covered_by_the_hash(log: AuditLog, store: Store) -> None:
    for _ in range(3):
        await log.append(full_event(), at=T0)
    tampered = {
        "at": T0 + timedelta(seconds=1),
        "action": "rejected",
        "outcome": "error",
        "actor_id": "U0STRANGER",
        "actor_name": "mallory",
        "environment": "staging",
        "namespace": "payments",
        "workload": "worker",
        "remedy": "restart",
        "params": {"memory": "8Gi"},
        "diff": "-memory: 256Mi\n+memory: 8Gi",
        "detail": "nothing happened",
        "incident_id": 8,
        "slack_channel": "C0OTHER",
        "slack_ts": "1764064800.000200",
        "proposal_id": "prop-2",
        "change_id": "chg-2",
        "key_id": "0123456789abcdef",
        "prev_hash": "f" * 64,
        "hash": "e" * 64,
    }
    assert set(tampered) == set(audit_log.c.keys()) - {"seq"}  # a new column must be hashed and listed here
    async with store.engine.connect() as conn:
        original = dict((await conn.execute(select(audit_log).where(audit_log.c.seq == 2))).one()._mapping)
    row_2 = update(audit_log).where(audit_log.c.seq == 2)

    cases = {"key_id": "unknown-key", "hash": "re-chained"}
    for column, value in tampered.items():
        await behind_the_bots_back(store.engine, row_2.values({column: value}))
        result = await log.verify()
        assert (column, result.broken_seq, result.case) == (column, 2, cases.get(column, "edited"))
        await behind_the_bots_back(store.engine, row_2.values({column: original[column]}))
        assert (column, await log.verify()) == (column, _ok(3))

    await behind_the_bots_back(store.engine, update(audit_log).where(audit_log.c.seq == 3).values(seq=9))
    result = await log.verify()
    assert (result.broken_seq, result.case) == (9, "reordered")


@pytest.mark.parametrize(
    ("deleted", "broken", "reason"),
    [
        (3, 4, "row 4 follows a row that is no longer in the table: deleted before it (after row 2)"),
        (1, 2, "row 2 follows a row that is no longer in the table: deleted before it (after the start of the log)"),
    ],
)
async def test_a_deleted_row_is_named(log: AuditLog, store: Store, deleted: int, broken: int, reason: str) -> None:
    for i in range(5):
        await log.append(event(detail=f"step {i}"))

    await behind_the_bots_back(store.engine, text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": deleted})

    result = await log.verify()
    assert (result.ok, result.broken_seq, result.case, result.checked) == (False, broken, "missing", deleted - 1)
    assert result.reason == reason


async def test_a_row_rehashed_without_the_key_is_named(log: AuditLog, store: Store) -> None:
    """A row whose hash was recomputed the documented pre-0007 way (plain SHA-256) after an edit."""
    for i in range(3):
        await log.append(event(detail=f"step {i}"))
    async with store.engine.connect() as conn:
        row_2 = dict((await conn.execute(select(audit_log).where(audit_log.c.seq == 2))).one()._mapping)
    forged = {"detail": "nothing happened", "hash": plain_sha({**row_2, "detail": "nothing happened"})}

    await behind_the_bots_back(store.engine, update(audit_log).where(audit_log.c.seq == 2).values(**forged))

    result = await log.verify()
    assert (result.broken_seq, result.case) == (2, "re-chained")
    assert result.reason == "row 2 was re-chained without the key: its hash was recomputed"


async def test_postgresql_refuses_update_delete_and_truncate(pg_store: Store) -> None:
    """The append-only triggers are PostgreSQL's; on SQLite the hash chain alone guards the log."""
    store, log = pg_store, AuditLog(pg_store.engine)
    await log.append(event(detail="restarted"))

    for statement in (
        "UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 1",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(DBAPIError, match="audit_log is append-only"):
            async with store.engine.begin() as conn:
                await conn.execute(text(statement))

    assert [r.event.detail for r in await log.list()] == ["restarted"]
    assert await log.verify() == _ok(1)


async def test_concurrent_appenders_on_two_engines_never_fork_the_chain(
    log: AuditLog, second_engine: AsyncEngine
) -> None:
    other = AuditLog(second_engine)

    records = await asyncio.gather(
        *((log if i % 2 else other).append(event(detail=f"replica {i % 2} step {i}")) for i in range(20))
    )

    assert sorted(r.seq for r in records) == list(range(1, 21))
    assert [r.seq for r in await log.list()] == list(range(1, 21))
    assert await other.verify() == _ok(20)


@pytest.fixture
async def second_engine(db_url: str, store: Store) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(db_url)
    yield engine
    await engine.dispose()


# --- the CLI ---------------------------------------------------------------------------------------------------


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """CRASHLOOP_DATABASE_URL set to a fresh database (migrated by the CLI itself)."""
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", db_url)
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "no-secrets"))
    return db_url


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def seed(url: str, *events: tuple[AuditEvent, datetime]) -> None:
    async def append() -> None:
        store = Store(url)
        try:
            await upgrade(store.engine)
            log = AuditLog(store.engine)
            for e, at in events:
                await log.append(e, at=at)
        finally:
            await store.close()

    asyncio.run(append())


def tamper(url: str, sql: str) -> None:
    async def run() -> None:
        engine = make_engine(url)
        try:
            await behind_the_bots_back(engine, text(sql))
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_cli_lists_json_filtered_by_workload_and_since(cli_db: str) -> None:
    now = datetime.now(UTC)
    seed(
        cli_db,
        (event("api", detail="old", params={"password": "hunter2"}), now - timedelta(hours=3)),
        (event("worker", detail="other workload"), now - timedelta(minutes=5)),
        (event("api", action="applied", detail="patched", params={"memory": "1Gi"}), now - timedelta(minutes=1)),
    )

    everything = run_cli("audit", "list", "--format", "json", "--workload", "api")
    recent = run_cli("audit", "list", "--format", "json", "--workload", "api", "--since", "2h")

    assert everything.exit_code == 0, everything.output
    rows = json.loads(everything.output)
    assert [(r["seq"], r["detail"], r["params"]) for r in rows] == [
        (1, "old", {"password": MASK}),
        (3, "patched", {"memory": "1Gi"}),
    ]
    assert rows[1]["actor"] == "U0ONCALL1"
    assert rows[1]["action"] == "applied"
    assert rows[1]["at"] == (now - timedelta(minutes=1)).isoformat()
    assert [r["seq"] for r in json.loads(recent.output)] == [3]


def test_cli_lists_an_aligned_table(cli_db: str) -> None:
    long_detail = "container app: OOMKilled " * 10
    seed(
        cli_db,
        (event("api", remedy="set_memory", detail=long_detail), T0),
        (event("payments-gateway", actor_id="bot", actor_name=None, action="verified"), T0 + timedelta(minutes=3)),
    )

    result = run_cli("audit", "list", "--since", "2026-11-25T09:00:00Z")

    assert result.exit_code == 0, result.output
    header, first, second = result.output.splitlines()
    assert header.split() == ["AT", "ACTOR", "ACTION", "OUTCOME", "NAMESPACE/WORKLOAD", "REMEDY", "DETAIL"]
    for line, cells in [
        (first, {"ACTION": "requested ", "OUTCOME": "ok ", "NAMESPACE/WORKLOAD": "shop/api ", "REMEDY": "set_memory "}),
        (
            second,
            {"ACTION": "verified ", "OUTCOME": "ok ", "NAMESPACE/WORKLOAD": "shop/payments-gateway ", "REMEDY": "-"},
        ),
    ]:
        for column, cell in cells.items():
            assert line[header.index(column) :].startswith(cell), (column, line)
    assert first[header.index("DETAIL") :].startswith("container app: OOMKilled container app")
    assert first.startswith("2026-11-25 10:00:00Z  U0ONCALL1 (alice)")
    assert second.startswith("2026-11-25 10:03:00Z  bot")
    assert first.endswith("…")
    assert len(first) - first.index("container app") == 60


def test_cli_rejects_a_since_it_cannot_read(cli_db: str) -> None:
    result = run_cli("audit", "list", "--since", "yesterday")

    assert result.exit_code == 2
    assert "neither a duration" in result.output


def test_cli_verify_says_intact_on_a_fresh_and_a_written_database(cli_db: str) -> None:
    fresh = run_cli("audit", "verify")
    seed(cli_db, *((event(detail=f"step {i}"), T0) for i in range(3)))
    written = run_cli("audit", "verify")

    assert (fresh.exit_code, fresh.output) == (0, "audit log intact: 0 rows\n")
    assert (written.exit_code, written.output) == (0, "audit log intact: 3 rows\n")


def test_cli_verify_exits_1_naming_the_edited_row(cli_db: str) -> None:
    seed(cli_db, *((event(detail=f"step {i}"), T0) for i in range(3)))
    tamper(cli_db, "UPDATE audit_log SET actor_id = 'U0STRANGER' WHERE seq = 2")

    result = run_cli("audit", "verify")

    assert result.exit_code == 1
    assert result.output.startswith("audit log broken (edited): row 2 was edited")
    assert result.output.endswith("the 1 row(s) before it are intact\n")


def _ok(checked: int) -> VerifyResult:
    return VerifyResult(ok=True, checked=checked, broken_seq=None, reason=None, case=None, unkeyed_rows=0)


def documented_key_id(secret: str) -> str:
    return hmac.new(secret.encode(), b"crashloop audit key id", hashlib.sha256).hexdigest()[:16]


def documented_hash(secret: str, row: Mapping[str, Any]) -> str:
    """A row's keyed hash as bot/store/audit_chain.py documents it, computed independently of the bot's code."""
    row_key = hmac.new(secret.encode(), b"crashloop audit row", hashlib.sha256).digest()
    values = {column: value for column, value in row.items() if column not in ("seq", "prev_hash", "hash")}
    values["at"] = values["at"].astimezone(UTC).isoformat(timespec="microseconds")
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(row_key, (row["prev_hash"] + canonical).encode(), hashlib.sha256).hexdigest()


def plain_sha(row: Mapping[str, Any]) -> str:
    """What someone without the key can compute: the pre-0007 plain SHA-256 of the row."""
    values = {column: value for column, value in row.items() if column not in ("prev_hash", "hash")}
    values["at"] = values["at"].astimezone(UTC).isoformat(timespec="microseconds")
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((row["prev_hash"] + canonical).encode()).hexdigest()
