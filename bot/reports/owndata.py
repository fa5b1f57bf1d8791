"""The report from the bot's own data: the sampler's restart counts, incidents and the audit log.

Restarts come from here when no Prometheus is configured. Incidents (how many were opened, how long they took to
resolve, which runbook branch they were) and the audit log (what was done about them, and by whom) always come from
here: only the bot knows them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from bot.reports.model import Action, Window, WorkloadRestarts
from bot.reports.sampler import Increment, increments
from bot.store.audit import AuditLog, AuditRecord
from bot.store.report_rows import IncidentSummary, ReportStore, RestartSample

OOM_KILLED = "OOMKilled"
# Audit actions that say what was done about a workload (requests, previews and refusals are not).
DONE_ACTIONS = ("applied", "verified", "not_recovered", "failed")
AUDIT_LIMIT = 5000

Key = tuple[str, str]  # (namespace, workload)


# --- restarts from the sampler ----------------------------------------------------------------------------------


async def sampled_restarts(
    store: ReportStore, environment: str, namespaces: Sequence[str], window: Window
) -> list[WorkloadRestarts]:
    """Restarts per workload over the window and the period before, from the stored samples."""
    samples = await store.samples(environment, until=window.end, namespaces=namespaces)
    return restarts_from_samples(samples, window)


def restarts_from_samples(samples: Sequence[RestartSample], window: Window) -> list[WorkloadRestarts]:
    """Aggregate per-container restart deltas to workloads (pure)."""
    if not samples:
        return []
    sampling_since = min(s.at for s in samples)
    series: dict[tuple[str, str, str, str], list[RestartSample]] = defaultdict(list)
    for s in samples:
        series[s.series].append(s)
    tallies: dict[Key, _Tally] = {}
    for rows in series.values():
        for inc in increments(rows, sampling_since):
            key = (inc.sample.namespace, inc.sample.workload)
            tallies.setdefault(key, _Tally(window.buckets)).add(inc, window)
    latest = {(s.namespace, s.workload): s for s in samples}  # samples are oldest first: the newest wins
    return [t.result(key, latest[key]) for key, t in sorted(tallies.items()) if t.restarts or t.before]


@dataclass
class _Tally:
    buckets: int
    restarts: int = 0
    before: int = 0
    oom: int = 0
    daily: list[int] = field(default_factory=list)
    per_container: Counter[str] = field(default_factory=Counter)
    oom_per_container: Counter[str] = field(default_factory=Counter)
    limits: dict[str, str | None] = field(default_factory=dict)

    def add(self, inc: Increment, window: Window) -> None:
        if not self.daily:
            self.daily = [0] * self.buckets
        at, n = inc.sample.at, inc.restarts
        bucket = window.bucket_of(at)
        if bucket is not None:
            self.restarts += n
            self.daily[bucket] += n
            self.per_container[inc.sample.container] += n
            self.limits[inc.sample.container] = inc.sample.memory_limit
            if inc.oom:
                self.oom += n
                self.oom_per_container[inc.sample.container] += n
        elif window.previous_start <= at < window.start:
            self.before += n

    def result(self, key: Key, latest: RestartSample) -> WorkloadRestarts:
        ranked = self.oom_per_container or self.per_container
        container = ranked.most_common(1)[0][0] if ranked else None
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
        )


# --- incidents and the audit log --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentStats:
    """A workload's incidents opened in the period."""

    opened: int
    dominant_branch: str | None
    mean_time_to_resolve: timedelta | None
    oom: int  # whose stored reason is OOMKilled


async def incident_stats(store: ReportStore, environment: str, window: Window) -> dict[Key, IncidentStats]:
    return summarize_incidents(await store.incidents_between(environment, window.start, window.end))


def summarize_incidents(rows: Iterable[IncidentSummary]) -> dict[Key, IncidentStats]:
    """Per workload: count, most frequent branch (the latest wins a tie), mean time to resolve (pure)."""
    grouped: dict[Key, list[IncidentSummary]] = defaultdict(list)
    for row in rows:
        grouped[(row.namespace, row.workload)].append(row)
    return {key: _incident_stats(items) for key, items in grouped.items()}


def _incident_stats(items: list[IncidentSummary]) -> IncidentStats:
    branches = Counter(i.branch for i in items if i.branch)
    dominant = None
    if branches:
        best = max(branches.values())
        dominant = next(i.branch for i in reversed(items) if i.branch and branches[i.branch] == best)
    durations = [i.resolved_at - i.opened_at for i in items if i.resolved_at is not None]
    mean = sum(durations, timedelta(0)) / len(durations) if durations else None
    return IncidentStats(len(items), dominant, mean, sum(1 for i in items if i.reason == OOM_KILLED))


async def actions_taken(audit: AuditLog, environment: str, window: Window) -> dict[Key, list[Action]]:
    """What was done to each workload in the period, from the audit log (one entry per action, remedy and actor)."""
    records = await audit.list(environment=environment, since=window.start, limit=AUDIT_LIMIT)
    return summarize_actions(r for r in records if r.at < window.end)


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
