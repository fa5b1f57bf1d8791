"""Slack as the guard's directory: user-group members (`usergroups.users.list`) and display names (`users.info`)."""

from __future__ import annotations

from bot.guard.access import AccessLookupError
from bot.slack.client import SlackOut, SlackSendError


class SlackDirectory:
    """Implements `bot.guard.access.Directory` over the Web API."""

    def __init__(self, slack: SlackOut) -> None:
        self.slack = slack

    async def group_members(self, group: str) -> frozenset[str]:
        try:
            data = await self.slack.call("usergroups.users.list", usergroup=group)
        except SlackSendError as exc:
            raise AccessLookupError(f"could not read members of user group {group}: {exc.error}") from exc
        return frozenset(str(u) for u in data.get("users") or [])

    async def name_of(self, user: str) -> str | None:
        try:
            data = await self.slack.call("users.info", user=user)
        except SlackSendError:
            return None
        profile = data.get("user") or {}
        name = profile.get("real_name") or profile.get("name")
        return str(name) if name else None
