"""The root message of a resolved incident: the story of the incident, not a struck-through line.

Once an incident resolves, the evidence blocks and buttons go (they described a state that is over), and what a
reader scrolling back wants stays: what the bot diagnosed (runbook branch and the quoted decisive line), what
was done about it (each guarded change: remedy, what it changed, who asked and approved, whether the workload
recovered), who owned it, and how long it lasted (first firing to resolution), times as Slack date tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.remedies.registry import title_of
from bot.slack import blocks as sb
from bot.slack.dates import duration, slack_date
from bot.store.changes import ChangeRow
from bot.store.rows import IncidentRow
from runbooks.model import BRANCH_TITLES, Branch

MAX_CHANGES = 10
BRANCH_VALUES = frozenset(b.value for b in Branch)
# a change's state as the resolved message says it (states the guard moves a change through, bot/guard/flow.py)
OUTCOMES = {
    "verified": "✅ applied, verified: the workload recovered",
    "not_recovered": "⚠️ applied, but the workload did not recover",
    "verifying": "⏳ applied, not verified yet",
    "applying": "⏳ being applied",
    "failed": "❌ failed",
    "cancelled": "cancelled before it was applied",
    "rejected": "rejected by the approver",
    "expired": "expired before it was applied",
    "previewed": "previewed, never confirmed",
    "awaiting_approval": "awaiting approval",
}


def blocks(incident: IncidentRow, changes: Sequence[ChangeRow], now: datetime) -> list[sb.Block]:
    """Header, when and how long, the diagnosis, what was done, who owned it."""
    where = f"{incident.namespace}/{incident.workload}"
    end = incident.resolved_at or now
    took = duration(incident.opened_at, end)
    names = ", ".join(incident.alertnames[:3]) or "alert"
    when = (
        f"*{incident.environment}* · {incident.kind or 'workload'} · {sb.escape(names)} · "
        f"{incident.alert_count} alert(s) · first firing {slack_date(incident.opened_at)} · "
        f"resolved {slack_date(end)} · took {took}"
    )
    out = [sb.header(f"✅ Resolved after {took} · {where}"), sb.context(when)]
    out.append(sb.section(_diagnosis(incident)))
    out.append(sb.section(_what_was_done(changes)))
    out.append(sb.context(_owner(incident)))
    return out


def _diagnosis(incident: IncidentRow) -> str:
    stored: dict[str, Any] = (incident.message or {}).get("diagnosis") or {}
    summary = stored.get("summary") or incident.summary or "no triage was recorded"
    branch = stored.get("branch") or incident.branch
    lines = [f"*Diagnosis*: {sb.escape(summary)}"]
    if branch in BRANCH_VALUES:
        lines.append(f"Runbook branch: *{BRANCH_TITLES[Branch(branch)]}*")
    if stored.get("quote"):
        lines.append(f"> {sb.code_span(str(stored['quote']), 400)}")
    return "\n".join(lines)


def _what_was_done(changes: Sequence[ChangeRow]) -> str:
    if not changes:
        return "*What was done*\n• no change through the bot: it recovered on its own or was fixed elsewhere"
    lines = ["*What was done*"]
    for change in changes[-MAX_CHANGES:]:
        what = f" — {sb.escape(change.summary)}" if change.summary else ""
        by = f"by {sb.mention(change.requested_by, change.requested_by_name)}"
        if change.approved_by:
            by += f", approved by {sb.mention(change.approved_by, change.approved_by_name)}"
        outcome = OUTCOMES.get(change.state, sb.escape(change.state))
        lines.append(
            f"• *{sb.escape(title_of(change.remedy))}*{what} · {by} · {slack_date(change.updated_at)} · {outcome}"
        )
    if len(changes) > MAX_CHANGES:
        lines.append(f"• … and {len(changes) - MAX_CHANGES} earlier change(s) (`crashloop audit list` shows them)")
    return "\n".join(lines)


def _owner(incident: IncidentRow) -> str:
    if not incident.owner_id:
        return "👤 Nobody said they were on it"
    since = f" since {slack_date(incident.owned_since)}" if incident.owned_since else ""
    return f"👤 Owned by {sb.mention(incident.owner_id, incident.owner_name)}{since}"
