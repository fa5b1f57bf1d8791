"""`SlackStandIn`: a local Slack Web API for tests and the demo, since Slack itself is out of reach here.

It serves the methods the bot uses on 127.0.0.1 (a free port by default) for the real `AsyncWebClient`/`AsyncApp`,
keeps channels, threads, ephemerals, views and files, records every call, fails on demand, and renders channels
as text. Run it on the current loop (`async with SlackStandIn() as stub`) or in its own thread
(`with SlackStandIn().running() as stub`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Self

from aiohttp import web

from . import render, response_urls
from .app import StandInApp
from .config import DEFAULT_TOKENS, StandInConfig, UserSpec, channel_names, default_usergroups, default_users
from .errors import ApiError
from .failures import FailurePlan
from .models import Blocks, Call, Ephemeral, Message, ResponseUrlPost, UploadedFile, View
from .state import Workspace
from .threaded import LoopThread


class SlackStandIn:
    """A Slack Web API stand-in over HTTP; see the package docstring for what it answers and how to drive it."""

    def __init__(
        self,
        *,
        tokens: Sequence[str] = DEFAULT_TOKENS,
        users: Mapping[str, UserSpec] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        usergroup_handles: Mapping[str, str] | None = None,
        channels: Sequence[str] | Mapping[str, str] | None = None,
        team_id: str = "T0TEAM0001",
        team_name: str = "Crashloop Test",
        team_domain: str = "crashloop-test",
        bot_user_id: str = "U0BOT0001",
        bot_id: str = "B0BOT0001",
        bot_name: str = "crashloop-bot",
        app_id: str = "A0APP0001",
        start_ts: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        config = StandInConfig(
            tokens=tuple(tokens),
            users=dict(users) if users is not None else default_users(),
            usergroups={k: list(v) for k, v in (usergroups or default_usergroups()).items()},
            usergroup_handles=dict(usergroup_handles or {}),
            channels=channel_names(channels),
            team_id=team_id,
            team_name=team_name,
            team_domain=team_domain,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            bot_name=bot_name,
            app_id=app_id,
            start_ts=start_ts,
        )
        self._ws = Workspace(config)
        self._failures = FailurePlan()
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------------

    async def start(self) -> Self:
        """Listen on host:port (port 0 picks a free one) on the running event loop."""
        if self._runner is not None:
            raise RuntimeError("the Slack stand-in is already running")
        runner = web.AppRunner(StandInApp(self._ws, self._failures).build(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._ws.base_url = f"http://{self._host}:{self._port}/"
        return self

    async def stop(self) -> None:
        """Close the listening socket and open connections."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @contextmanager
    def running(self) -> Iterator[Self]:
        """Serve from a private event loop in a daemon thread for the duration of the `with` block."""
        loop = LoopThread(name="slack-stand-in")
        loop.start()
        try:
            loop.run(self.start())
            try:
                yield self
            finally:
                loop.run(self.stop())
        finally:
            loop.close()

    @property
    def port(self) -> int:
        """The TCP port served (after start)."""
        self._require_running()
        return self._port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/`."""
        self._require_running()
        return self._ws.base_url

    @property
    def api_url(self) -> str:
        """The `base_url` for `AsyncWebClient`/`WebClient`: `http://127.0.0.1:PORT/api/`."""
        return f"{self.base_url}api/"

    def _require_running(self) -> None:
        if self._runner is None:
            raise RuntimeError("the Slack stand-in is not running: use `async with` or `.running()`")

    # --- failure injection ----------------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: int = 1,
        times: int | None = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail (None: until `clear_failures`; method "*": any method).

        - `fail(m)` or `fail(m, status=429, retry_after=1)`: HTTP 429, `Retry-After`, `{"error": "ratelimited"}`;
        - `fail(m, status=500)` / `503`: HTTP 5xx with `internal_error` / `service_unavailable`;
        - `fail(m, error="channel_not_found")`: HTTP 200 with `{"ok": false, "error": "channel_not_found"}`.
        `method` may also be `upload_url` (the upload POST) or `response_url`.
        """
        self._failures.add(method, status=status, error=error, retry_after=retry_after, times=times)

    def lose_answer(self, method: str, *, delay: float = 0.0, drop: bool = False, times: int | None = 1) -> None:
        """Let the next `times` calls of `method` take effect but lose their answer: answer after `delay` seconds
        (past the client's timeout, say), or with `drop=True` close the connection instead of answering."""
        self._failures.lose_answers(method, delay=delay, drop=drop, times=times)

    def rate_limit_per_channel(
        self,
        messages_per_second: float = 1.0,
        *,
        burst: int = 1,
        methods: Iterable[str] = ("chat.postMessage",),
    ) -> None:
        """Answer 429 with `Retry-After` when a channel gets more than `messages_per_second` (after a burst)."""
        self._failures.limit_channels(messages_per_second, burst, methods)

    def clear_failures(self) -> None:
        """Forget scripted failures and the per-channel rate limit."""
        self._failures.clear()

    def set_usergroup_members(self, group: str, users: list[str]) -> None:
        """Change a user group's members, as an admin does in Slack (e.g. someone leaves the on-call group)."""
        with self._ws.lock:
            self._ws.usergroups[group].users = list(users)

    # --- inspection ---------------------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every call answered so far, in order."""
        with self._ws.lock:
            return list(self._ws.calls)

    def calls_to(self, method: str) -> list[Call]:
        """The calls to one method, in order."""
        return [c for c in self.calls if c.method == method]

    def channel_messages(self, channel: str) -> list[Message]:
        """The channel's live root messages, oldest first (replies are in `thread`)."""
        with self._ws.lock:
            return self._ws.snapshot(self._ws.root_messages(channel))

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The replies under the message `ts` (a reply's ts finds its thread), oldest first."""
        with self._ws.lock:
            root = self.message(channel, ts)
            if root.is_reply:
                root = self.message(channel, root.thread_ts or "")
            return self._ws.snapshot(self._ws.replies(self._ws.messages[channel][root.ts]))

    def message(self, channel: str, ts: str) -> Message:
        """One message (root or reply) by channel and ts; KeyError if there is none."""
        with self._ws.lock:
            found = self._ws.messages.get(channel, {}).get(ts)
            if found is None or found.deleted:
                raise KeyError(f"no message {ts} in {channel}")
            return self._ws.snapshot(found)

    def ephemerals(self, channel: str, user: str | None = None) -> list[Ephemeral]:
        """Ephemeral messages in a channel, optionally only those shown to `user`."""
        with self._ws.lock:
            found = [e for e in self._ws.ephemerals if e.channel == channel and user in (None, e.user)]
            return self._ws.snapshot(found)

    @property
    def views(self) -> dict[str, View]:
        """Opened/pushed views by view ID, in their current version."""
        return self._ws.snapshot(self._ws.views)

    @property
    def files(self) -> dict[str, UploadedFile]:
        """Uploaded files by file ID, with their bytes in `.content`."""
        return self._ws.snapshot(self._ws.files)

    @property
    def response_url_posts(self) -> list[ResponseUrlPost]:
        """Every POST to a response URL, with its effect."""
        with self._ws.lock:
            return list(self._ws.response_posts)

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until `method` was called at least `count` times (for thread-hosted use); TimeoutError otherwise."""
        with self._ws.changed:
            if not self._ws.changed.wait_for(lambda: len(self.calls_to(method)) >= count, timeout):
                raise TimeoutError(self._timeout_message(method, count))
        return self.calls_to(method)

    async def wait_for_calls_async(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:  # noqa: ASYNC109
        """Like `wait_for_calls`, without blocking the event loop the stand-in may share."""
        deadline = time.monotonic() + timeout
        while len(self.calls_to(method)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(self._timeout_message(method, count))
            await asyncio.sleep(0.005)
        return self.calls_to(method)

    def _timeout_message(self, method: str, count: int) -> str:
        seen = ", ".join(c.method for c in self.calls) or "none"
        return f"expected {count} call(s) to {method}; calls seen: {seen}"

    # --- acting as Slack and its users ----------------------------------------------------------------------------

    def mint_response_url(
        self, channel: str, *, user: str | None = None, message_ts: str | None = None, thread_ts: str | None = None
    ) -> str:
        """A response URL for an interaction payload: bound to the channel, the acting user and the clicked message."""
        self._require_running()
        with self._ws.lock:
            return response_urls.mint(self._ws, channel, user=user, message_ts=message_ts, thread_ts=thread_ts)

    def post_user_message(
        self, channel: str, user: str, text: str, *, thread_ts: str | None = None, blocks: Blocks | None = None
    ) -> str:
        """Store a message written by a person (no event is sent to the bot); returns its ts.

        Raises ValueError (with Slack's error code) for an unknown channel, user or thread.
        """
        try:
            return self._post_user_message(channel, user, text, thread_ts, blocks)
        except ApiError as exc:
            raise ValueError(exc.error) from None

    def _post_user_message(
        self, channel: str, user: str, text: str, thread_ts: str | None, blocks: Blocks | None
    ) -> str:
        with self._ws.lock:
            target = self._ws.resolve_channel(channel, open_dm=True)
            parent = self._ws.thread_root(target.id, thread_ts) if thread_ts else None
            msg = Message(
                channel=target.id,
                ts=self._ws.clock.next(),
                user=self._ws.user(user).id,
                text=text,
                blocks=blocks,
                thread_ts=parent.ts if parent else None,
            )
            return self._ws.add_message(msg).ts

    def reset(self) -> None:
        """Forget messages, views, files, response URLs, calls and failures; keep the configuration and the server."""
        self._failures.clear()
        self._ws.clear()

    # --- rendering ----------------------------------------------------------------------------------------------

    def render_channel(self, channel: str, *, ephemerals: bool = True) -> str:
        """The channel as a person reads it in Slack (Block Kit as text, threads indented, edits noted)."""
        return render.render_channel(self._ws, channel, ephemerals=ephemerals)

    def render_view(self, view_id: str) -> str:
        """A stored modal as text."""
        return render.render_view(self._ws, self.views[view_id])

    def __repr__(self) -> str:
        where = self._ws.base_url or "not running"
        return f"SlackStandIn({where})"
