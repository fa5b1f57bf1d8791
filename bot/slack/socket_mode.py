"""Socket Mode with each envelope handled once.

Slack redelivers an envelope whose acknowledgement it did not see in time, and after a reconnect the new
connection may carry envelopes the old one already delivered. Bolt's handler would run the listener again (a
second triage, a second "Preview" for one click). This handler remembers the last envelope ids it dispatched and
only acknowledges a repeat. The memory is per process; across replicas, the change flow's conditional updates in
SQL still make a repeated click move a change once. The acknowledgement's body (a form's errors, say) is redacted
(`bot.slack.redacting.redact_body`) as it is over HTTP.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.slack.redacting import redact_body

log = logging.getLogger("crashloop.socket_mode")
REMEMBERED_ENVELOPES = 2048


class DedupingSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler, dispatching each envelope_id once and acknowledging repeats."""

    def __init__(self, app: AsyncApp, *, app_token: str, remember: int = REMEMBERED_ENVELOPES) -> None:
        super().__init__(app, app_token=app_token)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        if req.envelope_id in self._seen:
            log.info(
                "socket mode: envelope %s redelivered (%s): acknowledged, not handled again", req.envelope_id, req.type
            )
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        self._seen[req.envelope_id] = None  # before dispatching: a repeat arriving meanwhile is dropped too
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        start = time.time()
        response = await run_async_bolt_app(self.app, req)  # Bolt's own handle(), with the ack body redacted
        await send_async_response(client, req, redact_body(response), start)
