"""Failure injection: make the next calls of a method fail the way Slack fails, and emulate per-channel rate limits.

Three kinds of scripted failure, consumed in the order they were added: HTTP 429 with `Retry-After` (what the SDK's
`AsyncRateLimitErrorRetryHandler` retries), HTTP 5xx (what `AsyncServerErrorRetryHandler` retries) and HTTP 200 with
`ok: false` and an error code (what surfaces as `SlackApiError`). The rate limit emulation answers 429 when a
channel receives more messages per second than allowed, as Slack does for chat.postMessage.

Two kinds of lost answer, where the call *does* take effect: the answer is delayed (past a client's timeout), or
the connection is dropped once the call is done — what a client cannot tell from a call that never landed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

ANY_METHOD = "*"

_DEFAULT_ERRORS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}


@dataclass(frozen=True)
class FailureResponse:
    """The HTTP answer that replaces a call's normal one."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Scripted:
    method: str
    status: int
    error: str
    retry_after: int
    remaining: int | None

    def response(self) -> FailureResponse:
        headers = {"Retry-After": str(self.retry_after)} if self.status == 429 else {}
        return FailureResponse(self.status, {"ok": False, "error": self.error}, headers)


@dataclass
class _LostAnswer:
    method: str
    delay: float
    drop: bool
    remaining: int | None


@dataclass(frozen=True)
class LostAnswer:
    """After the call took effect: wait `delay` seconds before answering, then answer or drop the connection."""

    delay: float
    drop: bool


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class _RateLimit:
    per_second: float
    burst: int
    methods: frozenset[str]


class FailurePlan:
    """Scripted failures and rate limits; thread-safe (configured from tests, consulted on the server loop)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._scripted: list[_Scripted] = []
        self._lost: list[_LostAnswer] = []
        self._limit: _RateLimit | None = None
        self._buckets: dict[str, _Bucket] = {}

    def add(self, method: str, *, status: int | None, error: str | None, retry_after: int, times: int | None) -> None:
        """Fail the next `times` calls of `method` (None: every call until cleared; "*" matches any method)."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every call)")
        code = status if status is not None else (200 if error else 429)
        reason = error or _DEFAULT_ERRORS.get(code, "fatal_error")
        with self._lock:
            self._scripted.append(_Scripted(method, code, reason, max(0, retry_after), times))

    def take(self, method: str) -> FailureResponse | None:
        """The scripted failure for this call, if one is pending (consuming one of its `times`)."""
        with self._lock:
            for scripted in self._scripted:
                if scripted.method in (method, ANY_METHOD):
                    if scripted.remaining is not None:
                        scripted.remaining -= 1
                        if scripted.remaining == 0:
                            self._scripted.remove(scripted)
                    return scripted.response()
        return None

    def lose_answers(self, method: str, *, delay: float, drop: bool, times: int | None) -> None:
        """Let the next `times` calls of `method` take effect, then delay their answer and/or drop the connection."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for every call)")
        if delay < 0:
            raise ValueError("delay must not be negative")
        with self._lock:
            self._lost.append(_LostAnswer(method, delay, drop, times))

    def take_lost(self, method: str) -> LostAnswer | None:
        """How this call's answer is lost, if it is to be (consuming one of its `times`)."""
        with self._lock:
            for lost in self._lost:
                if lost.method in (method, ANY_METHOD):
                    if lost.remaining is not None:
                        lost.remaining -= 1
                        if lost.remaining == 0:
                            self._lost.remove(lost)
                    return LostAnswer(lost.delay, lost.drop)
        return None

    def limit_channels(self, per_second: float, burst: int, methods: Iterable[str]) -> None:
        """Allow each channel `per_second` messages (bursts of up to `burst`), else 429 with Retry-After."""
        if per_second <= 0 or burst < 1:
            raise ValueError("messages_per_second must be positive and burst at least 1")
        with self._lock:
            self._limit = _RateLimit(per_second, burst, frozenset(methods))
            self._buckets.clear()

    def check_rate(self, method: str, channel: str | None) -> FailureResponse | None:
        """A 429 when this message would exceed its channel's rate; otherwise the message spends a token."""
        with self._lock:
            limit = self._limit
            if limit is None or channel is None or method not in limit.methods:
                return None
            now = self._clock()
            bucket = self._buckets.setdefault(channel, _Bucket(float(limit.burst), now))
            bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.updated) * limit.per_second)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            wait = (1.0 - bucket.tokens) / limit.per_second
        headers = {"Retry-After": str(max(1, math.ceil(wait)))}
        return FailureResponse(429, {"ok": False, "error": "ratelimited"}, headers)

    def clear(self) -> None:
        """Drop every scripted failure and the rate limit."""
        with self._lock:
            self._scripted.clear()
            self._lost.clear()
            self._limit = None
            self._buckets.clear()
