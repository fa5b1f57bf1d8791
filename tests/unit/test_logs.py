"""Structured logs: one JSON object per line, with the event's context, and never a secret."""

from __future__ import annotations

import json
import logging

from bot.core.logs import JsonFormatter


def _line(message: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("crashloop.test", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return dict(json.loads(JsonFormatter().format(record)))


def test_one_json_object_with_context() -> None:
    entry = _line("Slack is behind on incident %s", 7, incident_id=7, request_id="abc123", workload="web")
    assert entry["event"] == "Slack is behind on incident 7"
    assert (entry["level"], entry["logger"]) == ("warning", "crashloop.test")
    assert (entry["incident_id"], entry["request_id"], entry["workload"]) == (7, "abc123", "web")
    assert str(entry["at"]).endswith("+00:00")


def test_secrets_in_messages_are_redacted() -> None:
    entry = _line("connecting to %s", "postgres://app:hunter2@db:5432/app")
    assert "hunter2" not in json.dumps(entry)
    assert "[REDACTED]" in str(entry["event"])


def test_unknown_extras_are_not_logged() -> None:
    entry = _line("request", body='{"token": "xoxb-123"}')
    assert "body" not in entry
