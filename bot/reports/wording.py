"""The report's words: periods, changes, durations, coverage, incidents and remedies as short phrases.

Shared by the Block Kit message and the terminal text (`render`), and by the chart upload's title, so the same
fact reads the same everywhere: "sampling since Tue 01 Dec 09:14 (UTC); 1 sample", "bump_memory ×3 (2 repeats)",
"1 incident(s), 1 open for 2d 4h, time to resolve 1h 20m", "2 stopped for approval: 1 prevented, 1 approved anyway".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.reports.model import SOURCE_PROMETHEUS, Action, HotspotReport, LoopGuard, RemedyUse, WorkloadStats
from runbooks.model import BRANCH_TITLES, Branch

BOT_ACTOR = "crashloop-bot"


def length_text(period: timedelta) -> str:
    """e.g. "7 days" (also for a week with a DST change), "1 day", "2 hours", "30 seconds"."""
    seconds = int(period.total_seconds())
    if seconds >= 86400 and abs(seconds - round(seconds / 86400) * 86400) <= 3600:
        days = round(seconds / 86400)
        return f"{days} day{'s' if days != 1 else ''}"
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def period_text(report: HotspotReport) -> str:
    """e.g. "Mon 16 Nov – Sun 22 Nov (UTC)"; a period shorter than a day shows times."""
    tz = ZoneInfo(report.timezone)
    start = report.period_start.astimezone(tz)
    last = (report.period_end - timedelta(microseconds=1)).astimezone(tz)
    if report.period_end - report.period_start < timedelta(days=1):
        return f"{start:%d %b %H:%M:%S} – {report.period_end.astimezone(tz):%H:%M:%S} ({report.timezone})"
    return f"{start:%a %d %b} – {last:%a %d %b %Y} ({report.timezone})"


def change_text(now: int, before: int) -> str:
    if before == 0:
        return "new" if now else "="
    delta = now - before
    arrow = "▲" if delta > 0 else "▼" if delta < 0 else "="
    return f"{arrow} {delta:+d} ({delta / before:+.0%})" if delta else "= same"


def duration_text(d: timedelta | None) -> str:
    if d is None:
        return "-"
    minutes = int(d.total_seconds() // 60)
    if minutes < 1:
        return "<1m"
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def branch_text(branch: str | None) -> str:
    if not branch:
        return "-"
    try:
        return BRANCH_TITLES[Branch(branch)]
    except ValueError:
        return branch


def actions_text(actions: list[Action]) -> str:
    """e.g. "bump_memory applied by alice, verified"; grouped by remedy, the bot's own steps without a name."""
    by_remedy: dict[str, list[str]] = {}
    for a in actions:
        who = "" if a.actor in (BOT_ACTOR, "bot") else f" by {a.actor}"
        by_remedy.setdefault(a.remedy or "change", []).append(f"{a.action}{who}")
    return "; ".join(f"{remedy} {', '.join(steps)}" for remedy, steps in by_remedy.items()) or "none recorded"


def source_text(report: HotspotReport) -> str:
    where = "Prometheus (kube-state-metrics)" if report.source == SOURCE_PROMETHEUS else "the bot's restart sampler"
    return f"restarts from {where}; incidents and actions from the bot's records"


def local_time(at: datetime, timezone: str) -> str:
    """e.g. "Tue 01 Dec 09:14"."""
    return f"{at.astimezone(ZoneInfo(timezone)):%a %d %b %H:%M}"


def sampling_text(report: HotspotReport) -> str:
    """e.g. "sampling since Tue 01 Dec 09:14 (UTC); 1 sample"."""
    cov = report.coverage
    if cov.since is None or cov.samples is None:
        return f"the restart sampler has stored no sample for {report.environment} yet"
    n, since = cov.samples, local_time(cov.since, report.timezone)
    return f"sampling since {since} ({report.timezone}); {n} sample{'s' if n != 1 else ''}"


def coverage_text(report: HotspotReport) -> str | None:
    """What the restart data cannot say, when it does not cover the period (None when it does)."""
    if not report.partial:
        return None
    return (
        f"Not enough restart data yet for the whole period: {sampling_text(report)}. Restarts are counted from "
        "then on, and in full for pods created in the period; earlier restarts of older pods cannot be placed in time."
    )


def nothing_text(report: HotspotReport) -> str:
    """Nothing listed: a quiet period, or one the data cannot speak for."""
    where = f"{report.environment} ({period_text(report)})"
    if report.coverage.nothing:
        return f"no restart data yet in {where}: {sampling_text(report)}, and no incident or remedy in the period"
    if report.partial:
        return (
            f"not enough data to call the period quiet in {where}: {sampling_text(report)}; since then no workload "
            f"restarted more than {report.threshold} times, and no incident or remedy was recorded"
        )
    return f"no workload restarted more than {report.threshold} times in {where}"


def incidents_text(st: WorkloadStats, end: datetime) -> str:
    """e.g. "3 incident(s), 1 open for 2d 4h, time to resolve 1h 20m"."""
    if not st.incidents:
        return "-"
    parts = [f"{st.incidents} incident(s)"]
    if st.open_incidents:
        age = f" for {duration_text(end - st.open_since)}" if st.open_since else ""
        parts.append(f"{st.open_incidents} open{age}")
    if st.mean_time_to_resolve is not None:
        parts.append(f"time to resolve {duration_text(st.mean_time_to_resolve)}")
    return ", ".join(parts)


def remedies_text(remedies: list[RemedyUse]) -> str:
    """e.g. "bump_memory ×3 (2 repeats), rollout_restart ×1"."""
    out = []
    for r in remedies:
        repeats = f" ({r.repeats} repeat{'s' if r.repeats != 1 else ''})" if r.repeats else ""
        out.append(f"{r.remedy} ×{r.times}{repeats}")
    return ", ".join(out) or "-"


def loops_text(loops: LoopGuard) -> str:
    """e.g. "2 stopped for approval: 1 prevented, 1 approved anyway"; "-" when the guard stopped none."""
    if not loops.guarded and not loops.approved:
        return "-"
    return f"{loops.guarded} stopped for approval: {loops.prevented} prevented, {loops.approved} approved anyway"


def loops_summary(report: HotspotReport) -> str | None:
    """The totals line, e.g. "Remedy loops: 2 stopped for approval: 1 prevented, 1 approved anyway." (None: none)."""
    if not report.loops.guarded and not report.loops.approved:
        return None
    return f"Remedy loops (the same remedy again soon after it was applied): {loops_text(report.loops)}."


def restarts_text(st: WorkloadStats) -> str:
    """e.g. "84", or "0 (+28 undated)" when older pods' restarts cannot be placed in the period."""
    return f"{st.restarts} (+{st.uncounted} undated)" if st.uncounted else str(st.restarts)
