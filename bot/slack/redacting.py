"""Replies Bolt sends for the bot — `respond()` through a response_url and the body of an `ack()` — redacted.

`SlackOut` redacts every Web API call; these two exits do not pass through it (Bolt posts to the response_url
itself, and an ack is the HTTP answer to Slack's request), so the app installs `redact_replies` as a global Bolt
middleware and passes every ack body through `redact_body`: the same `redact_strings` step, at the edge.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.webhook import WebhookResponse

from bot.core.redact import redact, redact_strings


class RedactingRespond(AsyncRespond):
    """`respond()` whose text, blocks, attachments and metadata are redacted before they are sent."""

    async def __call__(self, *args: Any, **kwargs: Any) -> WebhookResponse:
        return await super().__call__(*redact_strings(list(args)), **redact_strings(kwargs))


async def redact_replies(context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]) -> Any:
    """Bolt middleware: the request's `respond` replaced by a redacting one."""
    if context.response_url:
        context["respond"] = RedactingRespond(
            response_url=context.response_url, proxy=context.client.proxy, ssl=context.client.ssl
        )
    return await next()


def redact_body(response: BoltResponse) -> BoltResponse:
    """The ack's body (JSON, or plain text) with every string redacted."""
    body = response.body
    if not body:
        return response
    try:
        response.body = json.dumps(redact_strings(json.loads(body)))
    except ValueError:
        response.body = redact(body)
    return response
