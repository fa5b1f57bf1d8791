"""Requests signed exactly as Slack signs them, so tests can call the bot's own `/slack/events` endpoint.

Slack sends `X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=<hex>` where the hex is the HMAC-SHA256 of
`v0:{timestamp}:{body}` keyed with the app's signing secret; apps reject a bad signature or a timestamp more than
five minutes away. The body builders (slash commands, block actions, view submissions, URL verification, events)
live in `payloads` and are re-exported here.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from .payloads import (
    block_actions_body,
    event_callback_body,
    new_trigger_id,
    slash_command_body,
    url_verification_body,
    view_submission_body,
)

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"

__all__ = [
    "FORM_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "block_actions_body",
    "event_callback_body",
    "new_trigger_id",
    "sign",
    "signature",
    "signed_headers",
    "slash_command_body",
    "url_verification_body",
    "view_submission_body",
]


def signature(signing_secret: str, body: str, timestamp: int) -> str:
    """`v0=` + HMAC-SHA256 hex of `v0:{timestamp}:{body}`."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def sign(signing_secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The two headers Slack adds to every request: `X-Slack-Request-Timestamp` and `X-Slack-Signature`."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": signature(signing_secret, body, ts)}


def signed_headers(
    signing_secret: str, body: str, *, content_type: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """`sign` plus the Content-Type Slack uses: JSON for bodies starting with `{`, form-encoded otherwise."""
    if content_type is None:
        content_type = JSON_CONTENT_TYPE if body.lstrip().startswith("{") else FORM_CONTENT_TYPE
    return {"Content-Type": content_type, **sign(signing_secret, body, timestamp)}
