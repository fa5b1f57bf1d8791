"""Simulated time: one clock for the whole cluster, and the ways Kubernetes writes times and durations.

Scenario ages ("created 4 minutes ago"), restart counts that grow while a pod crash-loops and event counts are
all computed from this clock, so a test can move time forward instead of sleeping, and the seeding of a scenario
can replay a workload's history at the moments it happened.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

_AGE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_AGE_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


class Clock:
    """Wall-clock time plus an offset that tests can advance; `started` is the sim's "now" at creation."""

    def __init__(self, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0 if start is None else start - time.time()
        self._pinned: float | None = None
        self.started = self.now()

    def now(self) -> float:
        with self._lock:
            if self._pinned is not None:
                return self._pinned
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    @contextmanager
    def pinned(self, at: float) -> Iterator[None]:
        """Freeze the clock at `at` (used to replay history while seeding, under the cluster lock)."""
        with self._lock:
            previous, self._pinned = self._pinned, at
        try:
            yield
        finally:
            with self._lock:
                self._pinned = previous


def rfc3339(ts: float) -> str:
    """A metav1.Time: second precision, `Z` suffix."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(ts: float) -> str:
    """A metav1.MicroTime (events' eventTime, leases' renewTime)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rfc3339_nano(ts: float) -> str:
    """The timestamp kubelet prefixes log lines with when `timestamps=true`."""
    whole = datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    nanos = round((ts - int(ts)) * 1e9)
    return f"{whole}.{min(nanos, 999_999_999):09d}Z"


def parse_rfc3339(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def parse_age(value: str | float | int) -> float:
    """Seconds in `6d`, `4m`, `1h30m`, `45s`, `250ms` or a bare number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = value.strip().removesuffix(" ago")
    parts = _AGE.findall(text)
    if not parts or "".join(a + u for a, u in parts) != text.replace(" ", ""):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"not a duration: {value!r}") from None
    return sum(float(amount) * _AGE_UNITS[unit] for amount, unit in parts)


def human_duration(seconds: float) -> str:
    """Go's `duration.HumanDuration`, as the AGE column of `kubectl get` shows it."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // 24 // 365, hours // 24 % 365
    return f"{years}y" if days == 0 or years >= 8 else f"{years}y{days}d"


def go_duration(seconds: float) -> str:
    """Go's `time.Duration.String()` for whole seconds: `10s`, `1m20s`, `5m0s`."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    minutes, rest = divmod(s, 60)
    if minutes < 60:
        return f"{minutes}m{rest}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{rest}s"
