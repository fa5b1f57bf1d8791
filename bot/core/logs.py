"""Structured logs: one JSON object per line on stderr, with the event's context and never a secret or a body."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from bot.core.redact import redact

_CONTEXT_FIELDS = (
    "incident_id",
    "request_id",
    "environment",
    "namespace",
    "workload",
    "remedy",
    "user",
    "source",
    "status",
    "reason",
    "url",
)
# Warnings that describe our deliberate set-up, not a problem: Bolt warns that the SLACK_BOT_TOKEN it reads from
# the environment is unused because the app passes its own client (which carries that very token).
_TOKEN_UNUSED = ("As you gave `client` as well, `token` will be unused.",)
_EXPECTED_WARNINGS = {"slack_bolt.AsyncApp": _TOKEN_UNUSED, "crashloop.bolt": _TOKEN_UNUSED}


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON; extra fields named in _CONTEXT_FIELDS are carried along; messages are redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": redact(record.getMessage()),
        }
        for name in _CONTEXT_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class DropMessages(logging.Filter):
    """Drops records whose message is one of `messages` (exact match)."""

    def __init__(self, messages: tuple[str, ...]) -> None:
        super().__init__()
        self.messages = set(messages)

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.messages


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    for name, messages in _EXPECTED_WARNINGS.items():
        logger = logging.getLogger(name)
        logger.filters[:] = [f for f in logger.filters if not isinstance(f, DropMessages)]
        logger.addFilter(DropMessages(messages))
