"""Button clicks and form submissions: acknowledge at once, then hand over to the guard.

- `triage.rerun` (value: incident id) — triage again and update the thread;
- `runbook.<remedy>` (value: an opaque proposal id) — start the guarded flow, through a form when the remedy
  needs a value;
- `change.confirm` / `change.cancel` / `change.approve` / `change.reject` (value: change id).
Every answer goes only to the person who clicked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.guard.access import Role
from bot.guard.flow import Actor, Reply
from bot.slack import remedy_forms
from bot.wiring import Services


def _actor(body: dict[str, Any]) -> Actor:
    user = body.get("user") or {}
    return Actor(str(user.get("id")), user.get("name") or user.get("username"))


async def _answer(respond: AsyncRespond, reply: Reply) -> None:
    await respond(text=reply.text, blocks=reply.blocks, response_type="ephemeral", replace_original=False)


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
        if services.retriage is not None:
            await services.retriage(incident.id)

    async def remedy(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        actor, action = _actor(body), body["actions"][0]
        remedy_id = str(action["action_id"]).removeprefix("runbook.")
        channel = (body.get("channel") or {}).get("id")
        thread = (body.get("message") or {}).get("thread_ts") or (body.get("message") or {}).get("ts")
        proposal, refused = await services.guard.may_request(actor, str(action.get("value", "")))
        if proposal is None:
            await _answer(respond, refused or Reply("refused", []))
            return
        if remedy_id in remedy_forms.NEEDS_FORM and body.get("trigger_id"):
            private = {"proposal": proposal.id, "channel": channel, "thread_ts": thread, "remedy": remedy_id}
            title = f"{remedy_id} on {proposal.namespace}/{proposal.workload}"
            view = remedy_forms.modal(remedy_id, title, proposal.params, private)
            await services.slack.call("views.open", trigger_id=body["trigger_id"], view=view)
            return
        await _answer(respond, await services.guard.request(actor, proposal.id, channel=channel, thread_ts=thread))

    async def form(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        private = json.loads(view.get("private_metadata") or "{}")
        try:
            overrides, literal = remedy_forms.read(private.get("remedy", ""), view.get("state", {}).get("values", {}))
        except remedy_forms.FormError as exc:
            await ack(response_action="errors", errors={exc.field: str(exc)})
            return
        await ack()
        actor = _actor(body)
        reply = await services.guard.request(
            actor,
            private.get("proposal", ""),
            overrides=overrides,
            literal=literal,
            channel=private.get("channel"),
            thread_ts=private.get("thread_ts"),
        )
        if private.get("channel"):
            await services.slack.ephemeral(private["channel"], actor.id, reply.text, reply.blocks)

    def change_step(step: str) -> Callable[..., Awaitable[None]]:
        async def handle(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
            await ack()
            operation = getattr(services.guard, step)
            await _answer(respond, await operation(_actor(body), str(body["actions"][0].get("value", ""))))

        return handle

    app.action("triage.rerun")(rerun)
    app.action(re.compile(r"^runbook\.[a-z_]+$"))(remedy)
    app.view(remedy_forms.CALLBACK_ID)(form)
    for step in ("confirm", "cancel", "approve", "reject"):
        app.action(f"change.{step}")(change_step(step))
