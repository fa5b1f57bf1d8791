"""The hotspot report as a Slack message (Block Kit, through `bot.slack.blocks`) and as plain text for the CLI.

An empty report is still a report: "no workload restarted more than N times" tells the channel the week was quiet
(and that the report is alive). Names from the cluster are escaped; nobody is @-mentioned (a weekly digest should
not ping the people who fixed things).
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.reports.model import SOURCE_PROMETHEUS, Action, HotspotReport, Suggestion, WorkloadStats
from bot.slack import blocks as sb
from runbooks.model import BRANCH_TITLES, Branch

BOT_ACTOR = "crashloop-bot"
COLUMNS = ("#", "workload", "kind", "restarts", "change", "OOM", "limit", "branch", "incidents", "resolve", "actions")


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


def fallback_text(report: HotspotReport) -> str:
    """The message's `text` (notifications, screen readers)."""
    if report.empty:
        return f"Restart hotspots in {report.environment}: {nothing_text(report)}"
    top = ", ".join(f"{s.workload} {s.restarts}" for s in report.top[:5])
    return sb.clip(f"Restart hotspots in {report.environment}, {period_text(report)}: {top}", 3000)


def nothing_text(report: HotspotReport) -> str:
    return f"no workload restarted more than {report.threshold} times in {report.environment} ({period_text(report)})"


# --- Block Kit --------------------------------------------------------------------------------------------------


def report_blocks(report: HotspotReport, *, chart_in_thread: bool = True) -> list[sb.Block]:
    """The Slack message; suggestions with a proposal get a button into the guarded flow."""
    blocks = [sb.header(f"Restart hotspots · {report.environment} · {period_text(report)}")]
    if report.empty:
        blocks.append(sb.section(f":white_check_mark: {sb.escape(_sentence(nothing_text(report)))}."))
        blocks.append(sb.context(sb.escape(source_text(report))))
        return blocks
    blocks.append(sb.section(_summary(report)))
    blocks += [sb.section(_workload(i, st)) for i, st in enumerate(report.top, 1)]
    blocks += _suggestions(report.suggestions)
    note = " · restarts per day: chart in the thread" if chart_in_thread else ""
    blocks.append(sb.context(sb.escape(source_text(report)) + note))
    return sb.limit_blocks(blocks)


def _summary(report: HotspotReport) -> str:
    n = len(report.top)
    days = length_text(report.period_end - report.period_start)
    return (
        f"*{n} workload{'s' if n != 1 else ''}* restarted more than {report.threshold} times. "
        f"All workloads: *{report.total_restarts}* restarts in {days}, "
        f"{change_text(report.total_restarts, report.total_before)} against the {days} before."
    )


def _workload(rank: int, st: WorkloadStats) -> str:
    kind = f" ({st.kind})" if st.kind else ""
    lines = [
        f"*{rank}. `{sb.escape(st.label)}`*{kind} — *{st.restarts} restarts* "
        f"{change_text(st.restarts, st.restarts_before)} (was {st.restarts_before})"
    ]
    details = []
    if st.oom_kills:
        at = f" at {st.memory_limit}" if st.memory_limit else ""
        details.append(f"{st.oom_kills} OOMKilled{at}")
    if st.dominant_branch:
        details.append(f"branch: {branch_text(st.dominant_branch)}")
    if st.incidents_opened:
        details.append(f"{st.incidents_opened} incident(s), time to resolve {duration_text(st.mean_time_to_resolve)}")
    if details:
        lines.append(" · ".join(details))
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
    lines.append(_summary(report).replace("*", ""))
    lines.append("")
    rows: list[tuple[str, ...]] = [COLUMNS, *(_row(i, st) for i, st in enumerate(report.top, 1))]
    widths = [max(len(r[c]) for r in rows) for c in range(len(COLUMNS) - 1)]
    lines += ["  ".join([*(v.ljust(w) for v, w in zip(r[:-1], widths, strict=True)), r[-1]]) for r in rows]
    if report.suggestions:
        lines += ["", "Suggestions:"]
        lines += [f"  - {s.text}{_remedy_hint(report.environment, s)}" for s in report.suggestions]
    return "\n".join(lines)


def _row(rank: int, st: WorkloadStats) -> tuple[str, ...]:
    return (
        str(rank),
        st.label,
        st.kind or "-",
        str(st.restarts),
        change_text(st.restarts, st.restarts_before),
        str(st.oom_kills),
        st.memory_limit or "-",
        branch_text(st.dominant_branch),
        str(st.incidents_opened),
        duration_text(st.mean_time_to_resolve),
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
