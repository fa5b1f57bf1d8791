"""Button clicks and form submissions: acknowledge at once, hand over to the guard, render what it returns.

- `triage.rerun` (value: incident id) — triage again and update the thread;
- `runbook.<remedy>` (value: an opaque proposal id) — start the guarded flow, through a form when the remedy
  needs a value;
- `change.confirm` / `change.cancel` / `change.approve` / `change.reject` (value: change id); once the change
  has moved on, the clicked message's buttons are replaced by the change's state;
- `incident.ack` / `incident.take_over` — who owns the incident (`handlers.slack_ownership`).
Every answer goes only to the person who clicked. No rule is decided here: the guard refuses, this renders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.guard.access import Role
from bot.guard.outcomes import MayRequest, Outcome, Refused
from bot.guard.trail import Actor
from bot.slack import change_messages as msg
from bot.slack import remedy_forms
from bot.store.changes import ChangeRow
from bot.wiring import Services
from handlers import slack_ownership
from handlers.slack_errors import safely


def _actor(body: dict[str, Any]) -> Actor:
    user = body.get("user") or {}
    return Actor(str(user.get("id")), user.get("name") or user.get("username"))


async def _answer(respond: AsyncRespond, outcome: Outcome) -> None:
    text, blocks = msg.answer(outcome)
    await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


def register(app: AsyncApp, services: Services) -> None:
    async def rerun(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user = body["user"]["id"]
        value = body["actions"][0].get("value", "")
        incident = await services.store.get_incident(int(value)) if value.isdigit() else None
        if incident is None:
            await respond(
                text=f":no_entry: Re-run triage — incident {value!r} is unknown",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        decision = await services.access.role(user, incident.environment)
        if decision.role < Role.VIEWER:
            await respond(
                text=f":no_entry: Re-run triage of {incident.workload} — {decision.why}",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        await services.retriage(incident.id)

    async def remedy(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        actor, action = _actor(body), body["actions"][0]
        remedy_id = str(action["action_id"]).removeprefix("runbook.")
        channel = (body.get("channel") or {}).get("id")
        thread = (body.get("message") or {}).get("thread_ts") or (body.get("message") or {}).get("ts")
        allowed = await services.guard.may_request(actor, str(action.get("value", "")))
        if not isinstance(allowed, MayRequest):
            await _answer(respond, allowed)
            return
        proposal = allowed.proposal
        if remedy_forms.needs_form(remedy_id) and body.get("trigger_id"):
            private = {"proposal": proposal.id, "channel": channel, "thread_ts": thread, "remedy": remedy_id}
            title = f"{remedy_id} on {proposal.namespace}/{proposal.workload}"
            view = remedy_forms.modal(remedy_id, title, proposal.params, private)
            await services.slack.call("views.open", trigger_id=body["trigger_id"], view=view)
            return
        await _answer(respond, await services.guard.request(actor, proposal.id, channel=channel, thread_ts=thread))

    async def form(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        private = json.loads(view.get("private_metadata") or "{}")
        remedy_id, proposal_id = str(private.get("remedy", "")), str(private.get("proposal", ""))
        try:
            overrides, literal = remedy_forms.read(remedy_id, view.get("state", {}).get("values", {}))
        except remedy_forms.FormError as exc:
            await ack(response_action="errors", errors={exc.field: str(exc)})
            return
        actor = _actor(body)
        refused = await services.guard.check_params(actor, proposal_id, overrides, literal=literal)
        if refused is not None and refused.field in remedy_forms.fields(
            remedy_id
        ):  # shown next to the field: correct it and submit again
            await ack(response_action="errors", errors={refused.field: refused.reason})
            return
        await ack()
        outcome = refused or await services.guard.request(
            actor,
            proposal_id,
            overrides=overrides,
            literal=literal,
            channel=private.get("channel"),
            thread_ts=private.get("thread_ts"),
        )
        if private.get("channel"):
            text, blocks = msg.answer(outcome)
            await services.slack.ephemeral(private["channel"], actor.id, text, blocks)

    def change_step(step: str, message: str) -> Callable[..., Awaitable[None]]:
        async def handle(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await ack()
            change_id = str(body["actions"][0].get("value", ""))
            operation = getattr(services.guard, step)
            outcome = await operation(_actor(body), change_id)
            await _answer(respond, outcome)
            change = await services.guard.status(change_id)
            if change is not None and change.state not in msg.LIVE_STATES[message]:
                await _settle(respond, body, change, outcome)

        return handle

    app.action("triage.rerun")(safely(rerun))
    app.action(re.compile(r"^runbook\.[a-z_]+$"))(safely(remedy))
    app.view(remedy_forms.CALLBACK_ID)(safely(form))
    app.action("change.confirm")(safely(change_step("confirm", "preview")))
    app.action("change.cancel")(safely(change_step("cancel", "preview")))
    app.action("change.approve")(safely(change_step("approve", "approval")))
    app.action("change.reject")(safely(change_step("reject", "approval")))
    slack_ownership.register(app, services)  # incident.ack, incident.take_over


async def _settle(respond: AsyncRespond, body: dict[str, Any], change: ChangeRow, outcome: Outcome) -> None:
    """Replace the clicked message's buttons with the change's state: they are no longer live."""
    if isinstance(outcome, Refused) and outcome.change is None:
        return
    original = (body.get("message") or {}).get("blocks") or []
    await respond(
        text=f"This change is {change.state}",
        blocks=msg.settled(original, change),
        replace_original=True,
    )
