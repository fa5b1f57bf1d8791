"""The root message's silence buttons: acknowledge at once, hand over to the guard, answer only the clicker.

- `silence.open` (value: incident id) — the Silence form (duration, comment), prefilled with
  `silences.default_duration`; its submission is the remedy form's, previewed by the guard;
- `silence.unsilence` (value: the silence id) — the guard's preview of the silence's expiry, to confirm.
No rule is decided here: the guard refuses, this renders.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.guard.outcomes import Outcome, Refused
from bot.guard.trail import Actor
from bot.slack import change_messages as msg
from bot.slack import remedy_forms, silence_requests
from bot.wiring import Services
from handlers.slack_errors import safely


def _actor(body: dict[str, Any]) -> Actor:
    user = body.get("user") or {}
    return Actor(str(user.get("id")), user.get("name") or user.get("username"))


def _where(body: dict[str, Any]) -> tuple[str | None, str | None]:
    message = body.get("message") or {}
    return (body.get("channel") or {}).get("id"), message.get("thread_ts") or message.get("ts")


async def _answer(respond: AsyncRespond, outcome: Outcome) -> None:
    text, blocks = msg.answer(outcome)
    await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


def register(app: AsyncApp, services: Services) -> None:
    async def open_form(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        actor, (channel, thread) = _actor(body), _where(body)
        value = str(body["actions"][0].get("value", ""))
        proposal = await silence_requests.silence_proposal(services, actor, value)
        if isinstance(proposal, Refused):
            await _answer(respond, proposal)
            return
        if not body.get("trigger_id"):  # no form can open: preview the default duration
            outcome = await services.guard.request(actor, proposal.id, channel=channel, thread_ts=thread)
            await _answer(respond, outcome)
            return
        private = {"proposal": proposal.id, "channel": channel, "thread_ts": thread, "remedy": proposal.remedy}
        title = f"Silence the alerts of {proposal.namespace}/{proposal.workload} ({proposal.environment})"
        view = remedy_forms.modal(proposal.remedy, title, proposal.params, private)
        await services.slack.call("views.open", trigger_id=body["trigger_id"], view=view)

    async def unsilence(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        channel, thread = _where(body)
        value = str(body["actions"][0].get("value", ""))
        await _answer(respond, await silence_requests.unsilence(services, _actor(body), value, channel, thread))

    app.action("silence.open")(safely(open_form))
    app.action("silence.unsilence")(safely(unsilence))
