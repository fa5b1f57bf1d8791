"""The content of a message as the chat methods and response URLs receive it: text, blocks, attachments, metadata.

Shared by `chat.postMessage`, `chat.postEphemeral`, `chat.update` and response URL posts so that all of them enforce
the same Slack rules (`no_text`, `msg_too_long`, `invalid_blocks`, `invalid_metadata_format`...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .args import Args, opt_json
from .blocks import block_problems
from .errors import ApiError
from .models import Blocks, JsonDict

MAX_MESSAGE_BLOCKS = 50
MAX_TEXT = 40_000
MAX_ATTACHMENTS = 100


@dataclass(frozen=True)
class Content:
    """Validated message content; each part is None when the call did not send it."""

    text: str | None
    blocks: Blocks | None
    attachments: list[JsonDict] | None

    @property
    def empty(self) -> bool:
        """True when nothing displayable was sent (Slack's `no_text`)."""
        return not self.text and self.blocks is None and not self.attachments


def read_content(args: Args, *, max_blocks: int = MAX_MESSAGE_BLOCKS) -> Content:
    """Text, blocks and attachments of a call, validated; raises the ApiError Slack would answer with."""
    text = args.get("text")
    if text is not None and not isinstance(text, str):
        text = str(text)
    if text is not None and len(text) > MAX_TEXT:
        raise ApiError("msg_too_long")
    return Content(text=text, blocks=_read_blocks(args, max_blocks), attachments=_read_attachments(args))


def require_content(content: Content) -> None:
    """Slack refuses a message with neither text, blocks nor attachments."""
    if content.empty:
        raise ApiError("no_text")


def _read_blocks(args: Args, max_blocks: int) -> Blocks | None:
    blocks = opt_json(args, "blocks", "invalid_blocks_format")
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        raise ApiError("invalid_blocks_format", ["must provide an array [json-pointer:/blocks]"])
    problems = block_problems(blocks, max_blocks=max_blocks)
    if problems:
        raise ApiError("invalid_blocks", problems)
    return blocks


def _read_attachments(args: Args) -> list[JsonDict] | None:
    attachments = opt_json(args, "attachments", "invalid_attachments")
    if attachments is None:
        return None
    if not isinstance(attachments, list) or not all(isinstance(a, dict) for a in attachments):
        raise ApiError("invalid_attachments", ["attachments must be an array of objects"])
    if len(attachments) > MAX_ATTACHMENTS:
        raise ApiError("too_many_attachments")
    for attachment in attachments:
        if attachment.get("blocks") is not None:
            problems = block_problems(attachment["blocks"], max_blocks=MAX_MESSAGE_BLOCKS)
            if problems:
                raise ApiError("invalid_attachments", problems)
    return attachments


def read_metadata(args: Args, *, allow_empty: bool = False) -> JsonDict | None:
    """Message metadata `{"event_type": str, "event_payload": dict}` (object or JSON text), None when absent.

    With `allow_empty` (chat.update), `{}` is accepted and returned as `{}`: it removes the message's metadata.
    """
    metadata = opt_json(args, "metadata", "invalid_metadata_format")
    if metadata is None:
        return None
    if allow_empty and metadata == {}:
        return {}
    _check_metadata(metadata)
    return dict(metadata)


def _check_metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict):
        raise ApiError("invalid_metadata_format", ["metadata must be an object"])
    event_type = metadata.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise ApiError("invalid_metadata_format", ["metadata.event_type must be a non-empty string"])
    if not isinstance(metadata.get("event_payload"), dict):
        raise ApiError("invalid_metadata_format", ["metadata.event_payload must be an object"])
