"""Times and durations as the root message and its thread show them.

A time is sent as Slack's date token (`<!date^UNIX^{date_short_pretty} {time}|fallback>`) so each reader sees
it in their own time zone; the fallback, shown where tokens are not rendered (notifications, old clients), is
UTC and says so. A duration ("firing for 12m") cannot be a token: it is computed from stored timestamps each
time the message is rendered, and every update of the message renders it again.
"""

from __future__ import annotations

from datetime import UTC, datetime

SHORT = "{date_short_pretty} {time}"


def slack_date(at: datetime, tokens: str = SHORT) -> str:
    """`at` as a Slack date token (mrkdwn only: header blocks are plain text and would show it raw)."""
    fallback = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{tokens}|{fallback}>"


def duration(start: datetime, end: datetime) -> str:
    """`end - start` in words a responder reads at a glance: 45s, 12m, 3h 5m, 2d 4h."""
    seconds = max(0, int((end - start).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 86400}d {seconds % 86400 // 3600}h"
