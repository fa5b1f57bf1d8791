"""The report's SQL: restart samples of the sampler, incidents and remedies of a period, report runs claimed once.

A report run is claimed before anything is posted, under UNIQUE(environment, period_start). The claim is a single
statement the database arbitrates: an INSERT … ON CONFLICT DO NOTHING for a new period, else a conditional UPDATE
that only takes a run that is not completed and whose holder failed or let its lease expire (it crashed mid-run).
A completed run is never claimed again. Restart samples are stored only when a container's count changes, so a
week of sampling every few minutes stays small; `prune_samples` keeps each series' newest row as its baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Index,
    Integer,
    Row,
    String,
    Table,
    UniqueConstraint,
    and_,
    cast,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.audit import audit_log
from bot.store.schema import RedactedText, UTCDateTime, incidents, metadata

APPLIED = "applied"  # the audit action written once per change that reached the cluster

restart_samples = Table(
    "restart_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("environment", String(64), nullable=False),
    Column("namespace", String(253), nullable=False),
    Column("workload", String(253), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("pod", String(253), nullable=False),
    Column("container", String(253), nullable=False),
    Column("restarts", Integer, nullable=False),
    Column("last_reason", String(64)),  # lastState.terminated.reason: what ended the previous instance
    Column("memory_limit", String(32)),  # resources.limits.memory as written in the pod spec
    Column("pod_created", UTCDateTime),
    Column("at", UTCDateTime, nullable=False),
)
Index("ix_restart_samples_environment_at", restart_samples.c.environment, restart_samples.c.at)
Index(
    "ix_restart_samples_series",
    restart_samples.c.environment,
    restart_samples.c.namespace,
    restart_samples.c.pod,
    restart_samples.c.container,
    restart_samples.c.at,
)

report_runs = Table(
    "report_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("environment", String(64), nullable=False),
    Column("period_start", UTCDateTime, nullable=False),
    Column("period_end", UTCDateTime),
    Column("state", String(16), nullable=False),  # running | failed | done
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(128)),
    Column("claimed_at", UTCDateTime),
    Column("lease_until", UTCDateTime),
    Column("completed_at", UTCDateTime),
    Column("error", RedactedText),
    Column("channel", String(32)),
    Column("message_ts", String(32)),  # set once the report message is posted: a retry does not post it again
    Column("chart_file_id", String(64)),
    UniqueConstraint("environment", "period_start"),
)


@dataclass(frozen=True)
class RestartSample:
    """One container's restart count as the sampler saw it."""

    environment: str
    namespace: str
    workload: str
    kind: str
    pod: str
    container: str
    restarts: int
    at: datetime
    last_reason: str | None = None
    memory_limit: str | None = None
    pod_created: datetime | None = None

    @property
    def series(self) -> tuple[str, str, str, str]:
        """What identifies one counter: a container of a pod."""
        return (self.environment, self.namespace, self.pod, self.container)


@dataclass(frozen=True)
class IncidentSummary:
    """What the report needs of an incident."""

    namespace: str
    workload: str
    opened_at: datetime
    resolved_at: datetime | None
    branch: str | None
    reason: str | None
    kind: str | None = None


@dataclass(frozen=True)
class RemedyCount:
    """How often one remedy was applied to one workload in a period, and when last."""

    namespace: str
    workload: str
    remedy: str
    times: int
    last_at: datetime


@dataclass(frozen=True)
class ReportRun:
    """A claimed report run of one environment and period."""

    environment: str
    period_start: datetime
    period_end: datetime | None
    state: str
    attempts: int
    claimed_by: str | None
    claimed_at: datetime | None
    lease_until: datetime | None
    completed_at: datetime | None
    error: str | None
    channel: str | None
    message_ts: str | None
    chart_file_id: str | None


class ReportStore:
    """Report rows on the bot's engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    # --- restart samples -----------------------------------------------------------------------------------

    async def add_samples(self, samples: Sequence[RestartSample]) -> int:
        if not samples:
            return 0
        async with self.engine.begin() as conn:
            await conn.execute(restart_samples.insert(), [_sample_values(s) for s in samples])
        return len(samples)

    async def samples(
        self, environment: str, *, until: datetime, namespaces: Sequence[str] | None = None
    ) -> list[RestartSample]:
        """Every stored sample of the environment taken before `until`, oldest first."""
        query = select(restart_samples).where(
            restart_samples.c.environment == environment, restart_samples.c.at < until
        )
        if namespaces is not None:
            query = query.where(restart_samples.c.namespace.in_(list(namespaces)))
        async with self.engine.connect() as conn:
            rows = await conn.execute(query.order_by(restart_samples.c.at, restart_samples.c.id))
            return [_sample(r) for r in rows]

    async def latest_samples(self, environment: str) -> list[RestartSample]:
        """The newest sample of each series of the environment (what the sampler compares with)."""
        newest = (
            select(func.max(restart_samples.c.id).label("id"))
            .where(restart_samples.c.environment == environment)
            .group_by(restart_samples.c.namespace, restart_samples.c.pod, restart_samples.c.container)
            .subquery()
        )
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(restart_samples).where(restart_samples.c.id.in_(select(newest.c.id))))
            return [_sample(r) for r in rows]

    async def prune_samples(self, before: datetime) -> int:
        """Delete samples taken before `before`, except the newest of each series (the next delta's baseline)."""
        c = restart_samples.c
        keep = (
            select(func.max(c.id))
            .where(c.at < before)
            .group_by(c.environment, c.namespace, c.pod, c.container)
            .scalar_subquery()
        )
        stmt = delete(restart_samples).where(c.at < before, c.id.not_in(keep))
        async with self.engine.begin() as conn:
            return (await conn.execute(stmt)).rowcount or 0

    # --- incidents -------------------------------------------------------------------------------------------

    async def incidents_during(self, environment: str, start: datetime, end: datetime) -> list[IncidentSummary]:
        """Incidents of the environment open at some time in [start, end): opened before `end`, not resolved
        before `start` (an incident opened last week and still open belongs to this week too), oldest first."""
        c = incidents.c
        query = (
            select(c.namespace, c.workload, c.opened_at, c.resolved_at, c.branch, c.reason, c.kind)
            .where(c.environment == environment, c.opened_at < end)
            .where(or_(c.resolved_at.is_(None), c.resolved_at >= start))
            .order_by(c.opened_at, c.id)
        )
        async with self.engine.connect() as conn:
            return [IncidentSummary(**r._mapping) for r in await conn.execute(query)]

    # --- remedies applied ----------------------------------------------------------------------------------

    async def remedies_applied(self, environment: str, start: datetime, end: datetime) -> list[RemedyCount]:
        """Per workload and remedy: the changes applied in [start, end), from the audit log.

        A change is counted once even when its "applied" row was written twice (an interrupted apply that was
        found applied afterwards records it again), hence the count of distinct change ids.
        """
        a = audit_log.c
        change = func.coalesce(a.change_id, cast(a.seq, String))
        query = (
            select(
                a.namespace,
                a.workload,
                a.remedy,
                func.count(change.distinct()).label("times"),
                func.max(a.at).label("last_at"),
            )
            .where(a.environment == environment, a.action == APPLIED, a.outcome == "ok", a.remedy.is_not(None))
            .where(a.at >= start, a.at < end)
            .group_by(a.namespace, a.workload, a.remedy)
            .order_by(a.namespace, a.workload, a.remedy)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [RemedyCount(r.namespace, r.workload, r.remedy, int(r.times), _aware(r.last_at)) for r in rows]

    # --- report runs -----------------------------------------------------------------------------------------

    async def claim(
        self,
        environment: str,
        period_start: datetime,
        lease: timedelta,
        *,
        owner: str,
        period_end: datetime | None = None,
        max_attempts: int = 3,
        now: datetime | None = None,
    ) -> bool:
        """Whether `owner` may run this period's report now; at most one holder at a time, never after completion."""
        now = now or datetime.now(UTC)
        claimed = {"state": "running", "claimed_by": owner, "claimed_at": now, "lease_until": now + lease}
        insert = self._insert(report_runs).values(
            environment=environment, period_start=period_start, period_end=period_end, attempts=1, **claimed
        )
        async with self.engine.begin() as conn:
            if (await conn.execute(insert.on_conflict_do_nothing())).rowcount:
                return True
            c = report_runs.c
            retake = (
                update(report_runs)
                .where(c.environment == environment, c.period_start == period_start, c.completed_at.is_(None))
                .where(or_(c.state == "failed", and_(c.state == "running", c.lease_until < now)))
                .where(c.attempts < max_attempts)
                .values(attempts=c.attempts + 1, error=None, **claimed)
            )
            return bool((await conn.execute(retake)).rowcount)

    async def progress(self, environment: str, period_start: datetime, *, owner: str, **values: Any) -> bool:
        """Record a step that must not be repeated by a retry (message_ts, channel, chart_file_id)."""
        return await self._finish(environment, period_start, owner, values)

    async def complete(
        self, environment: str, period_start: datetime, *, owner: str, now: datetime | None = None
    ) -> bool:
        """Mark the run done; False when `owner` no longer holds it (its lease expired and someone else took it)."""
        now = now or datetime.now(UTC)
        values = {"state": "done", "completed_at": now, "lease_until": None, "error": None}
        return await self._finish(environment, period_start, owner, values)

    async def fail(
        self, environment: str, period_start: datetime, *, owner: str, error: str, now: datetime | None = None
    ) -> bool:
        """Give the run back with the error: it is retried (up to max_attempts) by the next claim."""
        values = {"state": "failed", "lease_until": now or datetime.now(UTC), "error": error[:2000]}
        return await self._finish(environment, period_start, owner, values)

    async def get_run(self, environment: str, period_start: datetime) -> ReportRun | None:
        c = report_runs.c
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(report_runs).where(c.environment == environment, c.period_start == period_start)
                )
            ).first()
        return _run(row) if row else None

    async def retryable_runs(self, *, max_attempts: int, now: datetime | None = None) -> list[ReportRun]:
        """Runs not completed whose holder failed or crashed (lease expired), with attempts left."""
        now = now or datetime.now(UTC)
        c = report_runs.c
        query = (
            select(report_runs)
            .where(c.completed_at.is_(None), c.attempts < max_attempts)
            .where(or_(c.state == "failed", and_(c.state == "running", c.lease_until < now)))
            .order_by(c.period_start, c.environment)
        )
        async with self.engine.connect() as conn:
            return [_run(r) for r in await conn.execute(query)]

    async def _finish(self, environment: str, period_start: datetime, owner: str, values: dict[str, Any]) -> bool:
        c = report_runs.c
        stmt = (
            update(report_runs)
            .where(c.environment == environment, c.period_start == period_start)
            .where(c.claimed_by == owner, c.state == "running", c.completed_at.is_(None))
            .values(**values)
        )
        async with self.engine.begin() as conn:
            return bool((await conn.execute(stmt)).rowcount)

    def _insert(self, table: Table) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)


def _aware(at: datetime) -> datetime:
    """An aggregate's time as an aware UTC datetime, whatever the driver hands back."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _sample_values(sample: RestartSample) -> dict[str, Any]:
    return {f.name: getattr(sample, f.name) for f in fields(sample)}


def _sample(row: Row[Any]) -> RestartSample:
    m = row._mapping
    return RestartSample(**{f.name: m[f.name] for f in fields(RestartSample)})


def _run(row: Row[Any]) -> ReportRun:
    m = row._mapping
    return ReportRun(**{f.name: m[f.name] for f in fields(ReportRun)})
