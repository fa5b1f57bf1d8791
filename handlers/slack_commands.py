"""The `/crashloop` slash command listener: acknowledge at once, work after the ack, answer the asker.

Slack wants an answer within 3 seconds; triage may take longer, so the listener acks with "working on it" and
answers through the response_url. Errors go only to the user who typed the command.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.slack import commands
from bot.wiring import Services
from handlers.slack_errors import safely


def register(app: AsyncApp, services: Services) -> None:
    async def crashloop(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]) -> None:
        text = (command.get("text") or "").strip()
        first = text.split(maxsplit=1)[0] if text else "help"
        if first == "triage" or first in commands.REMEDIES:
            await ack(response_type="ephemeral", text="Triaging…")
        else:
            await ack()
        reply = await commands.run(services, command["user_id"], text, command.get("channel_id"))
        await respond(
            text=reply.text,
            blocks=reply.blocks,
            response_type="in_channel" if reply.public else "ephemeral",
            replace_original=False,
        )

    app.command("/crashloop")(safely(crashloop))
