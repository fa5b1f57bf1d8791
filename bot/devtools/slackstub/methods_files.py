"""Files upload v2, the three steps slack_sdk's `files_upload_v2` performs.

1. `files.getUploadURLExternal` (filename, length) reserves a file ID and returns an upload URL on the stand-in;
2. the SDK POSTs the bytes to that URL (raw body, or multipart with a `file` part, as curl -F does);
3. `files.completeUploadExternal` (files JSON, channel_id/channels, thread_ts, initial_comment) shares the files,
   posting a message that carries them into the channel or thread.
The bytes stay readable from Python (`stub.files[file_id].content`).
"""

from __future__ import annotations

import time
from typing import Any

from .args import Args, opt_int, opt_json, opt_str, str_list
from .errors import ApiError, missing
from .models import Channel, JsonDict, Message, UploadedFile
from .serialize import file_json
from .state import Workspace


def get_upload_url(ws: Workspace, args: Args) -> JsonDict:
    """`files.getUploadURLExternal`: a file ID and the URL to POST its bytes to."""
    filename = opt_str(args, "filename")
    if filename is None:
        raise missing("filename")
    if args.get("length") in (None, ""):
        raise missing("length")
    length = opt_int(args, "length", 0)
    if length <= 0:
        raise ApiError("invalid_arguments", ["length must be a positive integer"])
    uploaded = UploadedFile(
        id=ws.ids.mint("F"),
        filename=filename,
        declared_length=length,
        alt_txt=opt_str(args, "alt_txt"),
        snippet_type=opt_str(args, "snippet_type"),
        created=int(time.time()),
    )
    ws.files[uploaded.id] = uploaded
    return {"upload_url": f"{ws.base_url}upload/v1/{uploaded.id}", "file_id": uploaded.id}


def receive_upload(ws: Workspace, file_id: str, data: bytes) -> tuple[int, str]:
    """Step 2: store the POSTed bytes; answers like files.slack.com (`OK - <length>` as text/plain)."""
    uploaded = ws.files.get(file_id)
    if uploaded is None:
        return 404, "file_not_found"
    if uploaded.completed:
        return 400, "already_completed"
    uploaded.content = data
    return 200, f"OK - {len(data)}"


def complete_upload(ws: Workspace, args: Args) -> JsonDict:
    """`files.completeUploadExternal`: finishes the uploads and shares them where asked."""
    entries = _file_entries(args)
    files = [_uploaded(ws, entry) for entry in entries]
    channels = _target_channels(ws, args)
    thread_ts = opt_str(args, "thread_ts")
    if thread_ts and not channels:
        raise ApiError("invalid_arguments", ["thread_ts requires channel_id"])
    targets = [(c, ws.thread_root(c.id, thread_ts) if thread_ts else None) for c in channels]
    for f, entry in zip(files, entries, strict=True):
        f.title = str(entry.get("title") or f.title or f.filename)
        f.completed = True
    comment = opt_str(args, "initial_comment")
    for channel, parent in targets:
        _share(ws, channel, files, parent, comment)
    return {"files": [file_json(ws, f) for f in files]}


def _file_entries(args: Args) -> list[dict[str, Any]]:
    entries = opt_json(args, "files", "invalid_arguments")
    if entries is None:
        raise missing("files")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) and e.get("id") for e in entries):
        raise ApiError("invalid_arguments", ["files must be a non-empty array of objects with an id"])
    return entries


def _uploaded(ws: Workspace, entry: dict[str, Any]) -> UploadedFile:
    uploaded = ws.files.get(str(entry["id"]))
    if uploaded is None:
        raise ApiError("file_not_found")
    if uploaded.content is None:
        raise ApiError("file_not_found", [f"no bytes were uploaded to the upload_url of {uploaded.id}"])
    return uploaded


def _target_channels(ws: Workspace, args: Args) -> list[Channel]:
    channel_id = opt_str(args, "channel_id")
    refs = [channel_id] if channel_id else str_list(args, "channels")
    return [ws.resolve_channel(ref) for ref in refs]


def _share(
    ws: Workspace, channel: Channel, files: list[UploadedFile], parent: Message | None, comment: str | None
) -> None:
    for f in files:
        f.channels.append(channel.id)
        f.thread_ts = parent.ts if parent else None
        f.initial_comment = comment
    ws.add_message(
        Message(
            channel=channel.id,
            ts=ws.clock.next(),
            user=ws.config.bot_user_id,
            bot_id=ws.config.bot_id,
            text=comment or "",
            thread_ts=parent.ts if parent else None,
            files=[f.id for f in files],
        )
    )
