"""Every way to rewrite the audit log behind the bot's back, on real SQLite and PostgreSQL: named row, named case.

The attacker here is a DBA without the audit key: they read the whole table, change it in Python, and write it
back with raw SQL (append-only triggers disabled on PostgreSQL). Hashes they need are computed the way someone
without the key can: the documented plain SHA-256 of the pre-0007 chain, or an HMAC with a key they guessed.
Cutting the newest rows leaves an intact table; the signed checkpoint the bot wrote to a file catches it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store import Store
from bot.store.audit import AuditLog, audit_log
from bot.store.audit_chain import AuditKeyring
from bot.store.audit_checkpoint import FileSink, make_checkpoint, parse_checkpoints
from tests.conftest import migrated
from tests.databases import create_pg_database, drop_pg_database
from tests.service.test_audit_log import event

Row = dict[str, Any]
Rows = list[Row]
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KEY = "audit-key-for-tampering-tests-0123456789abcdef"
GUESSED = "a-key-the-attacker-made-up-0123456789abcdef000"


def plain_sha(row: Row) -> str:
    values = {c: v for c, v in row.items() if c not in ("prev_hash", "hash", "key_id")}
    values["at"] = values["at"].astimezone(UTC).isoformat(timespec="microseconds")
    return hashlib.sha256((row["prev_hash"] + _canonical(values)).encode()).hexdigest()


def hmac_with(secret: str, row: Row) -> str:
    """The documented keyed hash, with whatever key the caller has (the attacker's guess)."""
    row_key = hmac.new(secret.encode(), b"crashloop audit row", hashlib.sha256).digest()
    values = {c: v for c, v in row.items() if c not in ("seq", "prev_hash", "hash")}
    values["at"] = values["at"].astimezone(UTC).isoformat(timespec="microseconds")
    return hmac.new(row_key, (row["prev_hash"] + _canonical(values)).encode(), hashlib.sha256).hexdigest()


def key_id_of(secret: str) -> str:
    return hmac.new(secret.encode(), b"crashloop audit key id", hashlib.sha256).hexdigest()[:16]


def _canonical(values: Row) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rechain(rows: Rows, start: int, hasher: Callable[[Row], str], key_id: str | bool | None = False) -> Rows:
    """Rows from index `start` on get their links and hashes recomputed with `hasher` (and key_id, if given)."""
    out = [dict(r) for r in rows]
    for i in range(start, len(out)):
        if key_id is not False:
            out[i]["key_id"] = key_id
        out[i]["prev_hash"] = out[i - 1]["hash"] if i else "0" * 64
        out[i]["hash"] = hasher(out[i])
    return out


def renumber(rows: Rows) -> Rows:
    return [{**r, "seq": i} for i, r in enumerate(rows, 1)]


def edit(index: int, **values: Any) -> Callable[[Rows], Rows]:
    return lambda rows: [{**r, **values} if i == index else r for i, r in enumerate(rows)]


def forged(rows: Rows, *, prev_hash: str) -> Row:
    return {**rows[2], "detail": "forged: restarted by the bot", "prev_hash": prev_hash, "hash": "f" * 64}


def _insert_linked(rows: Rows) -> Rows:
    """A forged row 4 linked to row 3; the real row 4 re-pointed at it (UNIQUE(prev_hash) forces that)."""
    fake = forged(rows, prev_hash=rows[2]["hash"])
    fake["hash"] = plain_sha(fake)
    return renumber([*rows[:3], fake, {**rows[3], "prev_hash": fake["hash"]}, *rows[4:]])


def _swap(rows: Rows, a: int, b: int) -> Rows:
    out = list(rows)
    out[a], out[b] = out[b], out[a]
    return renumber(out)


# (name, tamper(rows) -> rows, broken seq, case). The log has 6 keyed rows (seq 1-6).
VARIANTS: list[tuple[str, Callable[[Rows], Rows], int, str]] = [
    ("edit a middle row", edit(2, detail="nothing happened"), 3, "edited"),
    ("edit the first row", edit(0, actor_id="U0STRANGER"), 1, "edited"),
    ("edit the newest row", edit(5, outcome="error"), 6, "edited"),
    ("edit a timestamp", edit(2, at=T0 + timedelta(days=1)), 3, "edited"),
    ("edit params", edit(2, params={"memory": "8Gi"}), 3, "edited"),
    (
        "edit and rehash one row (plain SHA)",
        lambda r: [*r[:2], {**(x := {**r[2], "detail": "x"}), "hash": plain_sha(x)}, *r[3:]],
        3,
        "re-chained",
    ),
    (
        "edit and re-chain the rest (plain SHA)",
        lambda r: rechain(edit(2, detail="x")(r), 2, plain_sha),
        3,
        "re-chained",
    ),
    (
        "re-chain everything with a guessed key",
        lambda r: rechain(r, 0, lambda x: hmac_with(GUESSED, x)),
        1,
        "re-chained",
    ),
    (
        "re-chain everything under a new key id",
        lambda r: rechain(r, 0, lambda x: hmac_with(GUESSED, x), key_id_of(GUESSED)),
        1,
        "unknown-key",
    ),
    ("re-chain everything as pre-0007 rows", lambda r: rechain(r, 0, plain_sha, None), 6, "unkeyed"),
    ("downgrade the newest rows to pre-0007", lambda r: rechain(r, 3, plain_sha, None), 4, "re-chained"),
    ("delete a middle row", lambda r: r[:2] + r[3:], 4, "missing"),
    ("delete a middle row and renumber", lambda r: renumber(r[:2] + r[3:]), 3, "missing"),
    ("delete the first row", lambda r: r[1:], 2, "missing"),
    ("delete two middle rows", lambda r: r[:1] + r[3:], 4, "missing"),
    ("swap two rows", lambda r: _swap(r, 2, 3), 3, "reordered"),
    ("move a row to the end", lambda r: renumber(r[:1] + r[2:] + r[1:2]), 2, "reordered"),
    ("renumber a row", lambda r: [*r[:5], {**r[5], "seq": 10}], 10, "reordered"),
    ("insert a forged row, linked", _insert_linked, 4, "inserted"),
    (
        "insert a forged row, unlinked",
        lambda r: renumber([*r[:3], forged(r, prev_hash="e" * 64), *r[3:]]),
        4,
        "inserted",
    ),
    ("append a forged row", lambda r: [*r, {**forged(r, prev_hash=r[5]["hash"]), "seq": 7}], 7, "edited"),
    ("replay an old row at the end", lambda r: [*r, {**r[1], "seq": 7, "prev_hash": r[5]["hash"]}], 7, "edited"),
    (
        "delete a row and re-point the next",
        lambda r: [*r[:2], {**r[3], "prev_hash": r[1]["hash"]}, *r[4:]],
        4,
        "edited",
    ),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database per backend for the whole module (each test empties the log first): creating and migrating a
    PostgreSQL database per variant would cost more than every variant's check."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('tampering') / 'crashloop.db'}"
        return
    url = asyncio.run(create_pg_database())
    yield url
    asyncio.run(drop_pg_database(url))


@pytest.fixture
async def store(shared_url: str) -> AsyncIterator[Store]:
    migrated_store = await migrated(shared_url)
    await rewrite(migrated_store.engine, [])
    yield migrated_store
    await migrated_store.close()


@pytest.fixture
async def log(store: Store, tmp_path: Path) -> AuditLog:
    audit = AuditLog(store.engine, keyring=AuditKeyring.from_secrets(KEY), sinks=[FileSink(tmp_path / "anchor")])
    for i in range(6):
        await audit.append(event(detail=f"step {i}", params={"memory": f"{i}Gi"}), at=T0 + timedelta(minutes=i))
    return audit


async def read_rows(engine: AsyncEngine) -> Rows:
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(select(audit_log).order_by(audit_log.c.seq))]


async def rewrite(engine: AsyncEngine, rows: Rows) -> None:
    """Replace the table's content, as a DBA with write access would (PostgreSQL: triggers disabled)."""
    postgres = engine.dialect.name == "postgresql"
    async with engine.begin() as conn:
        if postgres:
            await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        await conn.execute(audit_log.delete())
        for row in rows:  # one at a time: UNIQUE(prev_hash) holds at every step as on a real edit
            await conn.execute(audit_log.insert().values(**row))
        if postgres:
            await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))


@pytest.mark.parametrize(("name", "tamper", "broken", "case"), VARIANTS, ids=[v[0] for v in VARIANTS])
async def test_tampering_is_named(
    log: AuditLog, store: Store, name: str, tamper: Callable[[Rows], Rows], broken: int, case: str
) -> None:
    assert (await log.verify()).ok
    await rewrite(store.engine, tamper(await read_rows(store.engine)))

    result = await log.verify()

    assert (result.ok, result.broken_seq, result.case) == (False, broken, case), result.reason
    assert f"row {broken}" in (result.reason or "")


@pytest.mark.parametrize("keep", [5, 3, 0])
async def test_cutting_the_newest_rows_is_caught_by_the_checkpoint(
    log: AuditLog, store: Store, tmp_path: Path, keep: int
) -> None:
    await rewrite(store.engine, (await read_rows(store.engine))[:keep])
    anchors = parse_checkpoints((tmp_path / "anchor").read_text().splitlines())

    without = await log.verify()
    result = await log.verify(anchors)

    assert without.ok  # the table alone cannot know
    assert (result.ok, result.broken_seq, result.case, result.checked) == (False, keep + 1, "head-cut", keep)
    assert f"saw 6 rows, the table has {keep}" in (result.reason or "")


async def test_a_rewrite_with_the_key_is_caught_by_the_checkpoint(log: AuditLog, store: Store, tmp_path: Path) -> None:
    """Someone holding the key (not the sink) re-chains rows 4-6: the table verifies, the anchor does not."""
    rows = rechain(edit(3, detail="nothing happened")(await read_rows(store.engine)), 3, lambda r: hmac_with(KEY, r))
    await rewrite(store.engine, rows)
    anchors = parse_checkpoints((tmp_path / "anchor").read_text().splitlines())

    assert (await log.verify()).ok
    result = await log.verify(anchors)
    assert (result.ok, result.broken_seq, result.case) == (False, 4, "re-chained")


async def test_a_checkpoint_forged_with_the_key_does_not_hide_a_rewrite_from_older_ones(
    log: AuditLog, store: Store, tmp_path: Path
) -> None:
    """Every checkpoint is compared, so a fresh one signed for the rewritten head does not outvote the rest."""
    rows = rechain(edit(3, detail="nothing happened")(await read_rows(store.engine)), 3, lambda r: hmac_with(KEY, r))
    await rewrite(store.engine, rows)
    forged = make_checkpoint(log.keyring.current, count=6, head=rows[-1]["hash"], at=T0 + timedelta(days=1))
    genuine = parse_checkpoints((tmp_path / "anchor").read_text().splitlines())

    assert (await log.verify([forged])).ok  # alone, a checkpoint made with the key proves nothing
    result = await log.verify([*genuine, forged])
    assert (result.ok, result.broken_seq, result.case) == (False, 4, "re-chained")


async def test_the_checkpoints_are_signed_and_one_per_append(log: AuditLog, tmp_path: Path) -> None:
    anchors = parse_checkpoints((tmp_path / "anchor").read_text().splitlines())
    rows = await log.list()

    assert [(c.count, c.head) for c in anchors] == [(r.seq, r.hash) for r in rows]
    assert all(c.signed_by(log.keyring) for c in anchors)
    assert await log.verify(anchors) == await log.verify()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"count": 2}, "is not signed by a key this verifier holds"),
        ({"mac": "0" * 64}, "is not signed by a key this verifier holds"),
        ({"key_id": "0123456789abcdef"}, "is not signed by a key this verifier holds"),
    ],
)
async def test_a_forged_checkpoint_is_refused(
    log: AuditLog, tmp_path: Path, change: dict[str, Any], reason: str
) -> None:
    lines = (tmp_path / "anchor").read_text().splitlines()
    payload = json.loads(lines[-1])
    payload["audit_checkpoint"].update(change)

    result = await log.verify(parse_checkpoints([*lines[:-1], json.dumps(payload)]))

    assert (result.ok, result.case) == (False, "checkpoint")
    assert reason in (result.reason or "")


async def test_a_verifier_with_another_key_trusts_nothing(log: AuditLog, store: Store) -> None:
    other = AuditLog(store.engine, keyring=AuditKeyring.from_secrets(GUESSED), sinks=[])

    result = await other.verify()

    assert (result.ok, result.broken_seq, result.case) == (False, 1, "unknown-key")
