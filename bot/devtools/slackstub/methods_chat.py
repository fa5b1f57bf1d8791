"""The `chat.*` and `reactions.add` methods: posting, threading, editing, deleting and reacting to messages.

Slack's rules enforced here: a channel must exist (`channel_not_found`), a message needs text, blocks or attachments
(`no_text`), blocks and metadata are validated (`invalid_blocks`, `invalid_metadata_format`), `thread_ts` must name
an existing message (a reply's ts threads under its parent), and only the bot's own messages can be edited.
"""

from __future__ import annotations

import time

from .args import Args, flag, opt_str
from .content import Content, read_content, read_metadata, require_content
from .errors import ApiError, missing
from .models import Edit, Ephemeral, JsonDict, Message
from .serialize import message_json
from .state import Workspace


def post_message(ws: Workspace, args: Args) -> JsonDict:
    """`chat.postMessage`: a root message, or a reply when `thread_ts` is given (optionally broadcast)."""
    channel = ws.resolve_channel(opt_str(args, "channel"), open_dm=True)
    content = read_content(args)
    require_content(content)
    metadata = read_metadata(args)
    thread_ts = opt_str(args, "thread_ts")
    parent = ws.thread_root(channel.id, thread_ts) if thread_ts else None
    msg = ws.add_message(
        Message(
            channel=channel.id,
            ts=ws.clock.next(),
            user=ws.config.bot_user_id,
            bot_id=ws.config.bot_id,
            text=content.text or "",
            blocks=content.blocks,
            attachments=content.attachments,
            metadata=metadata,
            thread_ts=parent.ts if parent else None,
            reply_broadcast=parent is not None and flag(args, "reply_broadcast"),
            username=opt_str(args, "username"),
            icon_emoji=opt_str(args, "icon_emoji"),
            icon_url=opt_str(args, "icon_url"),
            unfurl_links=_opt_flag(args, "unfurl_links"),
            unfurl_media=_opt_flag(args, "unfurl_media"),
        )
    )
    return {"channel": channel.id, "ts": msg.ts, "message": message_json(ws, msg)}


def _opt_flag(args: Args, name: str) -> bool | None:
    return flag(args, name) if args.get(name) not in (None, "") else None


def update(ws: Workspace, args: Args) -> JsonDict:
    """`chat.update`: new text/blocks/metadata for one of the bot's messages; the old version joins `edits`."""
    channel = ws.resolve_channel(opt_str(args, "channel"))
    ts = opt_str(args, "ts")
    if ts is None:
        raise missing("ts")
    msg = ws.message(channel.id, ts)
    if msg.user != ws.config.bot_user_id:
        raise ApiError("cant_update_message")
    content = read_content(args)
    require_content(content)
    apply_edit(ws, msg, content, read_metadata(args, allow_empty=True))
    return {"channel": channel.id, "ts": msg.ts, "text": msg.text, "message": message_json(ws, msg)}


def apply_edit(ws: Workspace, msg: Message, content: Content, metadata: JsonDict | None) -> None:
    """Replace a message's content the way `chat.update` does, keeping the previous version.

    Text without blocks removes the blocks (Slack renders the new text); blocks without text keep the old text;
    metadata is kept when not sent and removed by `{}`.
    """
    msg.edits.append(
        Edit(
            text=msg.text,
            blocks=msg.blocks,
            attachments=msg.attachments,
            metadata=msg.metadata,
            replaced_at=time.time(),
            edit_ts=ws.clock.next(),
        )
    )
    if content.blocks is not None:
        msg.blocks = content.blocks
    elif content.text is not None:
        msg.blocks = None
    if content.text is not None:
        msg.text = content.text
    if content.attachments is not None:
        msg.attachments = content.attachments
    if metadata is not None:
        msg.metadata = metadata or None


def post_ephemeral(ws: Workspace, args: Args) -> JsonDict:
    """`chat.postEphemeral`: a message only `user` sees, kept apart from the channel's messages."""
    channel = ws.resolve_channel(opt_str(args, "channel"))
    user = ws.user(opt_str(args, "user"))
    content = read_content(args)
    require_content(content)
    thread_ts = opt_str(args, "thread_ts")
    if thread_ts:
        thread_ts = ws.thread_root(channel.id, thread_ts).ts
    ephemeral = Ephemeral(
        channel=channel.id,
        user=user.id,
        message_ts=ws.clock.next(),
        text=content.text or "",
        blocks=content.blocks,
        attachments=content.attachments,
        thread_ts=thread_ts,
        at=time.time(),
    )
    ws.ephemerals.append(ephemeral)
    return {"message_ts": ephemeral.message_ts}


def delete(ws: Workspace, args: Args) -> JsonDict:
    """`chat.delete`: removes one of the bot's messages."""
    channel = ws.resolve_channel(opt_str(args, "channel"))
    msg = ws.message(channel.id, opt_str(args, "ts"))
    if msg.user != ws.config.bot_user_id:
        raise ApiError("cant_delete_message")
    msg.deleted = True
    return {"channel": channel.id, "ts": msg.ts}


def get_permalink(ws: Workspace, args: Args) -> JsonDict:
    """`chat.getPermalink`: the message's https://<team>.slack.com/archives/... link."""
    channel = ws.resolve_channel(opt_str(args, "channel"))
    msg = ws.message(channel.id, opt_str(args, "message_ts"))
    return {"channel": channel.id, "permalink": ws.permalink(channel.id, msg.ts, msg.thread_ts)}


def add_reaction(ws: Workspace, args: Args) -> JsonDict:
    """`reactions.add`: the bot reacts to a message with an emoji (`name` without colons)."""
    channel = ws.resolve_channel(opt_str(args, "channel"))
    timestamp = opt_str(args, "timestamp")
    if timestamp is None:
        raise ApiError("no_item_specified")
    msg = ws.message(channel.id, timestamp)
    name = (opt_str(args, "name") or "").strip(":")
    if not name or " " in name:
        raise ApiError("invalid_name")
    users = msg.reactions.setdefault(name, [])
    if ws.config.bot_user_id in users:
        raise ApiError("already_reacted")
    users.append(ws.config.bot_user_id)
    return {}
