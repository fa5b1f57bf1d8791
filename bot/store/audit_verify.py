"""Walking the audit chain: the first broken row, and what was done to it.

The walk reads rows in seq order and checks each against the one before it (`p`, or the start of the log):
its own hash (keyed with the key its key_id names; plain SHA-256 for pre-0007 rows), its link (prev_hash ==
p.hash) and its place (seq == p.seq + 1). At the first row `r` that fails, the case is decided from `r`, `p`
and the row after it (`n`), using that a keyed hash covers a row's prev_hash but not its seq:

| what is seen at r                                                     | case        |
|-----------------------------------------------------------------------|-------------|
| key_id names a key the verifier does not hold                          | unknown-key |
| no key_id (plain SHA-256) after keyed rows                             | re-chained  |
| hash intact, links to p, seq is not p.seq + 1                          | reordered   |
| hash intact, links to a row later in the table                         | reordered   |
| hash intact, links to a row not in the table                           | missing     |
| hash broken, n links to r and n is intact (n vouches for r's hash)     | edited      |
| hash broken, n links to p (or would, with its own link restored)       | inserted    |
| hash broken, does not link to p                                        | inserted    |
| hash broken, links to p, n's link or hash changed too                  | re-chained  |
| hash broken, links to p, r is the newest row (nothing vouches for it)  | edited      |
| hash intact, but with a key the log had already moved away from        | re-chained  |
| every row intact but the newest rows are pre-0007 (nothing seals them) | unkeyed     |

Rows cut from the end leave an intact table; only a signed checkpoint kept elsewhere shows them (head-cut,
bot/store/audit_checkpoint.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

from bot.store.audit_chain import AuditKeyring, keyed_hash, legacy_hash, same
from bot.store.audit_records import GENESIS, AuditRecord, VerifyResult, keyed_values, legacy_values

FindSeq = Callable[[str], Awaitable[int | None]]  # the seq of the row whose hash is the given one


def intact(record: AuditRecord, keyring: AuditKeyring) -> bool | None:
    """Whether the row's hash is the hash of its content; None when it names a key not in `keyring`."""
    if record.key_id is None:
        return same(legacy_hash(record.prev_hash, legacy_values(record)), record.hash)
    key = keyring.get(record.key_id)
    if key is None:
        return None
    return same(keyed_hash(key, record.prev_hash, keyed_values(record)), record.hash)


async def walk(records: AsyncIterator[AuditRecord], keyring: AuditKeyring, find_seq: FindSeq) -> VerifyResult:
    """Check every row in seq order; the result names the first broken row and its case."""
    previous: AuditRecord | None = None
    pending: AuditRecord | None = None
    checked = unkeyed = 0
    retired: dict[str, int] = {}  # key id -> the seq of the first row after it (a key never comes back)
    async for record in records:
        unkeyed += record.key_id is None
        if pending is not None:
            broken = await _judge(pending, previous, record, keyring, find_seq) or _rotation(pending, previous, retired)
            if broken is not None:
                return _broken(checked, pending.seq, *broken)
            previous, checked = pending, checked + 1
        pending = record
    if pending is not None:
        broken = await _judge(pending, previous, None, keyring, find_seq) or _rotation(pending, previous, retired)
        if broken is not None:
            return _broken(checked, pending.seq, *broken)
        previous, checked = pending, checked + 1
    return _unsealed(checked, unkeyed, previous)


async def _judge(
    r: AuditRecord, p: AuditRecord | None, n: AuditRecord | None, keyring: AuditKeyring, find_seq: FindSeq
) -> tuple[str, str] | None:
    """(case, reason) when `r` does not follow `p` intact; None when it does."""
    link, after = (p.hash, f"row {p.seq}") if p else (GENESIS, "the start of the log")
    ok = intact(r, keyring)
    if ok is None:
        return "unknown-key", f"row {r.seq} was hashed with key id {r.key_id}, which this verifier does not hold"
    if r.key_id is None and p is not None and p.key_id is not None:
        return "re-chained", f"row {r.seq} has a plain SHA-256 hash after keyed rows: rewritten without the key"
    if ok:
        return await _misplaced(r, p, link, after, find_seq)
    if n is not None and n.prev_hash == r.hash and intact(n, keyring):
        return "edited", f"row {r.seq} was edited: its content no longer matches the hash the next row vouches for"
    if r.prev_hash != link or (n is not None and _follows(n, link, keyring)):
        return "inserted", f"row {r.seq} was inserted: it is not keyed, and nothing was written between {after} and it"
    if n is not None:
        return "re-chained", f"row {r.seq} was re-chained without the key: its hash was recomputed"
    return "edited", f"row {r.seq} was edited or forged: it is the newest row and its hash is not its keyed hash"


async def _misplaced(
    r: AuditRecord, p: AuditRecord | None, link: str, after: str, find_seq: FindSeq
) -> tuple[str, str] | None:
    """An intact row that may still sit at the wrong place."""
    expected_seq = p.seq + 1 if p else 1
    if r.prev_hash == link:
        if r.seq == expected_seq:
            return None
        return "reordered", f"row {r.seq} follows {after}, so its seq should be {expected_seq}: renumbered"
    owner = await find_seq(r.prev_hash) if r.prev_hash != GENESIS else 0
    if owner is None:
        return "missing", f"row {r.seq} follows a row that is no longer in the table: deleted before it (after {after})"
    if owner == 0:
        return "reordered", f"row {r.seq} is the first row of the log, but sits after {after}"
    return "reordered", f"row {r.seq} belongs after row {owner}, not after {after}"


def _rotation(r: AuditRecord, p: AuditRecord | None, retired: dict[str, int]) -> tuple[str, str] | None:
    """Keys only move forward: a row hashed with a key the log already moved away from was forged with it."""
    if p is None or r.key_id == p.key_id:
        return None
    if p.key_id is not None:
        retired.setdefault(p.key_id, r.seq)
    if r.key_id in retired:
        return "re-chained", f"row {r.seq} goes back to key id {r.key_id}, retired at row {retired[r.key_id]}"
    return None


def _follows(n: AuditRecord, link: str, keyring: AuditKeyring) -> bool:
    """Whether `n` follows the row whose hash is `link`, as stored or with its own link restored."""
    if n.prev_hash == link:
        return True
    return n.key_id is not None and bool(intact(replace(n, prev_hash=link), keyring))


def _unsealed(checked: int, unkeyed: int, newest: AuditRecord | None) -> VerifyResult:
    """Pre-0007 rows are trusted only when a keyed row follows them (its HMAC covers their head hash)."""
    if newest is None or newest.key_id is not None:
        return VerifyResult(ok=True, checked=checked, broken_seq=None, reason=None, unkeyed_rows=unkeyed)
    reason = (
        f"row {newest.seq} and the rows before it carry no keyed hash and no keyed row seals them: written before "
        "CRASHLOOP_AUDIT_KEY was set, or rewritten without the key (the bot's next row seals them)"
    )
    return VerifyResult(ok=False, checked=checked, broken_seq=newest.seq, reason=reason, case="unkeyed")


def _broken(checked: int, seq: int, case: str, reason: str) -> VerifyResult:
    return VerifyResult(ok=False, checked=checked, broken_seq=seq, reason=reason, case=case)
