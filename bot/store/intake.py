"""Alert intake with group commit: deliveries that arrive while a write is in flight share the next transaction.

A webhook is acknowledged only once its alerts are committed. Committing each delivery alone makes 32 concurrent
senders queue behind 32 commits (on SQLite, behind one writer and its busy-wait); committing whatever has queued
up meanwhile in one transaction costs one commit per round instead, and each delivery still gets its 202 only after
the commit that holds its alerts. A round that fails is retried delivery by delivery, so one delivery the database
refuses never fails the others that shared its round.

Every value is redacted (bot.core.redact) before it is written: labels, annotations, URLs and sample logs can
carry credentials, and the `alerts` table must hold none in clear.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.redact import MASK, redact, redact_lines
from bot.store.schema import alerts
from runbooks.alerts import Alert


class StoreUnavailable(Exception):
    """The database could not take a write the caller must not pretend succeeded."""


@dataclass
class _Pending:
    alerts: Sequence[Alert]
    received_at: datetime
    done: asyncio.Future[tuple[int, int]]


class GroupCommit:
    """Writes deliveries in shared transactions; `add` returns (new, duplicates) once committed."""

    def __init__(
        self,
        begin: Callable[[], AbstractAsyncContextManager[AsyncConnection]],
        insert: Callable[[Any], Any],
        on_result: Callable[[str | None], None],
    ) -> None:
        self._begin = begin
        self._insert = insert
        self._on_result = on_result
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None

    async def add(self, batch: Sequence[Alert], now: datetime | None = None) -> tuple[int, int]:
        pending = _Pending(batch, now or datetime.now(UTC), asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="alert-group-commit")
        return await asyncio.shield(pending.done)  # a caller that goes away does not cancel the others' commit

    async def _drain(self) -> None:
        while self._queue:
            group, self._queue = self._queue, []
            try:
                results = await self._write(group)
            except Exception as exc:  # resolved below, one by one: no delivery waits forever
                if len(group) == 1:
                    self._fail(group[0], exc)
                    continue
                for pending in group:
                    try:
                        [result] = await self._write([pending])
                    except Exception as single:
                        self._fail(pending, single)
                    else:
                        pending.done.set_result(result)
                continue
            for pending, result in zip(group, results, strict=True):
                pending.done.set_result(result)

    def _fail(self, pending: _Pending, exc: Exception) -> None:
        if isinstance(exc, SQLAlchemyError | OSError | StoreUnavailable):
            reason = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            self._on_result(reason)
        else:
            reason = f"{type(exc).__name__}: {exc}"[:300]
        pending.done.set_exception(StoreUnavailable(reason))

    async def _write(self, group: list[_Pending]) -> list[tuple[int, int]]:
        rows = [_values(a, p.received_at) for p in group for a in p.alerts]
        inserted: set[str] = set()
        stmt = self._insert(alerts).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(alerts.c.dedupe_key)
        async with self._begin() as conn:
            # one statement executed for many rows: SQLAlchemy batches it ("insertmanyvalues") from one compile
            result = await conn.execute(stmt, rows)
            inserted.update(r.dedupe_key for r in result)
        self._on_result(None)
        results = []
        for pending in group:  # each new row counts once, for the first delivery that carried it
            new = 0
            for key in (a.dedupe_key for a in pending.alerts):
                if key in inserted:
                    inserted.remove(key)
                    new += 1
            results.append((new, len(pending.alerts) - new))
        return results


def redact_map(values: dict[str, str]) -> dict[str, str]:
    """Each value redacted with its name in view (`password: x` hides x though the value alone looks harmless)."""
    out = {}
    for name, value in values.items():
        line = f"{name}={value}"
        hidden = redact(line)
        if hidden == line:
            out[name] = value
        else:
            out[name] = hidden.removeprefix(f"{name}=") if hidden.startswith(f"{name}=") else MASK
    return out


def _values(alert: Alert, now: datetime) -> dict[str, Any]:
    return {
        "dedupe_key": alert.dedupe_key,
        "source": alert.source,
        "status": alert.status,
        "alertname": redact(alert.name)[:200],
        "fingerprint": alert.fingerprint[:64],
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "labels": redact_map(alert.labels),
        "annotations": redact_map(alert.annotations),
        "generator_url": redact(alert.generator_url) if alert.generator_url else None,
        "group_key": redact(alert.group_key) if alert.group_key else None,
        "sample_log": "\n".join(redact_lines(alert.sample_log.splitlines())) if alert.sample_log else None,
        "received_at": now,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
    }
