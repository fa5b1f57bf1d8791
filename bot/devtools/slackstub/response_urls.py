"""Response URLs: where an app answers a slash command or a button click after acknowledging it.

`mint` creates a URL bound to a channel, the acting user and (for a button) the message that was clicked; tests
put it into the interaction payload they send the bot. A POST to it behaves as in Slack: `delete_original` removes
the message, `replace_original` edits it, `response_type: in_channel` posts a new message, anything else is an
ephemeral reply for the user. Every POST is recorded with its effect.
"""

from __future__ import annotations

import time
from typing import Any

from .content import Content, read_content, require_content
from .errors import ApiError
from .methods_chat import apply_edit
from .models import Ephemeral, JsonDict, Message, ResponseUrlPost, ResponseUrlTarget
from .state import Workspace


def mint(ws: Workspace, channel: str, *, user: str | None, message_ts: str | None, thread_ts: str | None = None) -> str:
    """A new response URL on the stand-in, bound to this channel, user and message."""
    target = ResponseUrlTarget(
        id=ws.ids.mint("R").lower(), channel=channel, user=user, message_ts=message_ts, thread_ts=thread_ts
    )
    ws.response_targets[target.id] = target
    return f"{ws.base_url}response_url/{target.id}"


def handle_post(ws: Workspace, url: str, url_id: str, body: Any) -> tuple[int, JsonDict]:
    """Apply one POST to a response URL; returns the HTTP status and JSON body to answer with."""
    target = ws.response_targets.get(url_id)
    answer: JsonDict = {"ok": True}
    status, effect = 200, "failed"
    if target is None:
        status, answer = 404, {"ok": False, "error": "expired_url"}
    elif not isinstance(body, dict):
        status, answer = 400, {"ok": False, "error": "invalid_payload"}
    else:
        try:
            effect = _apply(ws, target, body)
        except ApiError as exc:
            status, answer = 400, exc.body()
    recorded = body if isinstance(body, dict) else {"raw": body}
    ws.response_posts.append(ResponseUrlPost(url, url_id, recorded, status, effect, time.time()))
    return status, answer


def _apply(ws: Workspace, target: ResponseUrlTarget, body: JsonDict) -> str:
    if _truthy(body.get("delete_original")):
        ws.message(target.channel, target.message_ts).deleted = True
        return "deleted"
    content = read_content(body)
    require_content(content)
    if _truthy(body.get("replace_original")) and target.message_ts:
        apply_edit(ws, ws.message(target.channel, target.message_ts), content, None)
        return "replaced"
    thread_ts = str(body.get("thread_ts") or target.thread_ts or "") or None
    if body.get("response_type") == "in_channel":
        _post_in_channel(ws, target, content, thread_ts)
        return "in_channel"
    _post_ephemeral(ws, target, content, thread_ts)
    return "ephemeral"


def _post_in_channel(ws: Workspace, target: ResponseUrlTarget, content: Content, thread_ts: str | None) -> None:
    parent = ws.thread_root(target.channel, thread_ts) if thread_ts else None
    ws.add_message(
        Message(
            channel=target.channel,
            ts=ws.clock.next(),
            user=ws.config.bot_user_id,
            bot_id=ws.config.bot_id,
            text=content.text or "",
            blocks=content.blocks,
            attachments=content.attachments,
            thread_ts=parent.ts if parent else None,
        )
    )


def _post_ephemeral(ws: Workspace, target: ResponseUrlTarget, content: Content, thread_ts: str | None) -> None:
    ws.ephemerals.append(
        Ephemeral(
            channel=target.channel,
            user=target.user or "",
            message_ts=ws.clock.next(),
            text=content.text or "",
            blocks=content.blocks,
            attachments=content.attachments,
            thread_ts=thread_ts,
            source="response_url",
            at=time.time(),
        )
    )


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")
