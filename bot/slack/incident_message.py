"""The incident's root message and thread replies, from the incident's state and its last triage.

The root message is re-rendered from stored state on every change (counts, status, owner, resolution), so a
retry after a Slack failure posts exactly what the incident is now; times are Slack date tokens and durations
are computed at each render (`bot.slack.dates`). Its metadata (`crashloop_triage`) lets other Slack apps and
workflows read the incident without parsing text. The buttons about the incident itself (not a remedy) are one
list, `incident_actions`, in the actions block `incident`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.guard.repeats import Repeat
from bot.slack import blocks as sb
from bot.slack import resolved_message
from bot.slack.dates import duration, slack_date
from bot.store.changes import ChangeRow
from bot.store.rows import IncidentRow
from bot.store.silences import SilenceRow
from runbooks.model import Evidence, Finding

EVENT_TYPE = "crashloop_triage"
# "I'm on it" on the root message (value: incident id), and "Take over" in the offer a second click gets
# (value: "<incident id>:<owner it was offered from>"; see bot/slack/ownership_messages.py)
ACK_ACTION = "incident.ack"
TAKE_OVER_ACTION = "incident.take_over"


def body(
    ev: Evidence,
    finding: Finding,
    buttons: list[tuple[Any, str]],
    rerun_value: str,
    read_only: bool,
    sample_log: str | None,
    previous: dict[str, Any] | None = None,
    repeats: Mapping[str, Repeat] | None = None,
) -> dict[str, Any]:
    """The triage part of the root message, stored on the incident (`previous`: what was stored before;
    `repeats`: remedies in a loop, by id).

    Its `diagnosis` is what the resolved message keeps: the last triage that found a crash, not a later one that
    found the workload healthy again (after a fix, the last triage usually does).
    """
    focus = ev.focus
    term = (focus.last_termination or focus.terminated) if focus else None
    payload = {
        "environment": ev.environment,
        "namespace": ev.workload.namespace,
        "workload": ev.workload.name,
        "pod": ev.focus_pod or "",
        "container": ev.focus_container or "",
        "branch": str(finding.branch) if finding.branch else "none",
        "reason": (term.reason if term else None) or (focus.waiting_reason if focus else None) or "",
        "exit_code": term.exit_code if term and term.exit_code is not None else -1,
        # one meaning per key: `restarts` is the focus container's count (the number the message and the summary
        # show), `workload_restarts` the sum over the workload's pods; -1: unknown (as exit_code)
        "restarts": _known(ev.focus_restarts),
        "workload_restarts": ev.restarts,
    }
    blocks = sb.finding_blocks(
        ev,
        finding,
        buttons=buttons,
        rerun_value=rerun_value,
        read_only=read_only,
        sample_log=sample_log,
        repeats=repeats,
    )
    # what the resolved message keeps of the diagnosis once the evidence is no longer shown
    diagnosis = {"summary": finding.summary, "branch": payload["branch"], "quote": sb.decisive_quote(finding)}
    if finding.branch is None and (previous or {}).get("diagnosis"):
        diagnosis = dict((previous or {})["diagnosis"])
    return {"blocks": blocks, "text": sb.fallback_text(ev, finding), "metadata": payload, "diagnosis": diagnosis}


def digest(finding: Finding, ev: Evidence) -> str:
    """What the thread has been told: a change here is worth a thread reply."""
    focus = ev.focus
    term = (focus.last_termination or focus.terminated) if focus else None
    key = [str(finding.branch), finding.summary, term.reason if term else None, [r.id for r in finding.remedies]]
    return hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:32]


def root(incident: IncidentRow, now: datetime, changes: Sequence[ChangeRow] = ()) -> dict[str, Any]:
    """chat.postMessage / chat.update arguments for the incident's root message, rendered at `now`.

    `changes` are the incident's guarded changes: a resolved incident says what was done about it.
    """
    stored = incident.message or {}
    where = f"{incident.namespace}/{incident.workload}"
    if incident.status == "resolved":
        blocks = resolved_message.blocks(incident, changes, now)
        text = f"Resolved: {where} after {duration(incident.opened_at, incident.resolved_at or now)}"
    else:
        title = f"🔴 CrashLoopBackOff · {where}"
        if (stored.get("metadata") or {}).get("branch") == "none":  # the last triage found it healthy
            title = f"🟢 Healthy again · {where} (waiting for the alerts to resolve)"
        blocks = [sb.header(title), sb.context(status_line(incident, now))]
        blocks += [sb.context(line) for line in [owner_line(incident)] if line]
        blocks.append(sb.actions("incident", incident_actions(incident)))
        blocks += list(stored.get("blocks") or [sb.section(sb.escape(incident.summary or "triage pending"))])
        text = stored.get("text") or f"CrashLoopBackOff: {where}"
    payload = dict(stored.get("metadata") or _bare_payload(incident))
    payload["status"] = incident.status
    payload["incident_id"] = incident.id  # the key a lost post is found again by (see is_root_of)
    if incident.owner_id:
        payload["owner"] = incident.owner_id
    metadata = {"event_type": EVENT_TYPE, "event_payload": payload}
    return {"blocks": sb.limit_blocks(blocks), "text": text, "metadata": metadata}


def incident_actions(incident: IncidentRow) -> list[sb.Block]:
    """The buttons about the incident itself (not a remedy), in the root message's `incident` actions block."""
    return [sb.button("👤 I'm on it", ACK_ACTION, str(incident.id))]


def owner_line(incident: IncidentRow) -> str | None:
    """The owner line ("👤 @ana owns this since <date>"); None while nobody has acknowledged the incident."""
    if not incident.owner_id:
        return None
    since = f" since {slack_date(incident.owned_since)}" if incident.owned_since else ""
    return f"👤 {sb.mention(incident.owner_id, incident.owner_name)} owns this{since}"


def is_root_of(incident_id: int) -> Callable[[dict[str, Any]], bool]:
    """Whether a message's metadata marks it as the root message of incident `incident_id`."""

    def check(metadata: dict[str, Any]) -> bool:
        payload = metadata.get("event_payload") or {}
        return metadata.get("event_type") == EVENT_TYPE and payload.get("incident_id") == incident_id

    return check


def _bare_payload(incident: IncidentRow) -> dict[str, Any]:
    return {
        "environment": incident.environment,
        "namespace": incident.namespace,
        "workload": incident.workload,
        "pod": incident.pod or "",
        "container": incident.container or "",
        "branch": incident.branch or "none",
        "reason": incident.reason or "",
        "exit_code": incident.exit_code if incident.exit_code is not None else -1,
        "restarts": _known(incident.restarts),
        "workload_restarts": -1,  # not triaged: unknown
    }


def _known(count: int | None) -> int:
    """A count for the metadata, whose values are not null: -1 when unknown."""
    return -1 if count is None else count


def status_line(incident: IncidentRow, now: datetime) -> str:
    """Environment, kind, alerts, since when and for how long it fires, when the message was last brought up to
    date: the duration is computed at `now`, each time the message is rendered."""
    names = ", ".join(incident.alertnames[:3]) or "alert"
    if incident.status == "resolved":
        state = "resolved"
    else:
        state = f"firing for {duration(incident.opened_at, now)} (since {slack_date(incident.opened_at)})"
    return (
        f"*{incident.environment}* · {incident.kind or 'workload'} · {sb.escape(names)} · "
        f"{incident.alert_count} alert(s) · {state} · updated {slack_date(now)}"
    )


def update_reply(old_summary: str | None, finding: Finding) -> str:
    """A thread reply saying what is new."""
    was = f" (was: {sb.escape(old_summary)})" if old_summary and old_summary != finding.summary else ""
    step = finding.remedies[0].title if finding.remedies else finding.next_step
    decisive = sb.decisive_quote(finding)  # the line the call was made on
    quote = f"\n> {sb.code_span(decisive, 300)}" if decisive else ""
    tail = f"\nNext step: {sb.escape(step)}" if step else ""
    return f"*Update:* {sb.escape(finding.summary)}{was}{quote}{tail}"


# --- the workload's silence (kept apart from the root message's own rendering) ---------------------------------


def silence_blocks(incident_id: int, silence: SilenceRow | None, *, offer: bool) -> list[dict[str, Any]]:
    """ "🔕 silenced until … by @user" with Unsilence while the bot's silence is in force, else a Silence button
    where the environment has an Alertmanager (`offer`); nothing otherwise."""
    if silence is not None:
        text = (
            f"🔕 Alerts silenced until {slack_date(silence.ends_at)} "
            f"by {sb.mention(silence.created_by, silence.created_by_name)} (Alertmanager silence `{silence.id}`)"
        )
        unsilence = sb.button("🔔 Unsilence", "silence.unsilence", silence.id)
        return [sb.context(text), sb.actions("silence", [unsilence])]
    if offer:
        return [sb.actions("silence", [sb.button("🔕 Silence alerts…", "silence.open", str(incident_id))])]
    return []


def with_silence(payload: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The root message's arguments with the silence blocks under its header and status line."""
    if not blocks:
        return payload
    shown = list(payload["blocks"])
    return {**payload, "blocks": sb.limit_blocks([*shown[:2], *blocks, *shown[2:]])}
