"""`crashloop audit`: read and verify the audit log from a terminal, without going through Slack.

An auditor or an on-call engineer asks "what did the bot do to this workload?" (`audit list`) and "can I trust
the answer?" (`audit verify`, exit 1 naming the first broken row and what was done to it; with `--checkpoint`,
also whether the newest rows were cut). `audit checkpoint` signs and publishes the head now (for a CronJob).
The database is CRASHLOOP_DATABASE_URL, the key CRASHLOOP_AUDIT_KEY; the database is migrated first so a fresh
one answers too.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TextIO, TypeVar

import click

from bot.cli.output import echo, output_option, to_yaml

if TYPE_CHECKING:
    from bot.store.audit import AuditLog, AuditRecord, VerifyResult
    from bot.store.audit_checkpoint import Checkpoint

EXIT_BROKEN = 1
DETAIL_WIDTH = 60
RELATIVE = re.compile(r"^(\d+)([smhdw])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
COLUMNS = ("AT", "ACTOR", "ACTION", "OUTCOME", "NAMESPACE/WORKLOAD", "REMEDY", "DETAIL")

T = TypeVar("T")


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """--since: `30m`, `2h`, `7d` ago, or an ISO-8601 time (UTC when it names no zone)."""
    if value is None:
        return None
    try:
        return parse_since(value)
    except (ValueError, OverflowError):
        raise click.BadParameter(f"{value!r} is neither a duration like 30m, 2h, 7d nor an ISO-8601 time") from None


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """The time `value` names; ValueError when it names none."""
    match = RELATIVE.match(value.strip())
    if match:
        return (now or datetime.now(UTC)) - timedelta(**{UNITS[match[2]]: int(match[1])})
    parsed = datetime.fromisoformat(value.strip())
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@click.group(
    "audit",
    epilog="\b\nExamples:\n  crashloop audit list --workload checkout --since 2h\n  crashloop audit list -o json\n"
    "  crashloop audit verify",
)
def audit_group() -> None:
    """The audit log of every change the bot proposed, refused or made."""


@audit_group.command("list")
@click.option("--workload", help="only this workload")
@click.option("--environment", help="only this environment")
@click.option("--since", callback=_since, help="only since then: 30m, 2h, 7d or an ISO-8601 time")
@output_option(choices=("table", "text", "json", "yaml", "wide"), default="table")
@click.option("--limit", type=click.IntRange(min=1), default=500, show_default=True, help="the newest N records")
def audit_list(workload: str | None, environment: str | None, since: datetime | None, fmt: str, limit: int) -> None:
    """Show audit records, oldest first."""

    async def read(log: AuditLog) -> list[AuditRecord]:
        return await log.list(environment=environment, workload=workload, since=since, limit=limit)

    records = _run(read)
    if fmt in ("json", "yaml"):
        from bot.store.audit import record_to_json

        data = [record_to_json(r) for r in records]
        echo(json.dumps(data, indent=2, ensure_ascii=False) if fmt == "json" else to_yaml(data))
    elif records:
        echo(format_table(records, wide=fmt == "wide"))
    else:
        echo("no audit records match")


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.File("r", encoding="utf-8"),
    help="signed checkpoints to compare the head with: a checkpoint file, the bot's JSON log, or - for stdin",
)
def audit_verify(checkpoint_file: TextIO | None) -> None:
    """Check the keyed chain; exit 1 naming the first broken row and the case (edited, missing, inserted, ...)."""
    from bot.store.audit_checkpoint import parse_checkpoints

    checkpoints: list[Checkpoint] | None = None
    if checkpoint_file is not None:
        try:
            checkpoints = parse_checkpoints(checkpoint_file)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--checkpoint") from None

    async def check(log: AuditLog) -> VerifyResult:
        return await log.verify(checkpoints)

    result = _run(check)
    if result.ok:
        anchored = f"; head matches the newest of {len(checkpoints)} signed checkpoint(s)" if checkpoints else ""
        sealed = f" ({result.unkeyed_rows} pre-0007 row(s) sealed by keyed rows)" if result.unkeyed_rows else ""
        echo(f"audit log intact: {result.checked} rows{sealed}{anchored}")
        return
    echo(f"audit log broken ({result.case}): {result.reason}; the {result.checked} row(s) before it are intact")
    sys.exit(EXIT_BROKEN)


@audit_group.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the current head (count, hash) and publish it: the JSON log, CRASHLOOP_AUDIT_CHECKPOINT_FILE, stdout."""

    async def sign(log: AuditLog) -> Checkpoint:
        return await log.checkpoint()

    echo(_run(sign).line())


def format_table(records: list[AuditRecord], *, wide: bool = False) -> str:
    """Aligned columns, one record a line; long details are cut (`-o wide`: shown whole)."""
    rows = [COLUMNS, *(_table_row(r, wide=wide) for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def _table_row(r: AuditRecord, *, wide: bool = False) -> tuple[str, ...]:
    e = r.event
    actor = f"{e.actor_id} ({e.actor_name})" if e.actor_name else e.actor_id
    return (
        r.at.strftime("%Y-%m-%d %H:%M:%SZ"),
        actor,
        e.action,
        e.outcome,
        f"{e.namespace}/{e.workload}",
        e.remedy or "-",
        " ".join((e.detail or "").split()) if wide else _truncate(e.detail or ""),
    )


def _truncate(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= DETAIL_WIDTH else flat[: DETAIL_WIDTH - 1] + "…"


def _run(operation: Callable[[AuditLog], Awaitable[T]]) -> T:
    """Run `operation` on the audit log of the configured (and migrated) database."""
    from bot.core.settings import load_settings
    from bot.store import Store, StoreUnavailable
    from bot.store.audit import AuditKeyError, AuditLog
    from bot.store.migrate import upgrade

    async def run() -> T:
        store = Store(load_settings().database_url)
        try:
            await upgrade(store.engine)
            return await operation(AuditLog(store.engine))
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (StoreUnavailable, AuditKeyError) as exc:
        echo(f"crashloop: {exc}", err=True)
        sys.exit(EXIT_BROKEN)
