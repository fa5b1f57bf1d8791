"""The workspace state behind the stand-in: channels, messages and threads, ephemerals, views, files, calls.

Everything is guarded by one re-entrant lock: method handlers run on the server's event loop while tests read the
state from their own thread. The `changed` condition wakes anyone waiting for a call to arrive.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import TypeVar

from .config import StandInConfig, build_usergroups, build_users
from .errors import ApiError
from .ids import IdMinter, TsClock
from .models import (
    Call,
    Channel,
    Ephemeral,
    Message,
    ResponseUrlPost,
    ResponseUrlTarget,
    UploadedFile,
    User,
    Usergroup,
    View,
)

T = TypeVar("T")


class Workspace:
    """One Slack workspace as the bot sees it through its bot token."""

    def __init__(self, config: StandInConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.base_url = ""
        self.clear()

    def clear(self) -> None:
        """Forget every message, view, file and call; keep the configured users, groups and channels."""
        with self.lock:
            self.clock = TsClock(self.config.start_ts)
            self.ids = IdMinter()
            self.users: dict[str, User] = build_users(self.config)
            self.usergroups: dict[str, Usergroup] = build_usergroups(self.config)
            created = int(time.time()) - 86_400
            self.channels: dict[str, Channel] = {
                cid: Channel(id=cid, name=name, created=created) for cid, name in self.config.channels.items()
            }
            self.messages: dict[str, dict[str, Message]] = {cid: {} for cid in self.channels}
            self.ephemerals: list[Ephemeral] = []
            self.views: dict[str, View] = {}
            self.files: dict[str, UploadedFile] = {}
            self.response_targets: dict[str, ResponseUrlTarget] = {}
            self.response_posts: list[ResponseUrlPost] = []
            self.calls: list[Call] = []

    def snapshot(self, value: T) -> T:
        """A deep copy taken under the lock, safe to hand to another thread."""
        with self.lock:
            return copy.deepcopy(value)

    def record(self, call: Call) -> None:
        """Remember a call and wake up waiters."""
        with self.changed:
            self.calls.append(call)
            self.changed.notify_all()

    # --- channels and users -------------------------------------------------------------------------------------

    def resolve_channel(self, ref: str | None, *, open_dm: bool = False) -> Channel:
        """A channel by ID (or `#name`/name); with `open_dm`, a user ID means the DM with that user."""
        if not ref:
            raise ApiError("channel_not_found")
        if ref in self.channels:
            return self.channels[ref]
        if open_dm and ref in self.users:
            return self.open_dm(ref)
        name = ref.removeprefix("#")
        for channel in self.channels.values():
            if channel.name == name and not channel.is_im:
                return channel
        raise ApiError("channel_not_found")

    def open_dm(self, user_id: str) -> Channel:
        """The DM channel with a user, created on first use (like `conversations.open`)."""
        for channel in self.channels.values():
            if channel.is_im and channel.im_user == user_id:
                return channel
        channel = Channel(id=self.ids.mint("D"), name=user_id, created=int(time.time()), is_im=True, im_user=user_id)
        self.channels[channel.id] = channel
        self.messages[channel.id] = {}
        return channel

    def user(self, user_id: str | None, error: str = "user_not_found") -> User:
        """A user by ID, or Slack's `user_not_found`."""
        if not user_id or user_id not in self.users:
            raise ApiError(error)
        return self.users[user_id]

    # --- messages -----------------------------------------------------------------------------------------------

    def message(self, channel: str, ts: str | None, error: str = "message_not_found") -> Message:
        """A live (not deleted) message by channel and ts."""
        found = self.messages.get(channel, {}).get(ts or "")
        if found is None or found.deleted:
            raise ApiError(error)
        return found

    def thread_root(self, channel: str, ts: str | None, error: str = "thread_not_found") -> Message:
        """The parent of the thread a ts belongs to (a reply's ts leads to its parent, as in Slack)."""
        found = self.message(channel, ts, error)
        if found.thread_ts is not None and found.thread_ts != found.ts:
            return self.message(channel, found.thread_ts, error)
        return found

    def add_message(self, message: Message) -> Message:
        """Store a new message; a reply is also listed under its parent."""
        message.posted_at = time.time()
        self.messages.setdefault(message.channel, {})[message.ts] = message
        if message.thread_ts is not None:
            parent = self.messages[message.channel][message.thread_ts]
            parent.replies.append(message.ts)
        return message

    def root_messages(self, channel: str) -> list[Message]:
        """Live root messages of a channel, oldest first."""
        return [m for m in self.messages.get(channel, {}).values() if not m.deleted and not m.is_reply]

    def replies(self, root: Message) -> list[Message]:
        """Live replies in a message's thread, oldest first."""
        stored = self.messages.get(root.channel, {})
        return [stored[ts] for ts in root.replies if ts in stored and not stored[ts].deleted]

    def permalink(self, channel: str, ts: str, thread_ts: str | None = None) -> str:
        """The permanent link Slack gives a message."""
        link = f"https://{self.config.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        if thread_ts is not None and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return link
