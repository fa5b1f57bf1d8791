"""The triage as plain text for a terminal: what is wrong, why, the evidence, and the one safe next step.

Read at 3 a.m.: the verdict and the next step come first, the evidence after, and nothing needs scrolling
sideways. Every remedy is also shown as the kubectl command it corresponds to.
"""

from __future__ import annotations

from datetime import datetime

from bot.remedies.registry import kubectl_command
from bot.triage.run import TriageResult
from runbooks.matching import group_events, read_failure_lines
from runbooks.model import BRANCH_TITLES, Event, Evidence, Finding
from runbooks.signals import describe_exit

LOG_LINES_SHOWN = 25
EVENTS_SHOWN = 12


def render(result: TriageResult) -> str:
    ev, finding = result.evidence, result.finding
    sections = [
        _header(ev, finding, result.seconds),
        _why(finding),
        _proposal(finding),
        _next(ev, finding),
        _logs(ev),
        _events(ev),
        _rollout(ev),
        _refs(ev),
        _failures(ev),
    ]
    return "\n\n".join(s for s in sections if s)


def _header(ev: Evidence, finding: Finding, seconds: float) -> str:
    w = ev.workload
    status = "CRASHING" if finding.branch else "OK"
    lines = [f"{status}  {w.kind} {w.namespace}/{w.name}  [{ev.environment}]  (triaged in {seconds:.2f}s)"]
    lines.append(f"  {finding.summary}")
    if finding.branch:
        alt = (
            f"; also possible: {', '.join(BRANCH_TITLES[b] for b in finding.alternatives)}"
            if finding.alternatives
            else ""
        )
        lines.append(f"  Branch: {BRANCH_TITLES[finding.branch]} (confidence {finding.confidence:.0%}){alt}")
    c = ev.focus
    if c is not None:
        term = c.last_termination or c.terminated
        state = c.waiting_reason or ("running" if c.running_since else "not running")
        exit_text = describe_exit(term.exit_code, term.signal) if term else "no termination recorded"
        reason = term.reason if term else "-"
        kind = "init container" if c.init else "container"
        lines.append(f"  Pod {ev.focus_pod}  {kind} {c.name}  state {state}  restarts {c.restart_count}")
        lines.append(f"  Last exit: reason {reason}, exit {exit_text}")
    ready = sum(1 for p in ev.pods if p.ready)
    lines.append(f"  Pods ready: {ready}/{len(ev.pods)}  workload restarts: {ev.restarts}")
    return "\n".join(lines)


def _why(finding: Finding) -> str:
    if not finding.reasons:
        return ""
    lines = ["WHY"]
    for r in finding.reasons:
        lines.append(f"  • {r.text}")
        if r.quote:
            lines.append(f"      > {r.quote}")
    return "\n".join(lines)


def _next(ev: Evidence, finding: Finding) -> str:
    if finding.branch is None:
        return ""
    lines = ["NEXT STEP"]
    if not finding.remedies:
        lines.append(f"  {finding.next_step or 'read the evidence below'}")
    for i, remedy in enumerate(finding.remedies, 1):
        lines.append(f"  {i}. {remedy.title}" + (f"  ({remedy.why})" if remedy.why else ""))
        command = kubectl_command(ev.workload, remedy)
        if command:
            lines.extend(f"       $ {part}" for part in command)
    if finding.success_criteria:
        lines.append(f"  Success when: {finding.success_criteria}")
    return "\n".join(lines)


def _proposal(finding: Finding) -> str:
    if not finding.proposal:
        return ""
    lines = ["PROPOSED RBAC (review it; the bot never applies it)"]
    lines.extend(f"  {line}" for line in finding.proposal.rstrip().splitlines())
    return "\n".join(lines)


def _logs(ev: Evidence) -> str:
    log = ev.focus_logs()
    if log is None:
        return ""
    which = "--previous (the crashed run)" if log.previous else "current"
    head = f"LOGS {log.pod}/{log.container}, {which}, last {min(len(log.lines), LOG_LINES_SHOWN)} lines"
    lines = [head + (f" — {log.note}" if log.note else "")]
    lines.extend(f"  | {line}" for line in log.lines[-LOG_LINES_SHOWN:])
    return "\n".join(lines)


def _events(ev: Evidence) -> str:
    if not ev.events:
        return ""
    lines = ["EVENTS (oldest first; an event several pods report is shown once, with the pod count)"]
    shown: set[tuple[str, str]] = set()
    groups = {(g.reason, g.message): g for g in group_events(ev.events)}
    for e in ev.events[-EVENTS_SHOWN * 3 :]:
        group = next((g for g in groups.values() if g.reason == e.reason and _same(g.message, e)), None)
        key = (group.reason, group.message) if group else (e.reason, e.message)
        if key in shown:
            continue
        shown.add(key)
        count = group.count if group else e.count
        pods = f" ({group.pods} pods)" if group and group.pods > 1 else f" {e.object_kind}/{e.object_name}"
        times = f" x{count}" if count > 1 else ""
        lines.append(f"  {_clock(e.last_seen)}  {e.type:<7} {e.reason}{times}{pods}: {e.message}")
    return "\n".join(lines[: EVENTS_SHOWN + 1])


def _same(message: str, e: Event) -> bool:
    return message == e.message or message.replace(e.object_name, "") == e.message.replace(e.object_name, "")


def _rollout(ev: Evidence) -> str:
    r = ev.rollout
    if r is None or r.current is None:
        return ""
    lines = ["ROLLOUT"]
    for rev in reversed(r.revisions[-3:]):
        tag = "current" if rev is r.current else "previous" if rev is r.previous else "older"
        images = ", ".join(sorted(set(rev.images.values())))
        lines.append(f"  revision {rev.number} ({tag}, created {_clock(rev.created)}): {images}")
    if r.changes:
        lines.append("  changed from the previous revision:")
        lines.extend(f"    - {c.line()}" for c in r.changes)
    return "\n".join(lines)


def _refs(ev: Evidence) -> str:
    refs = [(c.name, r) for c in ev.workload.containers for r in c.refs]
    if not refs and ev.service_account_exists is not False:
        return ""
    lines = ["REFERENCES"]
    sa_state = {True: "exists", False: "MISSING", None: "unknown"}[ev.service_account_exists]
    lines.append(f"  ServiceAccount {ev.workload.service_account}: {sa_state}")
    for container, r in refs:
        state = {True: "exists", False: "MISSING", None: "unknown (could not check)"}[r.exists]
        var = f" as {r.env_var}" if r.env_var else ""
        lines.append(f"  {container}: {r.kind} {r.name} ({r.via}{var}): {state}")
    return "\n".join(lines)


def _failures(ev: Evidence) -> str:
    if not ev.failures:
        return ""
    lines = ["COULD NOT READ (the triage went on without it)"]
    messages = {f"{f.what}: {f.status}": f.message for f in ev.failures}
    lines.extend(
        f"  - {line}" + (f" — {messages[line]}" if line in messages else "") for line in read_failure_lines(ev.failures)
    )
    return "\n".join(lines)


def _clock(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S") if when else "-"
