"""The report's data: plain dataclasses that the data sources fill, `hotspots` composes and the renderers read.

`Window` fixes the period once (its end, its length, the period before it, the day buckets) so every source counts
the same time range. `WorkloadRestarts` is what a restart source (Prometheus or the sampler) says about a workload;
`Coverage` says how much of the period that source saw (the sampler only knows what happened since it began);
`WorkloadStats` adds what the bot itself knows (incidents, remedies applied, audit rows); `HotspotReport` is the
finished report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

SOURCE_PROMETHEUS = "prometheus"
SOURCE_SAMPLER = "sampler"


@dataclass(frozen=True)
class Window:
    """The period [start, end) cut into `buckets` equal buckets (days, normally), and the period before it.

    `resolution` is the step of the PromQL subquery that attributes restarts to their OOMKilled reason.
    """

    end: datetime
    period: timedelta
    buckets: int
    timezone: str = "UTC"
    resolution: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.end.tzinfo is None:
            raise ValueError("Window.end must be timezone-aware")
        if self.buckets < 1 or self.period <= timedelta(0):
            raise ValueError("a window needs a positive period and at least one bucket")

    @classmethod
    def days(cls, days: int, *, end: datetime | None = None, timezone: str = "UTC", align: bool = False) -> Window:
        """The last `days` days up to `end` (default now); `align` moves `end` back to midnight in `timezone`."""
        end = end or datetime.now(UTC)
        if not align:
            return cls(end=end.astimezone(UTC), period=timedelta(days=days), buckets=days, timezone=timezone)
        end = midnight(end, timezone)
        start = datetime.combine(end.date() - timedelta(days=days), time(), tzinfo=end.tzinfo)  # local: DST-proof
        end, start = end.astimezone(UTC), start.astimezone(UTC)  # same-zone subtraction would ignore the DST shift
        return cls(end=end, period=end - start, buckets=days, timezone=timezone)

    @property
    def start(self) -> datetime:
        return self.end - self.period

    @property
    def previous_start(self) -> datetime:
        return self.end - 2 * self.period

    @property
    def bucket(self) -> timedelta:
        return self.period / self.buckets

    @property
    def first_bucket_end(self) -> datetime:
        return self.start + self.bucket

    def edges(self) -> list[tuple[datetime, datetime]]:
        """The buckets as [start, end) pairs, oldest first."""
        return [(self.start + i * self.bucket, self.start + (i + 1) * self.bucket) for i in range(self.buckets)]

    def labels(self) -> list[date]:
        """The local date of each bucket: the date of its middle (a day bucket's noon, whatever DST did)."""
        tz = ZoneInfo(self.timezone)
        return [(start + (end - start) / 2).astimezone(tz).date() for start, end in self.edges()]

    def bucket_of(self, at: datetime) -> int | None:
        """Index of the bucket `at` falls in, or None outside [start, end)."""
        if not self.start <= at < self.end:
            return None
        return min(int((at - self.start) / self.bucket), self.buckets - 1)


def midnight(at: datetime, timezone: str) -> datetime:
    """The start of `at`'s day in `timezone`, as an aware datetime."""
    tz = ZoneInfo(timezone)
    local = at.astimezone(tz)
    return datetime(local.year, local.month, local.day, tzinfo=tz)


@dataclass(frozen=True)
class WorkloadRestarts:
    """What a restart source knows of one workload over a window."""

    namespace: str
    workload: str
    kind: str | None
    restarts: int
    restarts_before: int
    oom_kills: int = 0
    memory_limit: str | None = None  # of `container`, as a Kubernetes quantity
    container: str | None = None  # the container that restarted most (OOMKilled first)
    daily: tuple[int, ...] = ()  # restarts per bucket of the window
    uncounted: int = 0  # restarts of pods older than the data, first seen in the period: when they happened is unknown

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.workload)


@dataclass(frozen=True)
class Coverage:
    """How far back the restart data reaches: Prometheus keeps history; the sampler knows only what it saw.

    `since` is the sampler's first stored sample (None: none yet) and `samples` how many sweeps stored something;
    `samples` is None for Prometheus, which covers any period.
    """

    since: datetime | None = None
    samples: int | None = None

    @classmethod
    def history(cls) -> Coverage:
        """A source with its own history (Prometheus)."""
        return cls(None, None)

    def covers(self, at: datetime) -> bool:
        """Whether the data reaches back to `at`."""
        return self.samples is None or (self.since is not None and self.since <= at)

    @property
    def nothing(self) -> bool:
        return self.samples == 0


class RemedyUse(NamedTuple):
    """A remedy applied to a workload in the period: how often, and when last. More than once is a repeat."""

    remedy: str
    times: int
    last_at: datetime

    @property
    def repeats(self) -> int:
        return max(self.times - 1, 0)


@dataclass(frozen=True)
class LoopGuard:
    """Requests of the period for a remedy applied to the workload shortly before (a remedy loop): each one was
    stopped for a second responder's approval (`bot.guard.repeats`); `approved` of them were approved anyway."""

    guarded: int = 0
    approved: int = 0

    @property
    def prevented(self) -> int:
        """Loops that did not go round again: stopped and not approved (rejected, cancelled, expired, refused)."""
        return max(self.guarded - self.approved, 0)

    def plus(self, other: LoopGuard) -> LoopGuard:
        return LoopGuard(self.guarded + other.guarded, self.approved + other.approved)


class Action(NamedTuple):
    """A step of a guarded change from the audit log: what was done, with which remedy, by whom."""

    action: str
    remedy: str | None
    actor: str


@dataclass(frozen=True)
class WorkloadStats:
    """One line of the report."""

    environment: str
    namespace: str
    workload: str
    restarts: int
    restarts_before: int
    oom_kills: int
    memory_limit: str | None
    dominant_branch: str | None
    incidents_opened: int
    mean_time_to_resolve: timedelta | None
    actions: list[Action] = field(default_factory=list)
    kind: str | None = None
    container: str | None = None
    oom_incidents: int = 0  # incidents of the period whose stored reason is OOMKilled
    incidents: int = 0  # incidents open at some time in the period (opened in it, or before and not yet resolved)
    open_incidents: int = 0  # of those, still open at the end of the period
    open_since: datetime | None = None  # when the oldest of those was opened
    remedies: list[RemedyUse] = field(default_factory=list)
    uncounted: int = 0  # see WorkloadRestarts.uncounted
    loops: LoopGuard = field(default_factory=LoopGuard)  # remedy loops the guard stopped for approval in the period

    @property
    def remedy_repeats(self) -> int:
        return sum(r.repeats for r in self.remedies)

    @property
    def label(self) -> str:
        return f"{self.namespace}/{self.workload}"

    @property
    def change(self) -> int:
        return self.restarts - self.restarts_before


@dataclass(frozen=True)
class DailySeries:
    """Restarts per day of one workload, for the chart."""

    label: str
    points: list[tuple[date, int]]


@dataclass(frozen=True)
class Suggestion:
    """Something the evidence says is worth doing; with a remedy, the Slack message offers it as a button."""

    namespace: str
    workload: str
    text: str
    topic: str = "advice"  # memory | branch | triage: what kind of evidence it rests on
    kind: str | None = None
    remedy: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    proposal_id: str | None = None  # created when the report is posted (proposals expire)


@dataclass(frozen=True)
class HotspotReport:
    """The finished report of one environment and period."""

    environment: str
    period_start: datetime
    period_end: datetime
    top: list[WorkloadStats]
    daily: dict[str, list[tuple[date, int]]]  # by WorkloadStats.label: `top`, then `also`
    suggestions: list[Suggestion]
    threshold: int
    source: str = SOURCE_SAMPLER
    timezone: str = "UTC"
    total_restarts: int = 0
    total_before: int = 0
    also: list[WorkloadStats] = field(default_factory=list)  # not in `top`, but with incidents or remedies
    coverage: Coverage = field(default_factory=Coverage.history)

    @property
    def empty(self) -> bool:
        """Nothing to list: no hotspot, no incident, no remedy applied."""
        return not self.top and not self.also

    @property
    def listed(self) -> list[WorkloadStats]:
        return [*self.top, *self.also]

    @property
    def loops(self) -> LoopGuard:
        """Remedy loops guarded in the period, over every listed workload (each such workload is listed)."""
        total = LoopGuard()
        for st in self.listed:
            total = total.plus(st.loops)
        return total

    @property
    def partial(self) -> bool:
        """The restart data does not reach back to the start of the period."""
        return not self.coverage.covers(self.period_start)

    @property
    def compared(self) -> bool:
        """The restart data reaches back to the start of the period before (the change is meaningful)."""
        return self.coverage.covers(self.period_start - (self.period_end - self.period_start))

    @property
    def drawable(self) -> bool:
        """Some listed workload restarted in the period: the chart has a line to draw."""
        return any(n for points in self.daily.values() for _, n in points)

    def series(self) -> list[DailySeries]:
        """The chart's lines: listed workloads that restarted in the period, the top ones first."""
        return [DailySeries(label, points) for label, points in self.daily.items() if any(n for _, n in points)]
