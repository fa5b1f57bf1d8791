"""The Slack edge's safety net: request signatures checked before anything logs a body, and one answer for
any failure nobody expected.

- `signed` checks Slack's signature (v0 HMAC over the raw body, timestamp within 5 minutes) before Bolt sees
  the request, so a forged or stale request is refused with 401 and its body — `response_url` included — is
  never logged (Bolt's own check prints the whole body at INFO).
- `register` installs the Bolt error handler: an unexpected exception in a listener (a database error,
  `views.open` failing after the ack) answers the person with an ephemeral message carrying an error id, and
  the log line with the traceback carries the same id. The request body is never logged.
- `safely` wraps each listener so that such an exception is answered here, inside the listener, and never reaches
  Bolt's runner: when a listener acks and then raises, Bolt (1.2x, `asyncio_runner`) resets the ack it was about
  to return, waits out the 3 s ack timeout and answers 404 — Slack then shows "operation timed out" on top of
  our message. A listener that raises before acking is acked here, so Slack never times out either.
"""

from __future__ import annotations

import inspect
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.kwargs_injection.async_args import AsyncArgs
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.core.settings import Settings

log = logging.getLogger("crashloop.slack")


def signed(settings: Settings, body: bytes, headers: Mapping[str, str]) -> bool:
    """True when the request carries a valid, fresh Slack signature made with our signing secret."""
    if settings.slack_signing_secret is None:
        return False
    timestamp, signature = headers.get("X-Slack-Request-Timestamp", ""), headers.get("X-Slack-Signature", "")
    if not timestamp.isdigit() or not signature:
        return False
    verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())
    return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)


Listener = Callable[..., Awaitable[None]]


def register(app: AsyncApp) -> None:
    """The safety net for what fails outside a listener (Bolt's middleware, a listener not wrapped by `safely`)."""

    async def on_error(error: Exception, body: dict[str, Any], client: AsyncWebClient) -> None:
        await report(error, body, client)

    app.error(on_error)


def safely(listener: Listener) -> Listener:
    """`listener` as Bolt calls it, with any unexpected exception answered with an error id (see the module's
    docstring for why this cannot be left to Bolt's error handler). Bolt passes the arguments `listener` names."""
    names = inspect.getfullargspec(listener).args

    async def run(args: AsyncArgs) -> None:
        try:
            await listener(**{name: getattr(args, name) for name in names})
        except Exception as error:
            if args.ack.response is None:
                await args.ack()
            await report(error, args.body, args.client)

    run.__name__ = run.__qualname__ = getattr(listener, "__name__", "listener")  # Bolt names listeners in its logs
    return run


async def report(error: Exception, body: dict[str, Any], client: AsyncWebClient) -> None:
    """Log `error` with a fresh error id (never the body) and tell the person, ephemerally, under the same id."""
    error_id = secrets.token_hex(4)
    kind = str(body.get("type") or ("slash_command" if body.get("command") else "request"))
    user = _user(body)
    log.error(
        "unexpected failure %s handling a Slack %s from %s: %s",
        error_id,
        kind,
        user or "?",
        type(error).__name__,
        exc_info=error,
        extra={"error_id": error_id, "user": user},
    )
    text = (
        f":warning: Something went wrong on the bot's side (error id `{error_id}`); what you asked for may not "
        "have happened. The bot's log has the details under that id."
    )
    await _tell(client, body, user, text)


def _user(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    if isinstance(user, dict):
        return str(user.get("id")) if user.get("id") else None
    return str(body["user_id"]) if body.get("user_id") else None


async def _tell(client: AsyncWebClient, body: dict[str, Any], user: str | None, text: str) -> None:
    """Ephemeral to the person: through the response URL when there is one, else in the channel they used."""
    response_url = body.get("response_url") or next(
        (u.get("response_url") for u in body.get("response_urls") or [] if isinstance(u, dict)), None
    )
    try:
        if response_url:
            await AsyncWebhookClient(str(response_url)).send(
                text=text, response_type="ephemeral", replace_original=False
            )
            return
        channel = (
            (body.get("channel") or {}).get("id") if isinstance(body.get("channel"), dict) else body.get("channel_id")
        )
        if channel is None:
            channel = _private_channel(body)
        if channel and user:
            await client.chat_postEphemeral(channel=channel, user=user, text=text)
    except Exception as exc:  # the log line above already carries the error id
        log.warning("could not tell %s about the failure: %s", user or "?", type(exc).__name__)


def _private_channel(body: dict[str, Any]) -> str | None:
    """The channel a form was opened from (our modals keep it in private_metadata)."""
    try:
        private = json.loads((body.get("view") or {}).get("private_metadata") or "{}")
    except ValueError:
        return None
    channel = private.get("channel") if isinstance(private, dict) else None
    return str(channel) if channel else None
