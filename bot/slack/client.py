"""Everything the bot sends to Slack goes through here: paced per channel, retried, counted, never dropped.

Slack allows about one message per second per channel; a 429 carries Retry-After. The SDK's retry handlers
wait it out (and back off on 5xx and connection errors); on top, calls to one channel are spaced by
`min_interval` so a storm does not run into the limit in the first place. A call that still fails raises
`SlackSendError` for the caller to record and retry later: nothing is silently lost.

Posting is the one call that is not idempotent: when Slack's answer is lost (the connection drops after Slack
posted, the answer comes after the client's timeout) the message may exist. Such an outcome is `uncertain`, the
SDK does not retry it, and `post_unique` looks for the message (by its metadata, in the channel's history — or,
for a thread reply, in the thread) before posting again — a root message or a reply is never posted twice.

Every call's arguments pass `outbound` (`redact_strings`) on the way out — text, blocks, attachments, metadata,
file content — so no message can carry a secret in clear, whichever code built it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.metrics import Metrics
from bot.core.redact import redact_strings


class SlackSendError(Exception):
    """A Slack call that failed after retries; `error` is Slack's error code or the transport problem."""

    def __init__(self, method: str, error: str, *, uncertain: bool = False) -> None:
        super().__init__(f"Slack {method} failed: {error}")
        self.method = method
        self.error = error
        self.uncertain = uncertain  # no answer came back: the call may have taken effect


class _ConnectionRetryExceptPosting(AsyncConnectionErrorRetryHandler):
    """Retries connection errors of every call but chat.postMessage: a dropped connection may hide a message
    Slack posted, and re-posting would show it twice (`SlackOut.post_unique` looks for it instead)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.rstrip("/").endswith("chat.postMessage"):
            return False
        return await super()._can_retry_async(state=state, request=request, response=response, error=error)


class _CountingRateLimitHandler(AsyncRateLimitErrorRetryHandler):
    def __init__(self, metrics: Metrics, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._metrics = metrics

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        limited = await super()._can_retry_async(state=state, request=request, response=response, error=error)
        if limited:
            self._metrics.slack_rate_limited.inc()
        return limited


def make_client(token: str, base_url: str, metrics: Metrics, timeout: float = 15) -> AsyncWebClient:
    """An AsyncWebClient that waits out 429s and retries 5xx and connection errors (not of chat.postMessage)."""
    handlers: list[AsyncRetryHandler] = [
        _CountingRateLimitHandler(metrics, max_retry_count=6),
        AsyncServerErrorRetryHandler(max_retry_count=3),
        _ConnectionRetryExceptPosting(max_retry_count=3),
    ]
    return AsyncWebClient(token=token, base_url=base_url, timeout=int(timeout), retry_handlers=handlers)


def outbound(args: dict[str, Any]) -> dict[str, Any]:
    """The arguments of a Slack call with every string in them redacted: the one step all outbound text passes."""
    redacted: dict[str, Any] = redact_strings(args)
    return redacted


class SlackOut:
    """Outbound Slack calls of the bot."""

    def __init__(self, client: AsyncWebClient, metrics: Metrics, min_interval: float = 1.0) -> None:
        self.client = client
        self._metrics = metrics
        self._min_interval = min_interval
        self._locks: dict[str, asyncio.Lock] = {}
        self._last: dict[str, float] = {}

    async def _paced(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args["channel"])
        lock = self._locks.setdefault(channel, asyncio.Lock())
        async with lock:
            wait = self._last.get(channel, 0.0) + self._min_interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await self.call(method, **args)
            finally:
                self._last[channel] = time.monotonic()

    async def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """One Web API call (unpaced); SlackSendError when it fails for good."""
        try:
            response = await self.client.api_call(method, json=outbound(kwargs))
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            self._metrics.slack_calls.labels(method, error).inc()
            details = (exc.response.get("response_metadata") or {}).get("messages") or []
            raise SlackSendError(method, error + (f" ({'; '.join(details)[:500]})" if details else "")) from exc
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._metrics.slack_calls.labels(method, "transport_error").inc()
            raise SlackSendError(method, f"{type(exc).__name__}: {exc}", uncertain=True) from exc
        self._metrics.slack_calls.labels(method, "ok").inc()
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def post_unique(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        metadata: dict[str, Any],
        is_it: Callable[[dict[str, Any]], bool],
        since: float = 0.0,
        look_first: bool,
        attempts: int = 3,
        thread_ts: str | None = None,
    ) -> tuple[str, bool]:
        """Post a message at most once: before posting again after an uncertain outcome (and first, when
        `look_first`), look for a bot message whose metadata `is_it` recognises — in the channel's history since
        `since`, or in the thread of `thread_ts` for a reply — and adopt it. Returns (ts, adopted): an adopted
        message shows what was posted then."""
        for attempt in range(attempts):
            if look_first or attempt:
                if thread_ts:
                    found = await self.find_reply(channel, thread_ts, is_it)
                else:
                    found = await self.find_posted(channel, is_it, since)
                if found is not None:
                    self._metrics.slack_calls.labels("chat.postMessage", "adopted").inc()
                    return found, True
            try:
                return await self.post(channel, text, blocks, thread_ts=thread_ts, metadata=metadata), False
            except SlackSendError as exc:
                if not exc.uncertain or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def find_posted(
        self, channel: str, is_it: Callable[[dict[str, Any]], bool], since: float, pages: int = 10
    ) -> str | None:
        """The ts of a message in `channel` (newer than `since`) whose metadata `is_it` recognises, if any."""
        cursor = None
        for _ in range(pages):
            args: dict[str, Any] = {
                "channel": channel,
                "oldest": f"{since:.6f}",
                "include_all_metadata": True,
                "limit": 200,
            }
            if cursor:
                args["cursor"] = cursor
            data = await self.call("conversations.history", **args)
            for message in data.get("messages") or []:
                if message.get("bot_id") and is_it(message.get("metadata") or {}):
                    return str(message["ts"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not data.get("has_more") or not cursor:
                return None
        return None

    async def find_reply(
        self, channel: str, thread_ts: str, is_it: Callable[[dict[str, Any]], bool], pages: int = 10
    ) -> str | None:
        """The ts of a reply in the thread of `thread_ts` whose metadata `is_it` recognises, if any."""
        cursor = None
        for _ in range(pages):
            args: dict[str, Any] = {"channel": channel, "ts": thread_ts, "include_all_metadata": True, "limit": 200}
            if cursor:
                args["cursor"] = cursor
            data = await self.call("conversations.replies", **args)
            for message in data.get("messages") or []:
                if message.get("ts") != thread_ts and message.get("bot_id") and is_it(message.get("metadata") or {}):
                    return str(message["ts"])
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not data.get("has_more") or not cursor:
                return None
        return None

    async def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """chat.postMessage; returns the message ts."""
        args: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False, "unfurl_media": False}
        if blocks:
            args["blocks"] = blocks
        if thread_ts:
            args["thread_ts"] = thread_ts
        if metadata:
            args["metadata"] = metadata
        data = await self._paced("chat.postMessage", args)
        return str(data.get("ts"))

    async def update(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]], metadata: dict[str, Any] | None = None
    ) -> None:
        args: dict[str, Any] = {"channel": channel, "ts": ts, "text": text, "blocks": blocks}
        if metadata:
            args["metadata"] = metadata
        await self._paced("chat.update", args)

    async def ephemeral(self, channel: str, user: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        args: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if blocks:
            args["blocks"] = blocks
        await self.call("chat.postEphemeral", **args)

    async def upload(self, channel: str, thread_ts: str | None, filename: str, content: str, title: str) -> None:
        """files upload v2 (getUploadURLExternal → upload → completeUploadExternal) into a thread."""
        async with self._locks.setdefault(channel, asyncio.Lock()):
            try:
                await self.client.files_upload_v2(
                    **outbound(
                        {"channel": channel, "thread_ts": thread_ts, "filename": filename, "content": content}
                        | {"title": title}
                    )
                )
            except SlackApiError as exc:
                self._metrics.slack_calls.labels("files.upload_v2", str(exc.response.get("error"))).inc()
                raise SlackSendError("files_upload_v2", str(exc.response.get("error"))) from exc
            except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                self._metrics.slack_calls.labels("files.upload_v2", "transport_error").inc()
                raise SlackSendError("files_upload_v2", str(exc)) from exc
            self._metrics.slack_calls.labels("files.upload_v2", "ok").inc()
