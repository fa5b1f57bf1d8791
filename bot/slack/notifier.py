"""The guard's notifier in Slack: approval requests, outcomes and recoveries in the incident thread, as Block Kit.

The guard (`bot.guard.flow`) decides and calls this with typed outcomes; delivery failures are logged, never
raised — the outcome is already recorded in SQL and the audit log. After a recovery check the incident is
triaged again (`retriage`), so its root message shows how things stand; after a silence or its end only the root
message is brought up to date (`resync`): the workload did not change.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.core.config import Config
from bot.guard.outcomes import Conflict, Failed, NotRecovered, Outcome, Verified, title
from bot.remedies.registry import is_silencing
from bot.slack import change_messages as msg
from bot.slack.client import SlackOut, SlackSendError
from bot.store.changes import ChangeRow

log = logging.getLogger("crashloop.slack.notifier")


class SlackNotifier:
    """Implements `bot.guard.notifier.Notifier` for the bot."""

    def __init__(
        self,
        *,
        config: Config,
        slack: SlackOut,
        retriage: Callable[[int], Awaitable[Any]],
        resync: Callable[[int], Awaitable[Any]],
    ) -> None:
        self.config, self.slack, self.retriage, self.resync = config, slack, retriage, resync

    @property
    def carries_approvals(self) -> bool:
        return True

    async def announce(self, outcome: Outcome) -> None:
        post = msg.thread_post(outcome)
        change = getattr(outcome, "change", None)
        if post is None or not isinstance(change, ChangeRow):
            return
        channel = change.channel or (
            self.config.environments[change.environment].channel
            if change.environment in self.config.environments
            else None
        )
        if channel:
            try:
                await self.slack.post(channel, post[0], post[1], thread_ts=change.thread_ts)
            except SlackSendError as exc:
                log.warning("could not tell Slack about change %s: %s", change.id, exc.error)
        if is_silencing(change.remedy):  # the workload is as it was: only the root's silence line changes
            if isinstance(outcome, Verified | Failed) and change.incident_id is not None:
                await self.resync(change.incident_id)
            return
        recovery = isinstance(outcome, Verified | NotRecovered) and change.remedy != "netcheck"
        if recovery and change.incident_id is not None:
            await self.retriage(change.incident_id)

    async def to_requester(self, change: ChangeRow, outcome: Outcome) -> None:
        if not change.channel or not isinstance(outcome, Conflict):
            return
        blocks = msg.conflict_preview(Conflict(outcome.change, outcome.approval_needed, requester_asked=False))
        try:
            await self.slack.ephemeral(change.channel, change.requested_by, f"Confirm again: {title(change)}", blocks)
        except SlackSendError as exc:
            log.warning("could not send the new preview of change %s: %s", change.id, exc.error)

    async def progress(self, change: ChangeRow, line: str) -> None:
        """Slack hears the outcome, not every observation (the thread would fill up)."""
