"""All Block Kit the bot sends, built in one place that enforces Slack's limits.

Slack rejects a message with more than 50 blocks, a section text over 3000 characters, a header over 150, a
button label over 75, more than 10 fields or 25 elements in an actions block. Everything here goes through
`section()`, `header()`… which truncate *visibly* ("… (truncated)") instead of letting Slack refuse the message.
Text from the cluster is escaped (`&`, `<`, `>`), which also defuses `<!channel>`-style mentions in logs.
Pure: takes findings and incidents, returns lists of dicts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.guard.repeats import APPROVAL_NOTE, Repeat
from bot.slack.dates import slack_date
from runbooks.matching import group_events, read_failure_lines
from runbooks.model import BRANCH_TITLES, Evidence, Finding, Reason, Remedy
from runbooks.signals import describe_exit

Block = dict[str, Any]
MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150
MAX_BUTTON = 75
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_ACTIONS = 25
MAX_CONTEXT = 10
MAX_TEXT = 40000  # the top-level `text` fallback
LOG_LINES_IN_MESSAGE = 15
TRUNCATED = "… (truncated)"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# a pod UID in the forms events carry it, and only those: "pod web-1_shop(UID)" (kubelet's name_namespace(uid),
# the paren right after the name), "(UID: …)", "pod_uid=…", "uid: …". A bare UUID is left alone: it is part of a
# name ("volume pvc-<uuid>") or an id someone needs (a cloud request id). No unbounded run before a literal: each
# position is tried in constant time, so a long whitespace run in an event message costs linear time.
_UID = re.compile(
    rf"(?<=[a-z0-9])\({_UUID}\)"
    rf"| ?\((?:pod[_ ]?)?uid ?[:=] ?{_UUID}\)"
    rf"| ?\b(?:pod[_ ]?)?uid ?[:=] ?{_UUID}\b",
    re.I,
)
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_FORMATTING = re.compile(r"[*_~`]")
BACKTICK_LOOKALIKE = "ˋ"  # U+02CB: what a backtick in text shown as code becomes


def escape(text: str) -> str:
    """Slack mrkdwn escaping: also turns `<!channel>`/`<@U…>` in untrusted text into plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def strip_uids(text: str) -> str:
    """Event text without object UIDs: noise to a reader, and they keep the same event from grouping."""
    return re.sub(r"  +", " ", _UID.sub("", text)).strip()


def code_span(text: str, limit: int | None = None) -> str:
    """`text` (cut to `limit` first, then escaped once) as inline code: nothing in it formats, and a backtick,
    which would end the span early, is shown as a lookalike (ˋ)."""
    shown = text if limit is None else clip(text, limit)
    return f"`{escape(shown).replace('`', BACKTICK_LOOKALIKE)}`"


def inert(text: str) -> str:
    """User- or cluster-supplied text (a name) that must read as itself: escaped; if it holds a character that
    formats in mrkdwn (`*_~` or a backtick), shown as inline code, where none of them formats."""
    return code_span(text) if _FORMATTING.search(text) else escape(text)


def mention(user_id: str, name: str | None = None) -> str:
    """A Slack user as a mention (`<@U…>`); anyone else (`cli:ana`, `bot`) by name, made inert."""
    if _SLACK_USER.match(user_id):
        return f"<@{user_id}>"
    return inert(name or user_id)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER), "emoji": True}}


def section(markdown: str, fields: Sequence[str] = ()) -> Block:
    """A section; text may be empty only when there are fields (Slack refuses an empty text object)."""
    block: Block = {"type": "section"}
    if markdown or not fields:
        block["text"] = {"type": "mrkdwn", "text": clip(markdown or " ", MAX_SECTION)}
    if fields:
        block["fields"] = [{"type": "mrkdwn", "text": clip(f, MAX_FIELD)} for f in fields[:MAX_FIELDS]]
    return block


def code_section(title: str, lines: Sequence[str]) -> Block:
    """A titled code block that keeps the *last* lines when it must be cut (the crash is at the end)."""
    body = "\n".join(escape(line) for line in lines).replace("```", BACKTICK_LOOKALIKE * 3)
    room = MAX_SECTION - len(title) - 10
    if len(body) > room:
        body = "…\n" + body[-(room - 2) :]
    return section(f"{title}\n```{body}```")


def context(*parts: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip(p, MAX_SECTION)} for p in parts[:MAX_CONTEXT]],
    }


def divider() -> Block:
    return {"type": "divider"}


def button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    b: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(label, MAX_BUTTON), "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        b["style"] = style
    return b


def actions(block_id: str, elements: Sequence[Block]) -> Block:
    return {"type": "actions", "block_id": block_id, "elements": list(elements[:MAX_ACTIONS])}


def person(user: str) -> str:
    """A Slack user as a mention; anyone else by their id (`cli:ana`: it was done from a terminal)."""
    return f"<@{user}>" if user[:1] in ("U", "W") else escape(user)


def loop_text(repeat: Repeat) -> str:
    """The remedy-loop warning: what was done before, what the workload shows now, who must approve, what next."""
    p = repeat.previous
    done = repeat.sentence(when=slack_date(repeat.applied_at), who=person(p.requested_by), esc=escape)
    return (
        f":repeat: *Remedy loop* — {done}\n{APPROVAL_NOTE}, even where the environment does not require one.\n"
        f"*Next branch* — {escape(repeat.next.text)}"
    )


def limit_blocks(blocks: list[Block]) -> list[Block]:
    """At most 50 blocks; when cut, the last one says so."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    return [*blocks[: MAX_BLOCKS - 1], context(f"{len(blocks) - MAX_BLOCKS + 1} more blocks {TRUNCATED}")]


# --- the triage message ---------------------------------------------------------------------------------


def finding_blocks(
    ev: Evidence,
    finding: Finding,
    *,
    buttons: Sequence[tuple[Remedy, str]] = (),
    rerun_value: str | None = None,
    read_only: bool = False,
    sample_log: str | None = None,
    repeats: Mapping[str, Repeat] | None = None,
) -> list[Block]:
    """The body of a triage: verdict, why (quoted), status fields, logs, events, rollout, remedies; a remedy
    applied recently (`repeats`, by remedy id) is offered with the remedy-loop warning and needs approval."""
    blocks = [section(_verdict(finding)), section("", _fields(ev)) if ev.focus else None]
    blocks += [_why(finding), _proposal(finding), _logs(ev), _sample(sample_log), _events(ev)]
    blocks += [_rollout(ev), _failures(ev)]
    blocks += _remedies(ev, finding, buttons, rerun_value, read_only, repeats or {})
    return limit_blocks([b for b in blocks if b])


def _verdict(finding: Finding) -> str:
    if finding.branch is None:
        return f":white_check_mark: {escape(finding.summary)}"
    title = BRANCH_TITLES[finding.branch]
    return f"*{escape(finding.summary)}*\nRunbook branch: *{title}* · confidence {finding.confidence:.0%}"


def _fields(ev: Evidence) -> list[str]:
    c = ev.focus
    if c is None:
        return []
    term = c.last_termination or c.terminated
    exit_text = describe_exit(term.exit_code, term.signal) if term else "none recorded"
    kind = "init container" if c.init else "container"
    return [
        f"*Pod*\n`{escape(ev.focus_pod or '-')}`",
        f"*{kind.capitalize()}*\n`{escape(c.name)}`",
        f"*Reason*\n{escape((term.reason if term else None) or c.waiting_reason or '-')}",
        f"*Exit code*\n{escape(exit_text)}",
        f"*State*\n{escape(c.waiting_reason or ('running' if c.running_since else '-'))}",
        f"*Restarts*\n{c.restart_count} (pods ready {sum(p.ready for p in ev.pods)}/{len(ev.pods)})",
    ]


def _why(finding: Finding) -> Block | None:
    if not finding.reasons:
        return None
    lines = ["*Why*"]
    for r in finding.reasons[:8]:
        lines.append(f"• {escape(r.text)}")
        if r.quote:
            lines.append(f"> {code_span(shown_quote(r), 400)}")
    return section("\n".join(lines))


def shown_quote(reason: Reason) -> str:
    """A reason's quoted line as shown: an event's without its object UID."""
    quote = reason.quote or ""
    return strip_uids(quote) if reason.source == "events" else quote


def decisive_quote(finding: Finding) -> str | None:
    """The line the call was made on (the first quoted reason), as shown."""
    return next((shown_quote(r) for r in finding.reasons if r.quote), None)


def _proposal(finding: Finding) -> Block | None:
    """Reviewable YAML (the Role + RoleBinding granting exactly the missing verb): shown, never applied."""
    if not finding.proposal:
        return None
    return code_section("*Proposed RBAC* (review it; the bot never applies it)", finding.proposal.splitlines())


def _logs(ev: Evidence) -> Block | None:
    log = ev.focus_logs()
    if log is None or not log.lines:
        return None
    which = "`logs --previous`" if log.previous else "current logs"
    note = f" — {escape(log.note)}" if log.note else ""
    shown = log.lines[-LOG_LINES_IN_MESSAGE:]
    return code_section(f"*Last {len(shown)} lines* ({which}, `{escape(log.container)}`){note}", shown)


def _sample(sample_log: str | None) -> Block | None:
    if not sample_log:
        return None
    return code_section("*Sample log from the alert*", sample_log.splitlines()[-LOG_LINES_IN_MESSAGE:])


def _events(ev: Evidence) -> Block | None:
    if not ev.events:
        return None
    shown = [replace(e, message=strip_uids(e.message)) for e in ev.events]
    warnings = group_events(e for e in shown if e.type == "Warning")
    normal = group_events(e for e in shown if e.type != "Warning")
    lines = ["*Top events*"]
    for g in [*warnings, *normal][:6]:  # each distinct event once, with how many pods reported it
        count = f" ×{g.count}" if g.count > 1 else ""
        pods = f" ({g.pods} pods)" if g.pods > 1 else ""
        lines.append(f"• {code_span(g.reason)}{count}{pods} {escape(clip(g.message, 300))}")
    return section("\n".join(lines))


def _rollout(ev: Evidence) -> Block | None:
    r = ev.rollout
    if r is None or r.current is None:
        return None
    when = _ago(ev.collected_at, r.current.created)
    lines = [f"*Last rollout*: revision {r.current.number}{when}"]
    lines.extend(f"• {escape(c.line())}" for c in r.changes[:6])
    if not r.changes and r.previous is None:
        lines.append("• first revision")
    return section("\n".join(lines))


def _failures(ev: Evidence) -> Block | None:
    if not ev.failures:
        return None
    text = "; ".join(read_failure_lines(ev.failures)[:5])
    return context(f":warning: Could not read {escape(text)}")


def _remedies(
    ev: Evidence,
    finding: Finding,
    buttons: Sequence[tuple[Remedy, str]],
    rerun_value: str | None,
    read_only: bool,
    repeats: Mapping[str, Repeat],
) -> list[Block]:
    out: list[Block] = []
    if finding.branch is not None:
        first = finding.remedies[0] if finding.remedies else None
        looping = repeats.get(str(first.id)) if first else None
        step = looping.next.text if looping else (first.title if first else finding.next_step)
        if step:
            out.append(section(f"*Next step*: {escape(step)}"))
    out += [section(loop_text(r)) for r in repeats.values()]
    elements = []
    if not read_only:
        for i, (remedy, proposal_id) in enumerate(buttons):
            # A repeated remedy keeps its button (a stopgap may be right), labelled and never the primary one.
            again = str(remedy.id) in repeats
            label = f"{remedy.title} again (needs approval)" if again else remedy.title
            style = "primary" if i == 0 and not again else None
            elements.append(button(label, f"runbook.{remedy.id}", proposal_id, style))
    if rerun_value:
        elements.append(button("Re-run triage", "triage.rerun", rerun_value))
    if elements:
        out.append(actions("remedies", elements))
    notes = []
    if read_only and buttons:
        notes.append(":lock: read-only mode: changes are disabled")
    if finding.success_criteria:
        notes.append(f"Success when: {escape(finding.success_criteria)}")
    if notes:
        out.append(context(*notes))
    return out


def _ago(now: datetime | None, then: datetime | None) -> str:
    if now is None or then is None:
        return ""
    minutes = int((now - then).total_seconds() // 60)
    if minutes < 120:
        return f", rolled out {minutes}m ago"
    return f", rolled out {minutes // 60}h ago" if minutes < 48 * 60 else f", rolled out {minutes // 1440}d ago"


def fallback_text(ev: Evidence, finding: Finding) -> str:
    """The `text` of the message: notifications and screen readers show this."""
    w = ev.workload
    branch = BRANCH_TITLES[finding.branch] if finding.branch else "healthy"
    return clip(f"{w.namespace}/{w.name}: {finding.summary} [{branch}]", 3000)
