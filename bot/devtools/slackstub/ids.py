"""Identifiers the way Slack shapes them: message timestamps ("1700000000.000100") and prefixed object IDs.

Message `ts` values must be unique and increasing (the bot and Slack use them as message keys and for ordering);
`TsClock` guarantees that even when two messages are posted within the same microsecond.
"""

from __future__ import annotations

import time
from collections import Counter

_US_PER_S = 1_000_000


def format_ts(micros: int) -> str:
    """Slack's `ts` text for a count of microseconds since the epoch."""
    return f"{micros // _US_PER_S}.{micros % _US_PER_S:06d}"


def ts_to_float(ts: str) -> float:
    """A `ts` as seconds since the epoch (for ordering and `oldest`/`latest` filters)."""
    return float(ts)


class TsClock:
    """Hands out strictly increasing message timestamps: wall-clock based, or deterministic from `start`."""

    def __init__(self, start: float | None = None) -> None:
        self._fixed = start is not None
        self._last = round(start * _US_PER_S) if start is not None else 0

    def next(self) -> str:
        """The next timestamp: `start` + 100 µs per message when deterministic, else max(now, previous + 1 µs)."""
        if self._fixed:
            self._last += 100
        else:
            self._last = max(int(time.time() * _US_PER_S), self._last + 1)
        return format_ts(self._last)


class IdMinter:
    """Mints Slack-looking IDs per prefix: F0000000001 for files, V0000000001 for views, D... for DMs."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def mint(self, prefix: str) -> str:
        """The next ID with this one-letter prefix."""
        self._counts[prefix] += 1
        return f"{prefix}{self._counts[prefix]:010d}"
