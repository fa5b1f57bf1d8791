"""What the stand-in remembers: calls, channels, users, messages, ephemerals, views, files and response URL posts.

Plain dataclasses, so tests can read them directly; the stand-in hands out deep copies (snapshots) to other threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]
Blocks = list[JsonDict]


@dataclass(frozen=True)
class Call:
    """One HTTP call the stand-in answered: Web API method (or `upload_url` / `response_url`) and the outcome."""

    method: str
    args: JsonDict
    http_status: int
    response: JsonDict
    at: float
    token: str | None = None
    content_type: str = ""

    @property
    def ok(self) -> bool:
        """Whether the call succeeded (`"ok": true` in the response)."""
        return self.response.get("ok") is True

    @property
    def error(self) -> str | None:
        """Slack's error code for a failed call."""
        error = self.response.get("error")
        return error if isinstance(error, str) else None


@dataclass
class User:
    """A workspace member as `users.info` describes it."""

    id: str
    name: str
    real_name: str
    is_bot: bool = False
    tz: str = "Europe/Berlin"
    tz_label: str = "Central European Time"
    tz_offset: int = 3600
    email: str | None = None
    deleted: bool = False


@dataclass
class Usergroup:
    """A user group (`S...`, mentioned as `<!subteam^S...>`) and its members."""

    id: str
    handle: str
    name: str
    users: list[str]


@dataclass
class Channel:
    """A conversation: a public channel, or a DM (`is_im`) opened with one user."""

    id: str
    name: str
    created: int
    is_im: bool = False
    im_user: str | None = None
    is_private: bool = False
    topic: str = ""
    purpose: str = ""


@dataclass
class Edit:
    """A previous version of a message, kept when `chat.update` (or a response URL) replaced it."""

    text: str
    blocks: Blocks | None
    attachments: list[JsonDict] | None
    metadata: JsonDict | None
    replaced_at: float
    edit_ts: str


@dataclass
class Message:
    """A message in a channel: a root message, or a thread reply (`thread_ts` set to the parent's ts)."""

    channel: str
    ts: str
    user: str
    text: str
    blocks: Blocks | None = None
    attachments: list[JsonDict] | None = None
    metadata: JsonDict | None = None
    thread_ts: str | None = None
    reply_broadcast: bool = False
    bot_id: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    icon_url: str | None = None
    unfurl_links: bool | None = None
    unfurl_media: bool | None = None
    replies: list[str] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    posted_at: float = 0.0
    deleted: bool = False

    @property
    def is_reply(self) -> bool:
        """Whether this message is a reply in a thread."""
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def reply_count(self) -> int:
        """How many replies the thread under this message has."""
        return len(self.replies)

    @property
    def edit_count(self) -> int:
        """How many times the message was changed after it was posted."""
        return len(self.edits)


@dataclass
class Ephemeral:
    """A message only one user sees (`chat.postEphemeral`, or an ephemeral response URL reply)."""

    channel: str
    user: str
    message_ts: str
    text: str
    blocks: Blocks | None = None
    attachments: list[JsonDict] | None = None
    thread_ts: str | None = None
    source: str = "chat.postEphemeral"
    at: float = 0.0


@dataclass
class View:
    """A modal opened (or pushed) with a trigger_id; `updates` keeps earlier versions replaced by `views.update`."""

    id: str
    type: str
    payload: JsonDict
    trigger_id: str | None
    hash: str
    root_view_id: str
    previous_view_id: str | None = None
    external_id: str | None = None
    updates: list[JsonDict] = field(default_factory=list)
    at: float = 0.0

    @property
    def callback_id(self) -> str | None:
        """The view's callback_id (what a `view_submission` handler is keyed on)."""
        value = self.payload.get("callback_id")
        return value if isinstance(value, str) else None

    @property
    def private_metadata(self) -> str:
        """The view's private_metadata string."""
        value = self.payload.get("private_metadata")
        return value if isinstance(value, str) else ""

    @property
    def blocks(self) -> Blocks:
        """The view's blocks."""
        value = self.payload.get("blocks")
        return list(value) if isinstance(value, list) else []


@dataclass
class UploadedFile:
    """A file uploaded through files upload v2; `content` holds the bytes POSTed to the upload URL."""

    id: str
    filename: str
    declared_length: int
    title: str | None = None
    alt_txt: str | None = None
    snippet_type: str | None = None
    content: bytes | None = None
    completed: bool = False
    channels: list[str] = field(default_factory=list)
    thread_ts: str | None = None
    initial_comment: str | None = None
    created: int = 0

    @property
    def size(self) -> int:
        """Bytes actually uploaded (0 before the upload)."""
        return len(self.content or b"")


@dataclass
class ResponseUrlTarget:
    """What a minted response URL is bound to: the channel, the user who acted and the message they acted on."""

    id: str
    channel: str
    user: str | None = None
    message_ts: str | None = None
    thread_ts: str | None = None


@dataclass(frozen=True)
class ResponseUrlPost:
    """One POST to a response URL and what the stand-in did with it (`ephemeral`, `in_channel`, `replaced`...)."""

    url: str
    url_id: str
    body: JsonDict
    http_status: int
    effect: str
    at: float
