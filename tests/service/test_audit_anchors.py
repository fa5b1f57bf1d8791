"""The audit key and the anchors outside the table: upgrade from the plain chain, key rotation, checkpoint sinks,
and the CLI that reads them back (`audit verify --checkpoint`, `audit checkpoint`), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from pydantic import SecretStr
from sqlalchemy import text

from bot.cli.main import cli
from bot.core.logs import JsonFormatter
from bot.core.settings import Settings, missing_for_serve
from bot.store import Store
from bot.store.audit import AuditKeyError, AuditLog, audit_log_for
from bot.store.audit_chain import AuditKeyring
from bot.store.audit_checkpoint import CallbackSink, Checkpoint, FileSink, parse_checkpoints
from bot.store.migrate import upgrade
from tests.service.test_audit_log import event, seed, tamper

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
K1 = "first-audit-key-0123456789abcdef0123456789"
K2 = "second-audit-key-0123456789abcdef012345678"


def legacy_row(seq: int, prev_hash: str, detail: str) -> dict[str, Any]:
    """A row as the pre-0007 bot wrote it: plain SHA-256 over every column (seq included), no key_id."""
    row: dict[str, Any] = {
        "seq": seq,
        "at": T0 + timedelta(minutes=seq),
        "action": "applied",
        "outcome": "ok",
        "actor_id": "U0ONCALL1",
        "actor_name": "alice",
        "environment": "prod",
        "namespace": "shop",
        "workload": "api",
        "remedy": "restart",
        "params": {},
        "diff": None,
        "detail": detail,
        "incident_id": None,
        "slack_channel": None,
        "slack_ts": None,
        "proposal_id": None,
        "change_id": None,
    }
    values = {**row, "at": row["at"].isoformat(timespec="microseconds")}
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return {**row, "prev_hash": prev_hash, "hash": hashlib.sha256((prev_hash + canonical).encode()).hexdigest()}


@pytest.fixture
async def legacy_store(db_url: str) -> Any:
    """A database at revision 0004 holding three plain-SHA rows, then upgraded to head."""
    store = Store(db_url)
    await upgrade(store.engine, "0004")
    prev = "0" * 64
    async with store.engine.begin() as conn:
        for seq in (1, 2, 3):
            row = legacy_row(seq, prev, f"legacy step {seq}")
            columns = ", ".join(row)
            await conn.execute(
                text(f"INSERT INTO audit_log ({columns}) VALUES ({', '.join(':' + c for c in row)})"),
                {**row, "params": json.dumps(row["params"])},
            )
            prev = row["hash"]
    await upgrade(store.engine)
    yield store
    await store.close()


def keyed(store: Store, current: str, *retired: str, sinks: list[Any] | None = None) -> AuditLog:
    return AuditLog(store.engine, keyring=AuditKeyring.from_secrets(current, retired), sinks=sinks or [])


async def test_pre_0007_rows_are_unkeyed_until_the_first_keyed_row_seals_them(legacy_store: Store) -> None:
    log = keyed(legacy_store, K1)

    before = await log.verify()
    await log.append(event(detail="first keyed row"))
    after = await log.verify()

    assert (before.ok, before.case, before.broken_seq) == (False, "unkeyed", 3)
    assert (after.ok, after.checked, after.unkeyed_rows) == (True, 4, 3)
    assert [r.key_id for r in await log.list()] == [None, None, None, log.keyring.current.key_id]


async def test_a_sealed_pre_0007_row_cannot_be_edited(legacy_store: Store) -> None:
    log = keyed(legacy_store, K1)
    await log.append(event(detail="first keyed row"))

    async with legacy_store.engine.begin() as conn:
        if legacy_store.dialect == "postgresql":
            await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        await conn.execute(text("UPDATE audit_log SET detail = 'nothing happened' WHERE seq = 2"))
        if legacy_store.dialect == "postgresql":
            await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))

    result = await log.verify()
    assert (result.ok, result.broken_seq, result.case) == (False, 2, "edited")


async def test_a_rotated_key_verifies_old_rows_only_while_it_is_kept_as_retired(store: Store) -> None:
    await keyed(store, K1).append(event(detail="written with K1"))
    rotated = keyed(store, K2, K1)
    await rotated.append(event(detail="written with K2"))

    assert (await rotated.verify()).ok
    without_k1 = await keyed(store, K2).verify()
    assert (without_k1.ok, without_k1.broken_seq, without_k1.case) == (False, 1, "unknown-key")
    assert [r.key_id for r in await rotated.list()] == [
        keyed(store, K1).keyring.current.key_id,
        rotated.keyring.current.key_id,
    ]


async def test_a_retired_key_cannot_write_after_the_rotation(store: Store) -> None:
    """Whoever still holds the old key cannot append rows that verify: keys only move forward in the log."""
    await keyed(store, K1).append(event(detail="written with K1"))
    await keyed(store, K2, K1).append(event(detail="written with K2"))
    await keyed(store, K1).append(event(detail="forged later with the retired K1"))

    result = await keyed(store, K2, K1).verify()

    assert (result.ok, result.broken_seq, result.case) == (False, 3, "re-chained")
    assert "retired at row 2" in (result.reason or "")


async def test_every_append_publishes_a_signed_checkpoint_to_the_log_and_the_sinks(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    posted: list[str] = []

    async def post(line: str) -> None:
        posted.append(line)

    log = keyed(store, K1, sinks=[FileSink(tmp_path / "anchors"), CallbackSink(post, "slack")])
    with caplog.at_level(logging.INFO, logger="crashloop.audit"):
        records = [await log.append(event(detail=f"step {i}")) for i in range(3)]

    json_log = [JsonFormatter().format(r) for r in caplog.records]
    heads = [(r.seq, r.hash) for r in records]
    for source in (json_log, (tmp_path / "anchors").read_text().splitlines(), posted):
        checkpoints = parse_checkpoints(source)
        assert [(c.count, c.head) for c in checkpoints] == heads
        assert all(c.signed_by(log.keyring) for c in checkpoints)


async def test_a_failing_sink_is_logged_and_the_row_is_still_written(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        async def write(self, checkpoint: Checkpoint) -> None:
            raise OSError("disk full")

        def __repr__(self) -> str:
            return "Broken()"

    log = keyed(store, K1, sinks=[Broken()])
    with caplog.at_level(logging.INFO, logger="crashloop.audit"):
        record = await log.append(event(detail="still written"))

    assert [r.event.detail for r in await log.list()] == ["still written"]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [f"audit checkpoint {record.seq} not written to Broken(): OSError: disk full"]


# --- the CLI ---------------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fresh database, the key K1, and a checkpoint file the bot (and `audit checkpoint`) append to."""
    anchors = tmp_path / "anchors.jsonl"
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", db_url)
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "no-secrets"))
    monkeypatch.setenv("CRASHLOOP_AUDIT_KEY", K1)
    monkeypatch.setenv("CRASHLOOP_AUDIT_CHECKPOINT_FILE", str(anchors))
    return anchors


def run_cli(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def test_cli_verify_with_the_checkpoint_file_catches_a_cut_head(cli_env: Path, db_url: str) -> None:
    seed(db_url, *((event(detail=f"step {i}"), T0 + timedelta(minutes=i)) for i in range(4)))

    intact = run_cli("audit", "verify", "--checkpoint", str(cli_env))
    tamper(db_url, "DELETE FROM audit_log WHERE seq >= 3")
    cut = run_cli("audit", "verify", "--checkpoint", str(cli_env))
    table_only = run_cli("audit", "verify")

    assert (intact.exit_code, intact.output) == (
        0,
        "audit log intact: 4 rows; head matches the newest of 4 signed checkpoint(s)\n",
    )
    assert cut.exit_code == 1
    assert cut.output.startswith("audit log broken (head-cut): the head was cut")
    assert "saw 4 rows, the table has 2 (rows 3-4 are missing)" in cut.output
    assert (table_only.exit_code, table_only.output) == (0, "audit log intact: 2 rows\n")


def test_cli_verify_reads_the_bots_json_log_from_stdin(cli_env: Path, db_url: str) -> None:
    seed(db_url, *((event(detail=f"step {i}"), T0) for i in range(2)))
    formatter = JsonFormatter()
    other = logging.LogRecord("bot", logging.INFO, __file__, 1, "incident 3 opened", None, None)
    lines = [formatter.format(other)]
    for line in cli_env.read_text().splitlines():
        record = logging.LogRecord("crashloop.audit", logging.INFO, __file__, 1, "audit checkpoint " + line, None, None)
        lines.append(formatter.format(record))

    result = run_cli("audit", "verify", "--checkpoint", "-", stdin="\n".join(lines) + "\n")

    assert (result.exit_code, result.output) == (
        0,
        "audit log intact: 2 rows; head matches the newest of 2 signed checkpoint(s)\n",
    )


def test_cli_checkpoint_signs_the_head_now(cli_env: Path, db_url: str) -> None:
    seed(db_url, (event(detail="one"), T0))

    result = run_cli("audit", "checkpoint")

    assert result.exit_code == 0, result.output
    (printed,) = parse_checkpoints([result.output])
    assert (printed.count, printed.line()) == (1, cli_env.read_text().splitlines()[-1])


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "set CRASHLOOP_AUDIT_KEY"),
        ("too-short", "the audit key must be at least 32 characters"),
    ],
)
def test_cli_verify_without_a_usable_key_says_so(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, key: str, message: str
) -> None:
    monkeypatch.setenv("CRASHLOOP_AUDIT_KEY", key)

    result = CliRunner().invoke(cli, ["audit", "verify"])

    assert result.exit_code == 1
    assert message in result.output


def test_cli_verify_refuses_a_damaged_checkpoint_line(cli_env: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    damaged.write_text('{"audit_checkpoint": {"count": 1}}\n')

    result = CliRunner().invoke(cli, ["audit", "verify", "--checkpoint", str(damaged)])

    assert result.exit_code == 2
    assert "not a checkpoint" in result.output


def test_serve_needs_the_audit_key() -> None:
    base = {"slack_bot_token": SecretStr("xoxb-x"), "crashloop_webhook_token": SecretStr("w")}
    base["slack_signing_secret"] = SecretStr("s")

    assert missing_for_serve(Settings(**base, crashloop_audit_key=SecretStr("")), socket_mode=False) == [
        "CRASHLOOP_AUDIT_KEY"
    ]
    assert missing_for_serve(Settings(**base, crashloop_audit_key=SecretStr(K1)), socket_mode=False) == []


async def test_the_composition_root_keys_the_log_with_its_settings(store: Store, tmp_path: Path) -> None:
    settings = Settings(
        crashloop_audit_key=SecretStr(K2),
        crashloop_audit_retired_keys=SecretStr(f"{K1}, "),
        crashloop_audit_checkpoint_file=str(tmp_path / "anchors"),
    )
    await keyed(store, K1).append(event(detail="before the rotation"))

    log = audit_log_for(store.engine, settings)
    record = await log.append(event(detail="after"))

    assert record.key_id == AuditKeyring.from_secrets(K2).current.key_id
    assert (await log.verify(parse_checkpoints((tmp_path / "anchors").read_text().splitlines()))).ok
    with pytest.raises(AuditKeyError, match="set CRASHLOOP_AUDIT_KEY"):
        audit_log_for(store.engine, Settings(crashloop_audit_key=SecretStr(" ")))
