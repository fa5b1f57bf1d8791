"""Signed checkpoints of the audit log's head, kept outside the table, so cutting the newest rows shows.

A table can only vouch for the rows it still has: delete the newest ten rows and the rest is a perfectly intact
chain. So after every append the bot signs (count, head hash, key id, time) with the audit key and writes that
checkpoint where the database's users cannot reach: always to the JSON log (stderr, collected by the cluster's
log pipeline), and to every sink the operator chose — a file on another volume (`CRASHLOOP_AUDIT_CHECKPOINT_FILE`),
or anything the app wires through the `CheckpointSink` interface (a Slack audit channel: the Slack code stays in
bot/slack, this module only hands over a line of text). `crashloop audit verify --checkpoint FILE|-` reads any of
them back (raw checkpoint lines, or the bot's JSON log as is) and compares the newest valid one with the table.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from bot.store.audit_chain import AuditKey, AuditKeyring, same, sign
from bot.store.audit_records import VerifyResult, iso

log = logging.getLogger("crashloop.audit")
PREFIX = "audit checkpoint "
FIELD = "audit_checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """The head of the log at `at`: `count` rows, the newest with hash `head`; `mac` signs the four."""

    count: int
    head: str
    key_id: str
    at: str
    mac: str

    def line(self) -> str:
        """The one line a sink stores and `audit verify --checkpoint` reads back."""
        return json.dumps({FIELD: asdict(self)}, sort_keys=True, separators=(",", ":"))

    def signed_by(self, keyring: AuditKeyring) -> bool:
        key = keyring.get(self.key_id)
        return key is not None and same(sign(key.checkpoint_key, _signed_values(self)), self.mac)


class CheckpointSink(Protocol):
    """Somewhere outside the table a checkpoint is written to (a file, a Slack audit channel, an object store)."""

    async def write(self, checkpoint: Checkpoint) -> None: ...


class FileSink:
    """Appends each checkpoint as one line to a file (put it on a volume the database's users cannot write)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    async def write(self, checkpoint: Checkpoint) -> None:
        await asyncio.to_thread(self._append, checkpoint.line() + "\n")

    def _append(self, text: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def __repr__(self) -> str:
        return f"FileSink({str(self.path)!r})"


class CallbackSink:
    """Hands each checkpoint's line to an async callback the app provides (e.g. a post to a Slack audit channel)."""

    def __init__(self, send: Callable[[str], Awaitable[Any]], name: str = "callback") -> None:
        self._send, self._name = send, name

    async def write(self, checkpoint: Checkpoint) -> None:
        await self._send(PREFIX + checkpoint.line())

    def __repr__(self) -> str:
        return f"CallbackSink({self._name!r})"


def make_checkpoint(key: AuditKey, *, count: int, head: str, at: datetime) -> Checkpoint:
    unsigned = Checkpoint(count=count, head=head, key_id=key.key_id, at=iso(at), mac="")
    return Checkpoint(**{**asdict(unsigned), "mac": sign(key.checkpoint_key, _signed_values(unsigned))})


async def publish(checkpoint: Checkpoint, sinks: Sequence[CheckpointSink]) -> None:
    """To the JSON log always, then to every sink; a sink that fails is logged as an error, never raised (the
    row it anchors is already committed, and the next checkpoint covers it too)."""
    log.info(PREFIX + checkpoint.line())
    for sink in sinks:
        try:
            await sink.write(checkpoint)
        except Exception as exc:  # a sink is operator-provided: any failure is reported, none stops the bot
            log.error("audit checkpoint %d not written to %r: %s: %s", checkpoint.count, sink, type(exc).__name__, exc)


def parse_checkpoints(lines: Iterable[str]) -> list[Checkpoint]:
    """Every checkpoint in `lines`: raw checkpoint lines, "audit checkpoint {...}" text, or the bot's JSON log.

    Lines that are none of these are skipped (a log holds other events); a checkpoint line that does not parse
    raises ValueError, since a damaged anchor must not silently weaken the check.
    """
    found = []
    for number, raw in enumerate(lines, 1):
        payload = _payload(raw.strip())
        if payload is None:
            continue
        try:
            found.append(Checkpoint(**payload))
        except TypeError as exc:
            raise ValueError(f"line {number}: not a checkpoint: {exc}") from None
    return found


async def check_against(
    walked: VerifyResult,
    checkpoints: Sequence[Checkpoint],
    keyring: AuditKeyring,
    hashes_at: Callable[[Sequence[int]], Awaitable[dict[int, str]]],
) -> VerifyResult:
    """The walk's result, failed when any signed checkpoint shows rows cut or rewritten.

    Every checkpoint is compared, not only the newest: one forged with the key cannot hide a rewrite from an
    older genuine one.
    """
    forged = next((c for c in checkpoints if not c.signed_by(keyring)), None)
    if forged is not None:
        reason = f"the checkpoint of {forged.at} ({forged.count} rows) is not signed by a key this verifier holds"
        return _failed(walked, None, "checkpoint", reason)
    if not checkpoints:
        return _failed(walked, None, "checkpoint", "no signed checkpoint found in what was given")
    if not walked.ok:
        return walked
    newest = max(checkpoints, key=lambda c: c.count)
    if newest.count > walked.checked:
        reason = (
            f"the head was cut: the checkpoint of {newest.at} saw {newest.count} rows, the table has "
            f"{walked.checked} (rows {walked.checked + 1}-{newest.count} are missing)"
        )
        return _failed(walked, walked.checked + 1, "head-cut", reason)
    stored = await hashes_at(sorted({c.count for c in checkpoints if c.count}))
    for checkpoint in sorted(checkpoints, key=lambda c: c.count):
        if checkpoint.count and not same(stored.get(checkpoint.count, ""), checkpoint.head):
            reason = (
                f"row {checkpoint.count} is not the row the checkpoint of {checkpoint.at} saw: the log was re-chained"
            )
            return _failed(walked, checkpoint.count, "re-chained", reason)
    return walked


def _failed(walked: VerifyResult, seq: int | None, case: str, reason: str) -> VerifyResult:
    return VerifyResult(ok=False, checked=walked.checked, broken_seq=seq, reason=reason, case=case)


def _payload(line: str) -> dict[str, Any] | None:
    if line.startswith(PREFIX):
        line = line[len(PREFIX) :]
    if FIELD not in line:
        return None
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"a checkpoint line is not JSON: {exc}") from None
    if isinstance(value, dict) and isinstance(value.get("event"), str):  # a line of the bot's JSON log
        return _payload(value["event"])
    inner = value.get(FIELD) if isinstance(value, dict) else None
    if not isinstance(inner, dict):
        raise ValueError("a checkpoint line without a checkpoint object")
    return inner


def _signed_values(c: Checkpoint) -> dict[str, Any]:
    return {"count": c.count, "head": c.head, "key_id": c.key_id, "at": c.at}
