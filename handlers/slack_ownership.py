"""The "I'm on it" and "Take over" buttons: acknowledge the click, hand it to the ownership rule, say the outcome.

- `incident.ack` (value: incident id), on the root message;
- `incident.take_over` (value: "<incident id>:<owner the offer was made from>"), on the ephemeral offer a
  second "I'm on it" gets when someone else owns the incident.
A stale or forged value (unknown incident, resolved incident, not a value the bot made) is answered with a clear
ephemeral message, and so is a database that refused the write (nothing is owned without its audit row). The
answer replaces the offer it was clicked on (so its button is not live twice).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.guard.trail import Actor
from bot.incidents.ownership import Outcome, Where
from bot.slack import ownership_messages as msg
from bot.slack.incident_message import ACK_ACTION, TAKE_OVER_ACTION
from bot.store import StoreUnavailable
from bot.wiring import Services
from handlers.slack_errors import safely

log = logging.getLogger("crashloop.slack")


def _actor(body: dict[str, Any]) -> Actor:
    user = body.get("user") or {}
    return Actor(str(user.get("id")), user.get("name") or user.get("username"))


def _where(body: dict[str, Any]) -> Where:
    message = body.get("message") or {}
    return Where((body.get("channel") or {}).get("id"), message.get("thread_ts") or message.get("ts"))


async def _say(respond: AsyncRespond, body: dict[str, Any], outcome: Outcome | str) -> None:
    text, blocks = (f":no_entry: {outcome}", None) if isinstance(outcome, str) else msg.answer(outcome)
    on_offer = bool((body.get("container") or {}).get("is_ephemeral"))  # clicked in the offer: replace it
    await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=on_offer)


async def _owning(respond: AsyncRespond, body: dict[str, Any], step: Awaitable[Outcome]) -> None:
    """Run an ownership step and say its outcome; a store that refused the write (the audit row or the owner)
    is said as such: nothing was owned."""
    try:
        outcome: Outcome | str = await step
    except StoreUnavailable as exc:
        log.warning("an ownership click could not be recorded: %s", exc)
        outcome = "Not owned: the database refused to record it (the audit log must have the row); try again"
    await _say(respond, body, outcome)


def register(app: AsyncApp, services: Services) -> None:
    async def acknowledge(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        value = str(body["actions"][0].get("value", ""))
        if not msg.is_incident_id(value):
            await _say(respond, body, f"I'm on it — {value[:40]!r} is not an incident this bot posted")
            return
        await _owning(respond, body, services.ownership.acknowledge(_actor(body), int(value), _where(body)))

    async def take_over(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        value = str(body["actions"][0].get("value", ""))
        parsed = msg.read_take_over_value(value)
        if parsed is None:
            await _say(respond, body, f"Take over — {value[:40]!r} is not an offer this bot made")
            return
        incident_id, offered_from = parsed
        await _owning(
            respond, body, services.ownership.take_over(_actor(body), incident_id, offered_from, _where(body))
        )

    app.action(ACK_ACTION)(safely(acknowledge))
    app.action(TAKE_OVER_ACTION)(safely(take_over))
