"""The incident's root message and thread replies, from the incident's state and its last triage.

The root message is re-rendered from stored state on every change (counts, status, resolution), so a retry
after a Slack failure posts exactly what the incident is now. Its metadata (`crashloop_triage`) lets other
Slack apps and workflows read the incident without parsing text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from bot.guard.repeats import Repeat
from bot.slack import blocks as sb
from bot.store.rows import IncidentRow
from runbooks.model import Evidence, Finding

EVENT_TYPE = "crashloop_triage"


def body(
    ev: Evidence,
    finding: Finding,
    buttons: list[tuple[Any, str]],
    rerun_value: str,
    read_only: bool,
    sample_log: str | None,
    repeats: Mapping[str, Repeat] | None = None,
) -> dict[str, Any]:
    """The triage part of the root message, stored on the incident (`repeats`: remedies in a loop, by id)."""
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
        "restarts": ev.restarts,
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
    return {"blocks": blocks, "text": sb.fallback_text(ev, finding), "metadata": payload}


def digest(finding: Finding, ev: Evidence) -> str:
    """What the thread has been told: a change here is worth a thread reply."""
    focus = ev.focus
    term = (focus.last_termination or focus.terminated) if focus else None
    key = [str(finding.branch), finding.summary, term.reason if term else None, [r.id for r in finding.remedies]]
    return hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:32]


def root(incident: IncidentRow, now: datetime) -> dict[str, Any]:
    """chat.postMessage / chat.update arguments for the incident's root message."""
    stored = incident.message or {}
    where = f"{incident.namespace}/{incident.workload}"
    if incident.status == "resolved":
        title = f"✅ Resolved after {_duration(incident.opened_at, incident.resolved_at or now)} · {where}"
        blocks = [sb.header(title), sb.context(_status_line(incident, now))]
        if incident.summary:
            blocks.append(sb.section(f"~{sb.escape(incident.summary)}~"))
        text = f"Resolved: {where} after {_duration(incident.opened_at, incident.resolved_at or now)}"
    else:
        title = f"🔴 CrashLoopBackOff · {where}"
        if (stored.get("metadata") or {}).get("branch") == "none":  # the last triage found it healthy
            title = f"🟢 Healthy again · {where} (waiting for the alerts to resolve)"
        blocks = [sb.header(title), sb.context(_status_line(incident, now))]
        blocks += list(stored.get("blocks") or [sb.section(sb.escape(incident.summary or "triage pending"))])
        text = stored.get("text") or f"CrashLoopBackOff: {where}"
    payload = dict(stored.get("metadata") or _bare_payload(incident))
    payload["status"] = incident.status
    payload["incident_id"] = incident.id  # the key a lost post is found again by (see is_root_of)
    metadata = {"event_type": EVENT_TYPE, "event_payload": payload}
    return {"blocks": sb.limit_blocks(blocks), "text": text, "metadata": metadata}


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
        "restarts": incident.restarts or 0,
    }


def _status_line(incident: IncidentRow, now: datetime) -> str:
    names = ", ".join(incident.alertnames[:3]) or "alert"
    state = "resolved" if incident.status == "resolved" else f"firing {_duration(incident.opened_at, now)}"
    updated = (incident.updated_at or now).strftime("%H:%M:%S UTC")
    return (
        f"*{incident.environment}* · {incident.kind or 'workload'} · {sb.escape(names)} · "
        f"{incident.alert_count} alert(s) · {state} · updated {updated}"
    )


def update_reply(old_summary: str | None, finding: Finding) -> str:
    """A thread reply saying what is new."""
    was = f" (was: {sb.escape(old_summary)})" if old_summary and old_summary != finding.summary else ""
    step = finding.remedies[0].title if finding.remedies else finding.next_step
    decisive = next((r.quote for r in finding.reasons if r.quote), None)  # the line the call was made on
    quote = f"\n> `{sb.escape(decisive)[:300]}`" if decisive else ""
    tail = f"\nNext step: {sb.escape(step)}" if step else ""
    return f"*Update:* {sb.escape(finding.summary)}{was}{quote}{tail}"


def _duration(start: datetime, end: datetime) -> str:
    seconds = max(0, int((end - start).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"
