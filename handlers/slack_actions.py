"""Button clicks in incident messages: acknowledge at once, check who clicked, then act.

"Re-run triage" (`triage.rerun`, value = the incident id) triages the workload again and updates the thread.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.access import Role
from bot.services import Services


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

    app.action("triage.rerun")(rerun)
