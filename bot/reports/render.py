"""The hotspot report as a Slack message (Block Kit, through `bot.slack.blocks`) and as plain text for the CLI.

The phrases both use are in `wording`.

An empty report is still a report: "no workload restarted more than N times" tells the channel the week was quiet
(and that the report is alive) — but only when the restart data covers the whole week. While the sampler has not
yet seen the whole period the report says so ("sampling since Tue 01 Dec 09:14 (UTC); 1 sample") instead. Every
workload with an incident or a remedy applied in the period is listed, with its time to resolve and how often each
remedy was applied (a repeat is a remedy that did not hold), and the remedy loops the guard stopped for a second
responder's approval (prevented, or approved anyway), per workload and in total. Names from the cluster are
escaped; nobody is @-mentioned (a weekly digest should not ping the people who fixed things).
"""

from __future__ import annotations

from bot.reports.model import HotspotReport, Suggestion, WorkloadStats
from bot.reports.wording import (
    actions_text,
    branch_text,
    change_text,
    coverage_text,
    duration_text,
    incidents_text,
    length_text,
    loops_summary,
    loops_text,
    nothing_text,
    period_text,
    remedies_text,
    restarts_text,
    sampling_text,
    source_text,
)
from bot.slack import blocks as sb

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
ALSO_PER_BLOCK = 5  # workloads listed for their incidents or remedies share sections: many stay within 50 blocks


def fallback_text(report: HotspotReport) -> str:
    """The message's `text` (notifications, screen readers)."""
    if report.empty:
        return f"Restart hotspots in {report.environment}: {nothing_text(report)}"
    top = ", ".join(f"{s.workload} {s.restarts}" for s in report.listed[:5])
    partial = f" ({sampling_text(report)})" if report.partial else ""
    return sb.clip(f"Restart hotspots in {report.environment}, {period_text(report)}{partial}: {top}", 3000)


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
        lines = [_workload(i, st, report) for i, st in enumerate(report.also, len(report.top) + 1)]
        blocks += [sb.section("\n\n".join(lines[i : i + ALSO_PER_BLOCK])) for i in range(0, len(lines), ALSO_PER_BLOCK)]
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
    loops = loops_summary(report)
    return (
        f"*{n} workload{'s' if n != 1 else ''}* restarted more than {report.threshold} times. "
        f"All workloads: *{report.total_restarts}* restarts counted in {days}, {against}."
    ) + (f"\n{loops}" if loops else "")


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
    if st.loops.guarded or st.loops.approved:
        lines.append(f"Remedy loops: {loops_text(st.loops)}")
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
        remedies_text(st.remedies)
        + (f"; loops {loops_text(st.loops)}" if st.loops.guarded or st.loops.approved else ""),
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
