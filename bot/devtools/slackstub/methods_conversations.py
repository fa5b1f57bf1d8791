"""The `conversations.*` methods: reading channel history and threads, channel info, opening DMs.

As in Slack: history is newest first and lists root messages plus replies broadcast to the channel; a thread is the
parent followed by its replies oldest first; both page with `limit` and an opaque `cursor`, filter with
`oldest`/`latest`/`inclusive`, and include message metadata only when `include_all_metadata` is set.
"""

from __future__ import annotations

import base64
import binascii

from .args import Args, flag, opt_int, opt_str, str_list
from .errors import ApiError, missing
from .ids import ts_to_float
from .models import JsonDict, Message
from .serialize import channel_json, message_json
from .state import Workspace


def history(ws: Workspace, args: Args) -> JsonDict:
    """`conversations.history`: the channel's messages, newest first."""
    channel = ws.resolve_channel(opt_str(args, "channel"))
    listed = [m for m in ws.messages[channel.id].values() if not m.deleted and (not m.is_reply or m.reply_broadcast)]
    listed = _between(listed, args)[::-1]
    page, next_ts = _paginate(listed, args, default_limit=100, newest_first=True)
    include_metadata = flag(args, "include_all_metadata")
    return {
        "messages": [message_json(ws, m, include_metadata=include_metadata) for m in page],
        "has_more": next_ts is not None,
        "pin_count": 0,
        "response_metadata": {"next_cursor": _encode_cursor(next_ts)},
    }


def replies(ws: Workspace, args: Args) -> JsonDict:
    """`conversations.replies`: a thread's parent then its replies, oldest first (a reply's ts finds its thread)."""
    channel = ws.resolve_channel(opt_str(args, "channel"))
    ts = opt_str(args, "ts")
    if ts is None:
        raise missing("ts")
    root = ws.thread_root(channel.id, ts)
    thread = [root, *_between(ws.replies(root), args)]
    page, next_ts = _paginate(thread, args, default_limit=1000, newest_first=False)
    include_metadata = flag(args, "include_all_metadata")
    return {
        "messages": [message_json(ws, m, include_metadata=include_metadata) for m in page],
        "has_more": next_ts is not None,
        "response_metadata": {"next_cursor": _encode_cursor(next_ts)},
    }


def info(ws: Workspace, args: Args) -> JsonDict:
    """`conversations.info`: the channel object."""
    channel = ws.resolve_channel(opt_str(args, "channel"))
    return {"channel": channel_json(ws, channel, num_members=flag(args, "include_num_members"))}


def open_conversation(ws: Workspace, args: Args) -> JsonDict:
    """`conversations.open` with one user: the DM channel with that user (created on first use)."""
    existing = opt_str(args, "channel")
    if existing:
        return {"channel": {"id": ws.resolve_channel(existing).id}, "no_op": True, "already_open": True}
    users = str_list(args, "users")
    if not users:
        raise ApiError("users_list_not_supplied")
    if len(users) > 1:
        raise ApiError("not_supported", ["the stand-in opens DMs with one user only"])
    user = ws.user(users[0])
    known = any(c.is_im and c.im_user == user.id for c in ws.channels.values())
    channel = ws.open_dm(user.id)
    return {"channel": {"id": channel.id}, "no_op": known, "already_open": known}


def _between(messages: list[Message], args: Args) -> list[Message]:
    low, high = _ts_arg(args, "oldest"), _ts_arg(args, "latest")
    inclusive = flag(args, "inclusive")

    def keep(m: Message) -> bool:
        t = ts_to_float(m.ts)
        above = low is None or (t >= low if inclusive else t > low)
        below = high is None or (t <= high if inclusive else t < high)
        return above and below

    return [m for m in messages if keep(m)]


def _paginate(
    messages: list[Message], args: Args, *, default_limit: int, newest_first: bool
) -> tuple[list[Message], str | None]:
    limit = opt_int(args, "limit", default_limit) or default_limit
    limit = min(max(limit, 1), 999 if newest_first else 1000)
    cursor = opt_str(args, "cursor")
    start = _cursor_index(messages, ts_to_float(_decode_cursor(cursor)), newest_first) if cursor else 0
    page = messages[start : start + limit]
    rest = messages[start + limit :]
    return page, rest[0].ts if rest else None


def _cursor_index(messages: list[Message], at: float, newest_first: bool) -> int:
    for index, message in enumerate(messages):
        t = ts_to_float(message.ts)
        if (t <= at) if newest_first else (t >= at):
            return index
    return len(messages)


def _ts_arg(args: Args, name: str) -> float | None:
    value = opt_str(args, name)
    if value is None:
        return None
    try:
        return ts_to_float(value)
    except ValueError:
        raise ApiError(f"invalid_ts_{name}") from None


def _encode_cursor(ts: str | None) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode() if ts else ""


def _decode_cursor(cursor: str) -> str:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ApiError("invalid_cursor") from None
    ts = text.removeprefix("next_ts:")
    try:
        ts_to_float(ts)
    except ValueError:
        raise ApiError("invalid_cursor") from None
    if not text.startswith("next_ts:"):
        raise ApiError("invalid_cursor")
    return ts
