"""How the change flow tells people what happened beyond the person who clicked: a protocol, no Slack.

The guard calls a `Notifier` when something other people should see: an approval request, an applied change,
a recovery (or not), a new preview the requester must confirm after a conflict, the progress of a recovery
check. `bot.slack.notifier` posts them in the incident thread as Block Kit; the CLI prints them.
"""

from __future__ import annotations

from typing import Protocol

from bot.guard.outcomes import Outcome
from bot.store.changes import ChangeRow


class Notifier(Protocol):
    @property
    def carries_approvals(self) -> bool:
        """True when an approval request reaches a second responder who can approve it (Slack, not a terminal)."""
        ...

    async def announce(self, outcome: Outcome) -> None:
        """Tell the change's audience (the incident thread) about `outcome`; never raises for delivery."""
        ...

    async def to_requester(self, change: ChangeRow, outcome: Outcome) -> None:
        """Tell the requester (only them) about `outcome`, e.g. a new preview to confirm after a conflict."""
        ...

    async def progress(self, change: ChangeRow, line: str) -> None:
        """What the recovery check waits for now (a terminal shows it; Slack need not)."""
        ...
