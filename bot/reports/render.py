"""The hotspot report as a Slack message (Block Kit, through `bot.slack.blocks`) and as plain text for the CLI.

An empty report is still a report: "no workload restarted more than N times" tells the channel the week was quiet
(and that the report is alive) — but only when the restart data covers the whole week. While the sampler has not
yet seen the whole period the report says so ("sampling since Tue 01 Dec 09:14 (UTC); 1 sample") instead. Every
workload with an incident or a remedy applied in the period is listed, with its time to resolve and how often each
remedy was applied (a repeat is a remedy that did not hold). Names from the cluster are escaped; nobody is
@-mentioned (a weekly digest should not ping the people who fixed things).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.reports.model import SOURCE_PROMETHEUS, Action, HotspotReport, RemedyUse, Suggestion, WorkloadStats
from bot.slack import blocks as sb
from runbooks.model import BRANCH_TITLES, Branch

BOT_ACTOR = "crashloop-bot"
COLUMNS = (
    "#",
    "workload",
    "kind",
    "restarts",
    "change",
    "OOM",
    "limit",
    "branch",
    "incidents",
    "resolve",
    "remedies",
    "actions",
)
NOT_COMPARED = "n/a"  # the change against a period the data does not reach


# --- shared wording ---------------------------------------------------------------------------------------------


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


def fallback_text(report: HotspotReport) -> str:
    """The message's `text` (notifications, screen readers)."""
    if report.empty:
        return f"Restart hotspots in {report.environment}: {nothing_text(report)}"
    top = ", ".join(f"{s.workload} {s.restarts}" for s in report.listed[:5])
    partial = f" ({sampling_text(report)})" if report.partial else ""
    return sb.clip(f"Restart hotspots in {report.environment}, {period_text(report)}{partial}: {top}", 3000)


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


def restarts_text(st: WorkloadStats) -> str:
    """e.g. "84", or "0 (+28 undated)" when older pods' restarts cannot be placed in the period."""
    return f"{st.restarts} (+{st.uncounted} undated)" if st.uncounted else str(st.restarts)


# --- Block Kit --------------------------------------------------------------------------------------------------


def report_blocks(report: HotspotReport, *, chart_in_thread: bool = True) -> list[sb.Block]:
    """The Slack message; suggestions with a proposal get a button into the guarded flow."""
    blocks = [sb.header(f"Restart hotspots · {report.environment} · {period_text(report)}")]
    if report.empty:
        icon = ":hourglass_flowing_sand:" if report.partial else ":white_check_mark:"
        blocks.append(sb.section(f"{icon} {sb.escape(_sentence(nothing_text(report)))}."))
        blocks.append(sb.context(sb.escape(source_text(report))))
        return blocks
    coverage = coverage_text(report)
    if coverage:
        blocks.append(sb.section(f":hourglass_flowing_sand: {sb.escape(coverage)}"))
    blocks.append(sb.section(_summary(report)))
    blocks += [sb.section(_workload(i, st, report)) for i, st in enumerate(report.top, 1)]
    if report.also:
        blocks += [sb.divider(), sb.section(f"*{_also_title()}*")]
        blocks += [sb.section(_workload(i, st, report)) for i, st in enumerate(report.also, len(report.top) + 1)]
    blocks += _suggestions(report.suggestions)
    note = " · restarts per day: chart in the thread" if chart_in_thread else ""
    blocks.append(sb.context(sb.escape(source_text(report)) + note))
    return sb.limit_blocks(blocks)


def _also_title() -> str:
    return "Also in the period: incidents or remedies applied"


def _summary(report: HotspotReport) -> str:
    n = len(report.top)
    days = length_text(report.period_end - report.period_start)
    against = (
        f"{change_text(report.total_restarts, report.total_before)} against the {days} before"
        if report.compared
        else f"no restart data for the {days} before to compare with"
    )
    return (
        f"*{n} workload{'s' if n != 1 else ''}* restarted more than {report.threshold} times. "
        f"All workloads: *{report.total_restarts}* restarts counted in {days}, {against}."
    )


def _workload(rank: int, st: WorkloadStats, report: HotspotReport) -> str:
    kind = f" ({st.kind})" if st.kind else ""
    change = f" {change_text(st.restarts, st.restarts_before)} (was {st.restarts_before})" if report.compared else ""
    lines = [f"*{rank}. `{sb.escape(st.label)}`*{kind} — *{restarts_text(st)} restarts*{change}"]
    details = []
    if st.oom_kills:
        at = f" at {st.memory_limit}" if st.memory_limit else ""
        details.append(f"{st.oom_kills} OOMKilled{at}")
    if st.dominant_branch:
        details.append(f"branch: {branch_text(st.dominant_branch)}")
    if st.incidents:
        details.append(incidents_text(st, report.period_end))
    if details:
        lines.append(" · ".join(details))
    if st.remedies:
        lines.append(f"Remedies applied: {sb.escape(remedies_text(st.remedies))}")
    lines.append(f"Actions: {sb.escape(actions_text(st.actions))}")
    return "\n".join(lines)


def _suggestions(suggestions: list[Suggestion]) -> list[sb.Block]:
    if not suggestions:
        return []
    blocks = [sb.divider(), sb.section("*Suggestions*")]
    for i, s in enumerate(suggestions):
        blocks.append(sb.section(f"• {sb.escape(s.text)}"))
        if s.proposal_id and s.remedy:
            label = f"Bump memory to {s.params.get('to')}" if s.params.get("to") else s.remedy.replace("_", " ")
            button = sb.button(f"{label} ({s.workload})", f"runbook.{s.remedy}", s.proposal_id)
            blocks.append(sb.actions(f"suggestion-{i}", [button]))
    return blocks


# --- plain text -------------------------------------------------------------------------------------------------


def report_text(report: HotspotReport) -> str:
    """The report for a terminal (`crashloop report hotspots`)."""
    lines = [f"Restart hotspots · {report.environment} · {period_text(report)}", source_text(report), ""]
    if report.empty:
        return "\n".join([*lines, _sentence(nothing_text(report)) + "."])
    coverage = coverage_text(report)
    if coverage:
        lines += [coverage, ""]
    lines.append(_summary(report).replace("*", ""))
    if report.also:
        lines.append(f"Rows after {len(report.top)}: {_also_title().lower()}.")
    lines.append("")
    rows: list[tuple[str, ...]] = [COLUMNS, *(_row(i, st, report) for i, st in enumerate(report.listed, 1))]
    widths = [max(len(r[c]) for r in rows) for c in range(len(COLUMNS) - 1)]
    lines += ["  ".join([*(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True)), r[-1]]) for r in rows]
    if report.suggestions:
        lines += ["", "Suggestions:"]
        lines += [f"  - {s.text}{_remedy_hint(report.environment, s)}" for s in report.suggestions]
    return "\n".join(lines)


def _row(rank: int, st: WorkloadStats, report: HotspotReport) -> tuple[str, ...]:
    incidents = f"{st.incidents} ({st.open_incidents} open)" if st.open_incidents else str(st.incidents)
    return (
        str(rank),
        st.label,
        st.kind or "-",
        restarts_text(st),
        change_text(st.restarts, st.restarts_before) if report.compared else NOT_COMPARED,
        str(st.oom_kills),
        st.memory_limit or "-",
        branch_text(st.dominant_branch),
        incidents,
        duration_text(st.mean_time_to_resolve),
        remedies_text(st.remedies),
        actions_text(st.actions),
    )


def _remedy_hint(environment: str, s: Suggestion) -> str:
    """The slash command that previews the suggested remedy (the guarded flow, as the button would)."""
    if not s.remedy:
        return ""
    params = "".join(f" {k}={v}" for k, v in s.params.items() if k != "from")
    return f"\n      → /crashloop {s.remedy} {environment} {s.workload}{params}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
