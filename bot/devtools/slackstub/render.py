"""A channel as a person would read it in Slack, for the demo and for test failure messages.

Each root message with its author, Block Kit rendered as text (see `render_blocks`), attachments, files, reactions
and an `(edited 3x)` note, followed by its thread replies indented; ephemeral messages appear where they were posted,
marked with who sees them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Ephemeral, JsonDict, Message, View
from .mrkdwn import Names, readable
from .render_blocks import Lines, render_blocks, text_of
from .state import Workspace

INDENT = "  "


@dataclass(frozen=True)
class _Entry:
    ts: str
    lines: Lines


def names_of(ws: Workspace) -> Names:
    """The ID → name tables for rendering."""
    return Names(
        users={uid: u.name for uid, u in ws.users.items()},
        channels={cid: c.name for cid, c in ws.channels.items()},
        groups={gid: g.handle for gid, g in ws.usergroups.items()},
    )


def render_channel(ws: Workspace, channel_id: str, *, ephemerals: bool = True) -> str:
    """The whole channel, oldest message first."""
    with ws.lock:
        channel = ws.channels.get(channel_id)
        if channel is None:
            return f"(unknown channel {channel_id})"
        names = names_of(ws)
        title = (
            f"DM with @{names.users.get(channel.im_user or '', channel.im_user)}"
            if channel.is_im
            else f"#{channel.name}"
        )
        entries = [_Entry(m.ts, _root_lines(ws, m, names, ephemerals)) for m in ws.root_messages(channel_id)]
        if ephemerals:
            entries += [_Entry(e.message_ts, _ephemeral_lines(ws, e, names)) for e in _loose_ephemerals(ws, channel_id)]
    body = [line for entry in sorted(entries, key=lambda e: float(e.ts)) for line in [*entry.lines, ""]]
    return "\n".join([f"{title} ({channel_id})", "=" * 40, *(body or ["(no messages)"])]).rstrip() + "\n"


def _loose_ephemerals(ws: Workspace, channel_id: str) -> list[Ephemeral]:
    return [e for e in ws.ephemerals if e.channel == channel_id and not e.thread_ts]


def _root_lines(ws: Workspace, msg: Message, names: Names, ephemerals: bool) -> Lines:
    lines = message_lines(ws, msg, names)
    thread = ws.replies(msg)
    replies: list[_Entry] = [_Entry(r.ts, message_lines(ws, r, names)) for r in thread]
    if ephemerals:
        replies += [
            _Entry(e.message_ts, _ephemeral_lines(ws, e, names))
            for e in ws.ephemerals
            if e.channel == msg.channel and e.thread_ts == msg.ts
        ]
    if replies:
        lines.append(f"{INDENT}> thread: {len(thread)} repl{'y' if len(thread) == 1 else 'ies'}")
        for reply in sorted(replies, key=lambda e: float(e.ts)):
            lines += [INDENT * 2 + line for line in reply.lines]
    return lines


def message_lines(ws: Workspace, msg: Message, names: Names) -> Lines:
    """One message: the author line, then its content indented."""
    author = names.users.get(msg.user, msg.user)
    if msg.username:
        author = msg.username
    notes = []
    if msg.edit_count:
        notes.append(f"(edited {msg.edit_count}x)")
    if msg.reply_broadcast:
        notes.append("(also sent to the channel)")
    body = content_lines(msg.text, msg.blocks, msg.attachments, names)
    body += [f"[file: {ws.files[f].filename} ({_size(ws.files[f].size)})]" for f in msg.files if f in ws.files]
    if msg.reactions:
        body.append("  ".join(f":{name}: {len(users)}" for name, users in msg.reactions.items()))
    return _with_author(f"{author}:", body, notes)


def _ephemeral_lines(ws: Workspace, e: Ephemeral, names: Names) -> Lines:
    who = names.users.get(e.user, e.user) or "the acting user"
    body = content_lines(e.text, e.blocks, e.attachments, names)
    return _with_author(f"{ws.config.bot_name}:", body, [f"(only visible to @{who})"])


def _with_author(author: str, body: Lines, notes: list[str]) -> Lines:
    """`author: text (notes)` for a short one-line message, else the author line and the body indented."""
    if len(body) == 1 and len(body[0]) < 80:
        return [" ".join([author, body[0], *notes])]
    return [" ".join([author, *notes]), *(INDENT + line if line else line for line in body)]


def content_lines(text: str, blocks: list[JsonDict] | None, attachments: list[JsonDict] | None, names: Names) -> Lines:
    """What a message shows: its blocks if it has any (text is then only the notification), else its text."""
    lines = render_blocks(blocks, names) if blocks else readable(text, names).splitlines()
    for attachment in attachments or []:
        lines += ["| " + line for line in _attachment_lines(attachment, names)]
    return lines


def _attachment_lines(attachment: JsonDict, names: Names) -> Lines:
    lines: Lines = []
    for key in ("pretext", "title", "text"):
        if attachment.get(key):
            lines += readable(str(attachment[key]), names).splitlines()
    for field in attachment.get("fields") or []:
        if isinstance(field, dict):
            lines.append(f"{field.get('title', '')}: {readable(str(field.get('value', '')), names)}")
    if isinstance(attachment.get("blocks"), list):
        lines += render_blocks(attachment["blocks"], names)
    return lines or [str(attachment.get("fallback", ""))]


def render_view(ws: Workspace, view: View) -> str:
    """A modal: title, blocks, then its submit/close buttons."""
    with ws.lock:
        names = names_of(ws)
    payload = view.payload
    buttons = [f"[ {text_of(payload[k], names)} ]" for k in ("close", "submit") if payload.get(k)]
    lines = [
        f"[modal] {text_of(payload.get('title'), names)} ({view.id})",
        "=" * 40,
        *render_blocks(view.blocks, names),
    ]
    if buttons:
        lines += ["", "  ".join(buttons)]
    return "\n".join(lines) + "\n"


def _size(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KB"
