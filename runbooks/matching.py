"""Finding the evidence line that proves a point: regex signals over log lines, events and messages.

Branch modules declare their signals as data (a label and a regex) and use these helpers so every reason the
bot gives can quote the exact line that matched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from runbooks.model import Event, ReadFailure

_MAX_QUOTE = 300


@dataclass(frozen=True)
class Signal:
    """A named pattern; `label` is how a reason describes a match."""

    label: str
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, label: str, regex: str) -> Signal:
        return cls(label, re.compile(regex, re.IGNORECASE))


@dataclass(frozen=True)
class Match:
    """A signal that matched, the line it matched in, and the regex match (for extracting names)."""

    signal: Signal
    line: str
    match: re.Match[str]

    @property
    def quote(self) -> str:
        return shorten(self.line)


def shorten(line: str, limit: int = _MAX_QUOTE) -> str:
    line = line.strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def excerpt(line: str, start: int, end: int, limit: int = _MAX_QUOTE) -> str:
    """`line` cut to `limit` characters around the span that matched, so a long line still quotes its point."""
    stripped = line.strip()
    offset = len(line) - len(line.lstrip())
    start, end = max(0, start - offset), max(0, end - offset)
    if len(stripped) <= limit:
        return stripped
    if end <= limit - 1:
        return stripped[: limit - 1] + "…"
    begin = max(0, min(start - 40, len(stripped) - (limit - 2)))
    cut = stripped[begin : begin + limit - 2]
    return "…" + cut + ("…" if begin + limit - 2 < len(stripped) else "")


@dataclass(frozen=True)
class EventGroup:
    """One event message as the responder should read it: once, with its total count and how many pods said it."""

    reason: str
    message: str
    count: int
    pods: int

    def line(self) -> str:
        pods = f" ({self.pods} pods)" if self.pods > 1 else ""
        return f"{self.reason} x{self.count}{pods}: {self.message}"


def group_events(events: Iterable[Event]) -> list[EventGroup]:
    """Events with the same reason and message (pod names aside) merged, most frequent first; the message kept is
    the first one seen, verbatim."""
    merged: dict[tuple[str, str], tuple[str, int, set[str]]] = {}
    for e in events:
        key = (e.reason, e.message.replace(e.object_name, "") if e.object_name else e.message)
        first, count, pods = merged.get(key, (e.message, 0, set()))
        merged[key] = (first, count + e.count, pods | {e.object_name})
    groups = [EventGroup(r, first, c, len(p)) for (r, _), (first, c, p) in merged.items()]
    return sorted(groups, key=lambda g: -g.count)


def read_failure_lines(failures: Iterable[ReadFailure]) -> list[str]:
    """One line per distinct read failure: the same call failing for several pods is said once, with the count."""
    grouped: dict[tuple[str, str], list[ReadFailure]] = {}
    for f in failures:
        kind = " ".join(word for word in f.what.split() if "/" not in word)
        grouped.setdefault((kind, f.status), []).append(f)
    lines = []
    for (kind, status), same in grouped.items():
        if len(same) == 1:
            lines.append(f"{same[0].what}: {status}")
        else:
            lines.append(f"{kind} ({len(same)} reads, e.g. {same[0].what}): {status}")
    return lines


def find_last(lines: Sequence[str], signals: Iterable[Signal]) -> Match | None:
    """The most recent line matching any signal (crash logs end with the error that matters)."""
    compiled = tuple(signals)
    for line in reversed(lines):
        for signal in compiled:
            m = signal.pattern.search(line)
            if m:
                return Match(signal, line, m)
    return None


def find_all(lines: Sequence[str], signals: Iterable[Signal]) -> list[Match]:
    """Every line matching a signal, first match per line, in order."""
    compiled = tuple(signals)
    found: list[Match] = []
    for line in lines:
        for signal in compiled:
            m = signal.pattern.search(line)
            if m:
                found.append(Match(signal, line, m))
                break
    return found
