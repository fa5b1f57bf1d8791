"""What the change flow's outcomes look like in Slack: answers to the clicker, thread posts, settled buttons.

Pure Block Kit from `bot.guard.outcomes`; the guard decides, this module only renders. A repeated remedy (a
remedy loop, `bot.guard.repeats`) carries its warning into the preview, the answer and the approval request, so
the requester and the approver read the same thing.
"""

from __future__ import annotations

from typing import Any

from bot.guard.outcomes import (
    Applied,
    AwaitingApproval,
    Conflict,
    Ended,
    Failed,
    MayRequest,
    NotRecovered,
    Outcome,
    Previewed,
    Refused,
    Uncertain,
    Verified,
    title,
)
from bot.guard.repeats import Repeat
from bot.remedies.registry import is_silencing
from bot.slack import blocks as sb
from bot.slack.dates import slack_date
from bot.store.changes import ChangeRow
from runbooks.model import RemedyId

Blocks = list[dict[str, Any]]

# Where a message's buttons are still live: the preview while previewed, the approval request while awaiting.
LIVE_STATES = {"preview": ("previewed",), "approval": ("awaiting_approval",)}
_STATE_WORDS = {
    "previewed": "previewed, waiting for the requester to confirm",
    "awaiting_approval": "waiting for a second responder's approval",
    "applying": "being applied",
    "verifying": "applied; watching the pods until they recover",
    "verified": "applied and verified",
    "not_recovered": "applied, but the pods did not recover",
    "unverified": "applied (recovery not watched)",
    "failed": "failed; nothing more will happen",
    "rejected": "rejected; nothing was applied",
    "cancelled": "cancelled; nothing was applied",
    "expired": "expired; nothing was applied",
}


def text_blocks(text: str) -> Blocks:
    return [sb.section(text)]


def answer(outcome: Outcome) -> tuple[str, Blocks]:
    """What the person who acted sees (only them): fallback text and blocks."""
    if isinstance(outcome, Refused):
        return outcome.reason, text_blocks(f":no_entry: {sb.escape(outcome.reason)}")
    if isinstance(outcome, Previewed):
        return f"Preview: {title(outcome.change)}", preview(outcome.change, outcome.approval_needed, outcome.repeat)
    if isinstance(outcome, AwaitingApproval):
        why = " (the same remedy was applied recently: a remedy loop)" if outcome.repeat else ""
        return "Waiting for approval", text_blocks(
            f":hourglass: Sent for approval by a second responder (in the thread){why}."
        )
    if isinstance(outcome, Applied):
        summary = sb.escape(outcome.change.summary or "")
        return "Applied", text_blocks(f"Applied: {summary}. Watching for recovery.")
    if isinstance(outcome, Verified):
        return "Done", text_blocks(sb.escape(outcome.detail))
    if isinstance(outcome, NotRecovered):
        return "Not recovered", text_blocks(f":red_circle: Not recovered: {sb.escape(outcome.detail)}")
    if isinstance(outcome, Conflict):
        if outcome.requester_asked:
            note = "The workload changed while applying (409): nothing applied; the requester has a new preview."
            return "Conflict", text_blocks(note)
        return "Conflict: confirm again", conflict_preview(outcome)
    if isinstance(outcome, Failed):
        return f"{title(outcome.change)} failed", text_blocks(
            f":no_entry: {sb.escape(title(outcome.change))} failed: {sb.escape(outcome.reason)}"
        )
    if isinstance(outcome, Uncertain):
        return "Outcome unknown", text_blocks(f":warning: Outcome unknown: {sb.escape(outcome.reason)}")
    if isinstance(outcome, Ended):
        return (
            ("Cancelled", text_blocks("Cancelled: nothing was changed."))
            if outcome.cancelled
            else (
                "Rejected",
                text_blocks("Rejected."),
            )
        )
    assert isinstance(outcome, MayRequest)
    return "Allowed", text_blocks("Allowed.")


def preview(change: ChangeRow, approval_needed: bool, repeat: Repeat | None = None) -> Blocks:
    blocks = [
        sb.section(f"*Preview: {sb.escape(title(change))}*\n{sb.escape(change.summary or '')}"),
        *([sb.section(sb.loop_text(repeat))] if repeat else []),
        sb.code_section(
            "*What Alertmanager will do*"
            if is_silencing(change.remedy)
            else "*What changes in the pod template* (server-side dry run accepted)",
            (change.diff or "(no change)").splitlines(),
        ),
    ]
    note = "After you confirm, a second responder must approve." if approval_needed else "Confirm to apply it now."
    blocks.append(sb.context(f"{note} This preview expires {slack_date(change.expires_at)}."))
    blocks.append(
        sb.actions(
            "change",
            [
                sb.button("Confirm", "change.confirm", change.id, "primary"),
                sb.button("Cancel", "change.cancel", change.id),
            ],
        )
    )
    return blocks


def conflict_preview(outcome: Conflict) -> Blocks:
    return [
        sb.section(
            ":warning: The workload changed while applying (409 Conflict). Nothing was applied. "
            "Here is the new preview:"
        ),
        *preview(outcome.change, outcome.approval_needed),
    ]


def approval_request(change: ChangeRow, repeat: Repeat | None = None) -> Blocks:
    who = f"<@{change.requested_by}>"
    return [
        sb.section(f":raised_hand: {who} asks to *{sb.escape(title(change))}*: {sb.escape(change.summary or '')}"),
        *([sb.section(sb.loop_text(repeat))] if repeat else []),
        sb.code_section("*Diff*", (change.diff or "(no change)").splitlines()),
        sb.context(f"A different responder must approve. Expires {slack_date(change.expires_at)}."),
        sb.actions(
            "approval",
            [
                sb.button("Approve", "change.approve", change.id, "primary"),
                sb.button("Reject", "change.reject", change.id, "danger"),
            ],
        ),
    ]


def thread_post(outcome: Outcome) -> tuple[str, Blocks] | None:
    """What the incident thread is told about `outcome` (None: nothing to tell)."""
    if isinstance(outcome, AwaitingApproval):
        loop = "Remedy loop: approval needed" if outcome.repeat else "Approval needed"
        return f"{loop}: {title(outcome.change)}", approval_request(outcome.change, outcome.repeat)
    if isinstance(outcome, Applied):
        c = outcome.change
        approved = f" (approved by <@{c.approved_by}>)" if c.approved_by else ""
        text = (
            f":white_check_mark: <@{c.requested_by}> applied *{sb.escape(title(c))}*{approved}: "
            f"{sb.escape(c.summary or '')}\nWatching the pods until they are Ready and restarts stop…"
        )
        return f"Applied: {title(c)}", text_blocks(text)
    if isinstance(outcome, Failed):
        text = f":x: *{sb.escape(title(outcome.change))}* failed: {sb.escape(outcome.reason)}"
        return f"Failed: {title(outcome.change)}", text_blocks(text)
    if isinstance(outcome, Uncertain):
        text = f":warning: *{sb.escape(title(outcome.change))}*: outcome unknown: {sb.escape(outcome.reason)}"
        return f"Outcome unknown: {title(outcome.change)}", text_blocks(text)
    if isinstance(outcome, Ended) and not outcome.cancelled:
        return "Rejected", text_blocks(f":x: <@{outcome.by}> rejected: {sb.escape(title(outcome.change))}")
    if isinstance(outcome, Verified) and outcome.change.remedy == "netcheck":
        c = outcome.change
        return f"Netcheck: {title(c)}", [
            sb.section(f":mag: *Dependency check from {c.namespace}*: {sb.escape(outcome.detail)}"),
            sb.code_section("*netcheck pod output*", list(outcome.lines)),
        ]
    if isinstance(outcome, Verified) and is_silencing(outcome.change.remedy):
        return silencing_post(outcome)
    if isinstance(outcome, Verified):
        text = f":large_green_circle: *Recovered* after {sb.escape(title(outcome.change))}: {outcome.detail}."
        return f"Verification: {title(outcome.change)}", text_blocks(text)
    if isinstance(outcome, NotRecovered):
        text = (
            f":red_circle: *Not recovered* after {sb.escape(title(outcome.change))}: {sb.escape(outcome.detail)}. "
            f"{sb.escape(outcome.suggestion)}"
        )
        return f"Verification: {title(outcome.change)}", text_blocks(text)
    return None


def silencing_post(outcome: Verified) -> tuple[str, Blocks]:
    """What the thread is told once a silence is in force (or expired again), with who asked and who approved."""
    c = outcome.change
    where = f"{c.namespace}/{c.workload}"
    approved = f" (approved by {sb.mention(c.approved_by, c.approved_by_name)})" if c.approved_by else ""
    done = f"*{sb.escape(where)}*{approved}: {sb.escape(outcome.detail)}"
    who = sb.mention(c.requested_by, c.requested_by_name)  # a terminal user (`cli:ana`) by name, not a mention
    if c.remedy == RemedyId.UNSILENCE:
        return f"Unsilenced: {where}", text_blocks(f":bell: {who} unsilenced the alerts of {done}")
    return f"Silenced: {where}", text_blocks(f":no_bell: {who} silenced the alerts of {done}")


def settled(original: Blocks, change: ChangeRow) -> Blocks:
    """The message whose buttons belonged to `change`, with the buttons replaced by the change's state."""
    kept = [b for b in original if b.get("type") != "actions"]
    return [*kept, sb.context(f"This change is {_STATE_WORDS.get(change.state, change.state)}.")]
