"""Which bot processes are alive: each registers an instance in SQL and beats every few seconds.

Work a process holds — pending alerts it claimed, a root message it is posting, a change it is applying — is tied
to its instance id. When the process dies its heartbeat stops, and a surviving replica (or the restarted process)
takes the work over within `dead_after` plus one beat, instead of waiting for a lease of minutes. A process that
starts on the same host as a dead previous incarnation (same pid, as in a restarted container, or a pid no longer
running) takes its work over at once. While alive, the heartbeat also extends the leases of the alerts it holds,
so slow work (Slack pacing a storm) is never taken from a live holder.

The outcome of the latest write (heartbeat or alert intake) is kept: `/readyz` reports not ready when the bot
cannot write, since then it cannot store alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.intake import StoreUnavailable
from bot.store.schema import alerts, instances

HEARTBEAT_SECONDS = 5.0
DEAD_AFTER = timedelta(seconds=15)
CLAIM_LEASE = timedelta(seconds=120)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@dataclass
class WriteHealth:
    """The latest write attempt: None when it succeeded, else what went wrong (and when)."""

    error: str | None = None
    at: float = 0.0

    def ok(self) -> None:
        self.error, self.at = None, time.monotonic()

    def failed(self, error: str) -> None:
        self.error, self.at = error, time.monotonic()


class Instances:
    """This process's instance, its heartbeat, and the release of dead instances' work."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        begin: Callable[[], AbstractAsyncContextManager[AsyncConnection]] | None = None,
        dead_after: timedelta = DEAD_AFTER,
    ) -> None:
        self.engine = engine
        self._begin = begin or engine.begin
        self.id = secrets.token_hex(6)  # short: it goes into a root-post claim (incidents.root_ts, 32 chars)
        self.hostname = socket.gethostname()[:253]
        self.pid = os.getpid()
        self.dead_after = dead_after
        self.health = WriteHealth()
        self.registered = False

    async def register(self) -> list[str]:
        """Record this instance; release the work of this host's dead previous incarnations. Returns their ids."""
        now = _utcnow()
        try:
            async with self._begin() as conn:
                await conn.execute(instances.delete().where(instances.c.id == self.id))
                await conn.execute(
                    instances.insert().values(
                        id=self.id, hostname=self.hostname, pid=self.pid, started_at=now, heartbeat_at=now
                    )
                )
                rows = (await conn.execute(select(instances).where(instances.c.hostname == self.hostname))).all()
        except (SQLAlchemyError, OSError, StoreUnavailable) as exc:
            self.health.failed(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            raise
        self.registered = True
        self.health.ok()
        dead = [r.id for r in rows if r.id != self.id and (r.pid == self.pid or not _pid_running(r.pid))]
        await self.release(dead)
        return dead

    async def beat(self) -> list[str]:
        """Renew the heartbeat and this instance's alert leases; release instances that stopped beating."""
        now = _utcnow()
        try:
            async with self._begin() as conn:
                renewed = await conn.execute(
                    update(instances).where(instances.c.id == self.id).values(heartbeat_at=now)
                )
                if not renewed.rowcount:  # declared dead while paused: come back under the same id
                    await conn.execute(
                        instances.insert().values(
                            id=self.id, hostname=self.hostname, pid=self.pid, started_at=now, heartbeat_at=now
                        )
                    )
                await conn.execute(
                    update(alerts)
                    .where(alerts.c.claimed_by == self.id, alerts.c.state == "pending")
                    .values(claimed_until=now + CLAIM_LEASE)
                )
                stale = (
                    await conn.execute(select(instances.c.id).where(instances.c.heartbeat_at < now - self.dead_after))
                ).all()
        except (SQLAlchemyError, OSError, StoreUnavailable) as exc:
            self.health.failed(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            raise
        self.health.ok()
        dead = [r.id for r in stale if r.id != self.id]
        await self.release(dead)
        return dead

    async def release(self, ids: list[str]) -> int:
        """Hand the pending alerts claimed by `ids` back to the queue and forget those instances."""
        if not ids:
            return 0
        async with self._begin() as conn:
            result = await conn.execute(
                update(alerts)
                .where(alerts.c.claimed_by.in_(ids), alerts.c.state == "pending")
                .values(claimed_by=None, claimed_until=None)
            )
            await conn.execute(delete(instances).where(instances.c.id.in_(ids)))
        return result.rowcount or 0

    @contextlib.asynccontextmanager
    async def alive(self, every: float = HEARTBEAT_SECONDS) -> AsyncIterator[None]:
        """Registered and beating for the block, unregistered after it: for a process that changes workloads
        without the incident queue's heartbeat (`crashloop act`), so no one settles its change mid-apply."""
        await self.register()
        stop = asyncio.Event()

        async def beating() -> None:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), every)
                if not stop.is_set():
                    with contextlib.suppress(SQLAlchemyError, OSError, StoreUnavailable):  # kept in `health`
                        await self.beat()

        task = asyncio.create_task(beating(), name="instance-heartbeat")
        try:
            yield
        finally:
            stop.set()
            await task
            with contextlib.suppress(SQLAlchemyError, OSError, StoreUnavailable):
                await self.unregister()

    async def unregister(self) -> None:
        """Graceful shutdown: what this instance still holds is free at once."""
        if self.registered:
            await self.release([self.id])
            self.registered = False

    async def live(self) -> set[str]:
        """Ids of the instances whose heartbeat is recent."""
        since = _utcnow() - self.dead_after
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(instances.c.id).where(instances.c.heartbeat_at >= since))
            return {r.id for r in rows}

    async def is_alive(self, instance_id: str | None) -> bool:
        """Whether `instance_id` is this process or an instance with a recent heartbeat."""
        if instance_id is None:
            return False
        return instance_id == self.id or instance_id in await self.live()
