"""What the guarded-change flow says in Slack: previews, approval requests, outcomes. Pure Block Kit."""

from __future__ import annotations

from typing import Any

from bot.slack import blocks as sb
from bot.store.changes import ChangeRow

REMEDY_TITLES = {
    "bump_memory": "Bump memory",
    "patch_probes": "Relax probes",
    "set_env": "Set env var",
    "set_image": "Set image",
    "rollout_undo": "Roll back",
    "rollout_restart": "Restart rollout",
    "service_account": "Switch service account",
    "netcheck": "Check dependency",
}


def title(change: ChangeRow) -> str:
    return f"{REMEDY_TITLES.get(change.remedy, change.remedy)} · {change.namespace}/{change.workload}"


def preview(change: ChangeRow, approval_needed: bool) -> list[dict[str, Any]]:
    blocks = [
        sb.section(f"*Preview: {sb.escape(title(change))}*\n{sb.escape(change.summary or '')}"),
        sb.code_section(
            "*What changes in the pod template* (server-side dry run accepted)",
            (change.diff or "(no change)").splitlines(),
        ),
    ]
    note = "After you confirm, a second responder must approve." if approval_needed else "Confirm to apply it now."
    blocks.append(sb.context(f"{note} This preview expires {change.expires_at:%H:%M} UTC."))
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


def approval_request(change: ChangeRow) -> list[dict[str, Any]]:
    who = f"<@{change.requested_by}>"
    return [
        sb.section(f":raised_hand: {who} asks to *{sb.escape(title(change))}*: {sb.escape(change.summary or '')}"),
        sb.code_section("*Diff*", (change.diff or "(no change)").splitlines()),
        sb.context(f"A different responder must approve. Expires {change.expires_at:%H:%M} UTC."),
        sb.actions(
            "approval",
            [
                sb.button("Approve", "change.approve", change.id, "primary"),
                sb.button("Reject", "change.reject", change.id, "danger"),
            ],
        ),
    ]


def text_blocks(text: str) -> list[dict[str, Any]]:
    return [sb.section(text)]
