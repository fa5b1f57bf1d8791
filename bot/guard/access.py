"""Who may do what in Slack: a user's role from their id and their user groups, per environment.

`access` in crashloop.yaml lists user ids (U…/W…) and user-group ids (S…), globally and per environment.
Group membership is read from Slack (`usergroups.users.list`) and cached; when it cannot be read, the answer is
"no role" — access is denied rather than guessed. Viewers may triage; responders may also request and approve.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum

from bot.core.config import Config
from bot.slack.client import SlackOut, SlackSendError


class Role(IntEnum):
    NONE = 0
    VIEWER = 1
    RESPONDER = 2


class AccessLookupError(Exception):
    """Group membership could not be read from Slack: deny, and say so."""


@dataclass(frozen=True)
class Decision:
    role: Role
    why: str


class AccessControl:
    """Resolves roles; group members are cached for `ttl` seconds."""

    def __init__(self, config: Config, slack: SlackOut, ttl: float = 300.0) -> None:
        self.config = config
        self.slack = slack
        self.ttl = ttl
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._names: dict[str, str | None] = {}

    async def members(self, group: str) -> frozenset[str]:
        cached = self._members.get(group)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        try:
            data = await self.slack.call("usergroups.users.list", usergroup=group)
        except SlackSendError as exc:
            raise AccessLookupError(f"could not read members of user group {group}: {exc.error}") from exc
        users = frozenset(str(u) for u in data.get("users") or [])
        self._members[group] = (time.monotonic(), users)
        return users

    async def name_of(self, user: str) -> str | None:
        """The user's Slack name for the audit log (None when Slack cannot say; the id is recorded anyway)."""
        if user not in self._names:
            try:
                data = await self.slack.call("users.info", user=user)
            except SlackSendError:
                return None
            profile = data.get("user") or {}
            self._names[user] = profile.get("real_name") or profile.get("name")
        return self._names[user]

    async def _matches(self, user: str, principals: list[str]) -> str | None:
        if user in principals:
            return f"user {user} is listed"
        for group in (p for p in principals if p.startswith("S")):
            if user in await self.members(group):
                return f"user {user} is in group {group}"
        return None

    async def role(self, user: str, environment: str | None = None) -> Decision:
        """The user's role in `environment` (or globally when None)."""
        env = self.config.environments.get(environment) if environment else None
        responders = [*self.config.access.responders, *(env.responders if env else [])]
        viewers = [*self.config.access.viewers, *(env.viewers if env else [])]
        try:
            why = await self._matches(user, responders)
            if why:
                return Decision(Role.RESPONDER, f"{why} as a responder")
            why = await self._matches(user, viewers)
            if why:
                return Decision(Role.VIEWER, f"{why} as a viewer")
        except AccessLookupError as exc:
            return Decision(Role.NONE, f"{exc}; access denied until Slack answers")
        where = f" for environment {environment}" if environment else ""
        return Decision(Role.NONE, f"user {user} is not a viewer or responder{where} in crashloop.yaml `access`")
