"""Everything the bot sends to Slack goes through here: paced per channel, retried, counted, never dropped.

Slack allows about one message per second per channel; a 429 carries Retry-After. The SDK's retry handlers
wait it out (and back off on 5xx and connection errors); on top, calls to one channel are spaced by
`min_interval` so a storm does not run into the limit in the first place. A call that still fails raises
`SlackSendError` for the caller to record and retry later: nothing is silently lost.

Every call's arguments pass `outbound` (`redact_strings`) on the way out — text, blocks, attachments, metadata,
file content — so no message can carry a secret in clear, whichever code built it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

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

    def __init__(self, method: str, error: str) -> None:
        super().__init__(f"Slack {method} failed: {error}")
        self.method = method
        self.error = error


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


def make_client(token: str, base_url: str, metrics: Metrics) -> AsyncWebClient:
    """An AsyncWebClient that waits out 429s and retries 5xx and connection errors."""
    handlers: list[AsyncRetryHandler] = [
        _CountingRateLimitHandler(metrics, max_retry_count=6),
        AsyncServerErrorRetryHandler(max_retry_count=3),
        AsyncConnectionErrorRetryHandler(max_retry_count=3),
    ]
    return AsyncWebClient(token=token, base_url=base_url, timeout=15, retry_handlers=handlers)


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
        except (SlackClientError, OSError, TimeoutError) as exc:
            self._metrics.slack_calls.labels(method, "transport_error").inc()
            raise SlackSendError(method, f"{type(exc).__name__}: {exc}") from exc
        self._metrics.slack_calls.labels(method, "ok").inc()
        return dict(response.data) if isinstance(response.data, dict) else {}

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
            except (SlackClientError, OSError, TimeoutError) as exc:
                self._metrics.slack_calls.labels("files.upload_v2", "transport_error").inc()
                raise SlackSendError("files_upload_v2", str(exc)) from exc
            self._metrics.slack_calls.labels("files.upload_v2", "ok").inc()
