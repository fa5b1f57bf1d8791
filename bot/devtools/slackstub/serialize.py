"""Stored objects as the Web API returns them: message, channel, user, user group, file and view JSON.

Shapes follow Slack's responses closely enough for the SDK, Bolt and the bot to read them: a bot message carries
`bot_id`/`app_id`/`bot_profile`, a thread parent `reply_count`/`latest_reply`, an edited message `edited`, and
`metadata` only where Slack includes it.
"""

from __future__ import annotations

import hashlib
import mimetypes
from typing import Any

from .models import Channel, JsonDict, Message, UploadedFile, User, Usergroup, View
from .state import Workspace


def message_json(ws: Workspace, msg: Message, *, include_metadata: bool = True) -> JsonDict:
    """A message object as in `chat.postMessage` responses and `conversations.history`."""
    out: JsonDict = {"type": "message", "user": msg.user, "text": msg.text, "ts": msg.ts, "team": ws.config.team_id}
    if msg.bot_id:
        out.update(_bot_fields(ws, msg))
    _add_optional(out, msg, ws, include_metadata)
    _add_thread_fields(out, msg, ws)
    return out


def _bot_fields(ws: Workspace, msg: Message) -> JsonDict:
    cfg = ws.config
    profile = {"id": cfg.bot_id, "app_id": cfg.app_id, "name": cfg.bot_name, "deleted": False, "team_id": cfg.team_id}
    fields: JsonDict = {"bot_id": msg.bot_id, "app_id": cfg.app_id, "bot_profile": profile}
    if msg.username:
        fields["username"] = msg.username
    if msg.icon_emoji or msg.icon_url:
        fields["icons"] = {"emoji": msg.icon_emoji} if msg.icon_emoji else {"image_48": msg.icon_url}
    return fields


def _add_optional(out: JsonDict, msg: Message, ws: Workspace, include_metadata: bool) -> None:
    if msg.blocks is not None:
        out["blocks"] = msg.blocks
    if msg.attachments:
        out["attachments"] = msg.attachments
    if msg.metadata and include_metadata:
        out["metadata"] = msg.metadata
    if msg.files:
        out["files"] = [file_json(ws, ws.files[fid]) for fid in msg.files if fid in ws.files]
        out["upload"] = False
    if msg.edits:
        out["edited"] = {"user": msg.user, "ts": msg.edits[-1].edit_ts}
    if msg.reactions:
        out["reactions"] = [{"name": n, "users": list(u), "count": len(u)} for n, u in msg.reactions.items()]


def _add_thread_fields(out: JsonDict, msg: Message, ws: Workspace) -> None:
    if msg.is_reply:
        out["thread_ts"] = msg.thread_ts
        parent = ws.messages[msg.channel].get(msg.thread_ts or "")
        out["parent_user_id"] = parent.user if parent else msg.user
        if msg.reply_broadcast:
            out["subtype"] = "thread_broadcast"
        return
    if msg.replies:
        replies = ws.replies(msg)
        users = sorted({r.user for r in replies})
        out.update(
            thread_ts=msg.ts,
            reply_count=len(replies),
            reply_users_count=len(users),
            latest_reply=replies[-1].ts if replies else msg.ts,
            reply_users=users,
            is_locked=False,
            subscribed=False,
        )


def channel_json(ws: Workspace, channel: Channel, *, num_members: bool = False) -> JsonDict:
    """A conversation object as in `conversations.info`."""
    out: JsonDict = {
        "id": channel.id,
        "created": channel.created,
        "is_archived": False,
        "is_org_shared": False,
        "context_team_id": ws.config.team_id,
    }
    if channel.is_im:
        out.update(is_im=True, user=channel.im_user, is_user_deleted=False)
    else:
        out.update(_public_channel_fields(ws, channel))
    if num_members:
        out["num_members"] = 2 if channel.is_im else len(ws.users)
    return out


def _public_channel_fields(ws: Workspace, channel: Channel) -> JsonDict:
    return {
        "name": channel.name,
        "name_normalized": channel.name,
        "is_channel": True,
        "is_group": False,
        "is_im": False,
        "is_mpim": False,
        "is_private": channel.is_private,
        "is_general": False,
        "is_shared": False,
        "is_ext_shared": False,
        "is_member": True,
        "creator": ws.config.bot_user_id,
        "topic": {"value": channel.topic, "creator": "", "last_set": 0},
        "purpose": {"value": channel.purpose, "creator": "", "last_set": 0},
    }


def user_json(ws: Workspace, user: User) -> JsonDict:
    """A user object as in `users.info`."""
    profile: JsonDict = {"real_name": user.real_name, "display_name": user.name, "team": ws.config.team_id}
    if user.email:
        profile["email"] = user.email
    if user.is_bot:
        profile["bot_id"] = ws.config.bot_id
    return {
        "id": user.id,
        "team_id": ws.config.team_id,
        "name": user.name,
        "real_name": user.real_name,
        "deleted": user.deleted,
        "is_bot": user.is_bot,
        "is_app_user": False,
        "is_admin": False,
        "tz": user.tz,
        "tz_label": user.tz_label,
        "tz_offset": user.tz_offset,
        "profile": profile,
    }


def usergroup_json(ws: Workspace, group: Usergroup, *, include_users: bool, include_count: bool) -> JsonDict:
    """A user group object as in `usergroups.list`."""
    out: JsonDict = {
        "id": group.id,
        "team_id": ws.config.team_id,
        "is_usergroup": True,
        "name": group.name,
        "handle": group.handle,
        "description": "",
        "date_delete": 0,
        "auto_type": None,
    }
    if include_users:
        out["users"] = list(group.users)
    if include_count:
        out["user_count"] = len(group.users)
    return out


def file_json(ws: Workspace, f: UploadedFile) -> JsonDict:
    """A file object as in `files.completeUploadExternal` and in a message's `files`."""
    mimetype = mimetypes.guess_type(f.filename)[0] or "application/octet-stream"
    filetype = f.filename.rsplit(".", 1)[-1].lower() if "." in f.filename else "binary"
    url = f"{ws.base_url}files/{f.id}/{f.filename}"
    return {
        "id": f.id,
        "created": f.created,
        "timestamp": f.created,
        "name": f.filename,
        "title": f.title or f.filename,
        "mimetype": mimetype,
        "filetype": filetype,
        "pretty_type": filetype.upper(),
        "user": ws.config.bot_user_id,
        "size": f.size,
        "mode": "hosted",
        "is_external": False,
        "is_public": bool(f.channels),
        "alt_txt": f.alt_txt,
        "url_private": url,
        "url_private_download": url,
        "permalink": f"https://{ws.config.team_domain}.slack.com/files/{ws.config.bot_user_id}/{f.id}/{f.filename}",
        "channels": list(f.channels),
    }


def view_json(ws: Workspace, view: View) -> JsonDict:
    """A view object as `views.open`/`update`/`push` return it."""
    payload = view.payload
    return {
        "id": view.id,
        "team_id": ws.config.team_id,
        "type": view.type,
        "title": payload.get("title"),
        "submit": payload.get("submit"),
        "close": payload.get("close"),
        "blocks": view.blocks,
        "private_metadata": view.private_metadata,
        "callback_id": view.callback_id or "",
        "state": {"values": {}},
        "hash": view.hash,
        "clear_on_close": bool(payload.get("clear_on_close", False)),
        "notify_on_close": bool(payload.get("notify_on_close", False)),
        "root_view_id": view.root_view_id,
        "previous_view_id": view.previous_view_id,
        "app_id": ws.config.app_id,
        "external_id": view.external_id or "",
        "app_installed_team_id": ws.config.team_id,
        "bot_id": ws.config.bot_id,
    }


def view_hash(view_id: str, version: int, payload: Any) -> str:
    """A new hash for each version of a view (Slack's guard against lost updates)."""
    digest = hashlib.sha1(f"{view_id}:{version}:{payload!r}".encode(), usedforsecurity=False).hexdigest()
    return f"{version}.{digest[:12]}"
