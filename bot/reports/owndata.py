"""The report from the bot's own data: the sampler's restart counts, incidents and the audit log.

Restarts come from here when no Prometheus is configured, together with how far back the samples reach (a sampler
that began on Tuesday cannot say the week was quiet). Incidents (how many, how long they took to resolve, which
runbook branch they were, which are still open) and the audit log (which remedies were applied how often, who did
what, which remedy loops the guard stopped) always come from here: only the bot knows them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.guard.repeats import is_loop
from bot.reports.model import Action, Coverage, LoopGuard, RemedyUse, Window, WorkloadRestarts
from bot.reports.sampler import Increment, counted_from_birth, increments
from bot.store.audit import AuditLog, AuditRecord
from bot.store.report_rows import IncidentSummary, RemedyCount, ReportStore, RestartSample

OOM_KILLED = "OOMKilled"
# Audit actions that say what was done about a workload (requests, previews and refusals are not).
DONE_ACTIONS = ("applied", "verified", "not_recovered", "failed")
AUDIT_LIMIT = 5000

Key = tuple[str, str]  # (namespace, workload)


# --- restarts from the sampler ----------------------------------------------------------------------------------


async def sampled_restarts(
    store: ReportStore, environment: str, namespaces: Sequence[str], window: Window
) -> tuple[list[WorkloadRestarts], Coverage]:
    """Restarts per workload over the window and the period before, from the stored samples; how far they reach."""
    samples = await store.samples(environment, until=window.end, namespaces=namespaces)
    return restarts_from_samples(samples, window), coverage_of(samples)


def coverage_of(samples: Sequence[RestartSample]) -> Coverage:
    """Since when the sampler has data, and how many sweeps stored something."""
    if not samples:
        return Coverage(None, 0)
    return Coverage(min(s.at for s in samples), len({s.at for s in samples}))


def restarts_from_samples(samples: Sequence[RestartSample], window: Window) -> list[WorkloadRestarts]:
    """Aggregate per-container restart deltas to workloads (pure).

    A pod created after sampling began, or inside the period, counts from its birth: its whole restart count
    happened since, spread evenly from its creation to its first sample. A pod older than that, first seen inside
    the period, has restarts nobody can place in time: they are `uncounted`, not counted as zero.
    """
    if not samples:
        return []
    counted_since = min(min(s.at for s in samples), window.start)
    series: dict[tuple[str, str, str, str], list[RestartSample]] = defaultdict(list)
    for s in samples:
        series[s.series].append(s)
    tallies: dict[Key, _Tally] = {}
    for rows in series.values():
        first = min(rows, key=lambda r: r.at)
        tally = tallies.setdefault((first.namespace, first.workload), _Tally(window.buckets))
        if window.bucket_of(first.at) is not None and not counted_from_birth(first, counted_since):
            tally.uncounted += first.restarts
        for inc in increments(rows, counted_since):
            tally.add(inc, window)
    latest = {(s.namespace, s.workload): s for s in samples}  # samples are oldest first: the newest wins
    return [t.result(key, latest[key]) for key, t in sorted(tallies.items()) if t.restarts or t.before or t.uncounted]


def spread(n: int, since: datetime | None, at: datetime, window: Window) -> tuple[list[int], int]:
    """`n` restarts that happened evenly over [since, at] (or at `at`): per bucket of the window, and before it.

    Largest-remainder rounding keeps whole restarts; the share that falls before the period before is dropped.
    """
    spans = [(window.previous_start, window.start), *window.edges()]
    if since is None or since >= at:
        parts = [n if start <= at < end else 0 for start, end in spans]
        return parts[1:], parts[0]
    length = at - since
    shares = [n * (max(min(end, at) - max(start, since), timedelta(0)) / length) for start, end in spans]
    parts = [int(x) for x in shares]
    left = round(sum(shares)) - sum(parts)
    for i in sorted(range(len(shares)), key=lambda i: parts[i] - shares[i])[:left]:
        parts[i] += 1
    return parts[1:], parts[0]


@dataclass
class _Tally:
    buckets: int
    restarts: int = 0
    before: int = 0
    oom: int = 0
    uncounted: int = 0
    daily: list[int] = field(default_factory=list)
    per_container: Counter[str] = field(default_factory=Counter)
    oom_per_container: Counter[str] = field(default_factory=Counter)
    limits: dict[str, str | None] = field(default_factory=dict)

    def add(self, inc: Increment, window: Window) -> None:
        if not self.daily:
            self.daily = [0] * self.buckets
        daily, before = spread(inc.restarts, inc.since, inc.sample.at, window)
        self.before += before
        n = sum(daily)
        if not n:
            return
        self.restarts += n
        self.daily = [a + b for a, b in zip(self.daily, daily, strict=True)]
        self.per_container[inc.sample.container] += n
        self.limits[inc.sample.container] = inc.sample.memory_limit
        if inc.oom:
            self.oom += n
            self.oom_per_container[inc.sample.container] += n

    def result(self, key: Key, latest: RestartSample) -> WorkloadRestarts:
        ranked = self.oom_per_container or self.per_container
        container = ranked.most_common(1)[0][0] if ranked else None
        if container is None:  # nothing counted (yet): what the newest sample says
            container, self.limits[latest.container] = latest.container, latest.memory_limit
        return WorkloadRestarts(
            namespace=key[0],
            workload=key[1],
            kind=latest.kind,
            restarts=self.restarts,
            restarts_before=self.before,
            oom_kills=self.oom,
            memory_limit=self.limits.get(container) if container else None,
            container=container,
            daily=tuple(self.daily or [0] * self.buckets),
            uncounted=self.uncounted,
        )


# --- incidents and the audit log --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentStats:
    """A workload's incidents of the period: opened in it, or opened before and not resolved before it began."""

    opened: int  # opened in the period
    dominant_branch: str | None
    mean_time_to_resolve: timedelta | None  # of the incidents resolved in the period (opened → resolved)
    oom: int  # whose stored reason is OOMKilled
    during: int = 0  # open at some time in the period
    still_open: int = 0  # not resolved by the end of the period
    open_since: datetime | None = None  # when the oldest of those was opened
    kind: str | None = None


async def incident_stats(store: ReportStore, environment: str, window: Window) -> dict[Key, IncidentStats]:
    return summarize_incidents(await store.incidents_during(environment, window.start, window.end), window)


def summarize_incidents(rows: Iterable[IncidentSummary], window: Window | None = None) -> dict[Key, IncidentStats]:
    """Per workload: counts, most frequent branch (the latest wins a tie), mean time to resolve (pure).

    Without a window every row belongs to the period.
    """
    grouped: dict[Key, list[IncidentSummary]] = defaultdict(list)
    for row in rows:
        grouped[(row.namespace, row.workload)].append(row)
    return {key: _incident_stats(items, window) for key, items in grouped.items()}


def _incident_stats(items: list[IncidentSummary], window: Window | None) -> IncidentStats:
    def inside(at: datetime | None) -> bool:
        return at is not None and (window is None or window.start <= at < window.end)

    branches = Counter(i.branch for i in items if i.branch)
    dominant = None
    if branches:
        best = max(branches.values())
        dominant = next(i.branch for i in reversed(items) if i.branch and branches[i.branch] == best)
    durations = [i.resolved_at - i.opened_at for i in items if i.resolved_at is not None and inside(i.resolved_at)]
    mean = sum(durations, timedelta(0)) / len(durations) if durations else None
    still = [i for i in items if i.resolved_at is None or (window is not None and i.resolved_at >= window.end)]
    return IncidentStats(
        opened=sum(1 for i in items if inside(i.opened_at)),
        dominant_branch=dominant,
        mean_time_to_resolve=mean,
        oom=sum(1 for i in items if i.reason == OOM_KILLED),
        during=len(items),
        still_open=len(still),
        open_since=min((i.opened_at for i in still), default=None),
        kind=next((i.kind for i in reversed(items) if i.kind), None),
    )


async def remedies_applied(store: ReportStore, environment: str, window: Window) -> dict[Key, list[RemedyUse]]:
    """Which remedies were applied to each workload in the period, how often (the repeats), and when last."""
    return summarize_remedies(await store.remedies_applied(environment, window.start, window.end))


def summarize_remedies(rows: Iterable[RemedyCount]) -> dict[Key, list[RemedyUse]]:
    out: dict[Key, list[RemedyUse]] = defaultdict(list)
    for r in rows:
        out[(r.namespace, r.workload)].append(RemedyUse(r.remedy, r.times, r.last_at))
    return dict(out)


async def period_records(audit: AuditLog, environment: str, window: Window) -> list[AuditRecord]:
    """The audit rows of the period (the newest AUDIT_LIMIT of them), oldest first."""
    records = await audit.list(environment=environment, since=window.start, limit=AUDIT_LIMIT)
    return [r for r in records if r.at < window.end]


async def actions_taken(audit: AuditLog, environment: str, window: Window) -> dict[Key, list[Action]]:
    """What was done to each workload in the period, from the audit log (one entry per action, remedy and actor)."""
    return summarize_actions(await period_records(audit, environment, window))


def summarize_loops(records: Iterable[AuditRecord]) -> dict[Key, LoopGuard]:
    """Per workload, the remedy loops the guard stopped in the period and those approved anyway (pure).

    A loop is stopped when a repeated remedy is requested (the `requested` row says so) or refused at a door that
    cannot carry the approval it needs (a `denied` row); it is approved anyway when an `approved` row says so.
    """
    guarded: Counter[Key] = Counter()
    approved: Counter[Key] = Counter()
    for record in records:
        e = record.event
        if not is_loop(e.detail):
            continue
        key = (e.namespace, e.workload)
        if (e.action == "requested" and e.outcome == "ok") or e.action == "denied":
            guarded[key] += 1
        elif e.action == "approved" and e.outcome == "ok":
            approved[key] += 1
    return {key: LoopGuard(guarded[key], approved[key]) for key in sorted({*guarded, *approved})}


def summarize_actions(records: Iterable[AuditRecord]) -> dict[Key, list[Action]]:
    out: dict[Key, list[Action]] = defaultdict(list)
    for record in records:
        e = record.event
        if e.action not in DONE_ACTIONS or e.outcome == "refused":
            continue
        action = Action(e.action, e.remedy, e.actor_name or e.actor_id)
        if action not in out[(e.namespace, e.workload)]:
            out[(e.namespace, e.workload)].append(action)
    return dict(out)
