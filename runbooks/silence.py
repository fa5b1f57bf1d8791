"""Silence durations as people type them ("90m", "2h", "1d12h"), parsed the same way at every door. Pure."""

from __future__ import annotations

import re

_PART = re.compile(r"([0-9]{1,5})([mhdw])")  # ASCII digits only: "٢h" is not a duration
_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> int | None:
    """Seconds in `text` (minutes, hours, days, weeks: "45m", "2h", "1d12h"); None when it is not one."""
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned or _PART.sub("", cleaned):
        return None
    return sum(int(n) * _SECONDS[unit] for n, unit in _PART.findall(cleaned))


def format_duration(seconds: int) -> str:
    """ "2h", "1d 6h", "45m": how long, in the largest units that say it exactly."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0m"
