"""Who may do what: an actor's role from their id and their groups, per environment.

`access` in crashloop.yaml lists user ids (U…/W…), user-group ids (S…) and terminal users (`cli:<name>`),
globally and per environment. Group membership comes from a `Directory` (Slack's user groups, see
`bot.slack.directory`) and is cached; when it cannot be read the group grants nothing — access is denied rather
than guessed — but a user listed by id never depends on that lookup. Right before a change is applied the guard
asks again with `fresh=True`, so someone removed from a responder group cannot act on the cached membership.

The terminal (`crashloop act`) acts as `cli:<user>`: when `access` lists any `cli:` principal, only those listed
may act; when it lists none, the operator's own kubeconfig decides (the cluster's RBAC) and they are a responder.
The name is a claim (`--as`), not a login; and `crashloop ack` reads no cluster, so with no `cli:` principal
listed anyone holding the database URL and the audit key owns incidents as a responder (README, "Guarded remedies").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from bot.core.config import Config

CLI_PREFIX = "cli:"


class Role(IntEnum):
    NONE = 0
    VIEWER = 1
    RESPONDER = 2


class AccessLookupError(Exception):
    """Group membership could not be read: deny, and say so."""


class Directory(Protocol):
    """Where group members and display names come from (Slack in the bot; nothing in the terminal)."""

    async def group_members(self, group: str) -> frozenset[str]:
        """The group's members; AccessLookupError when they cannot be read."""
        ...

    async def name_of(self, user: str) -> str | None:
        """The user's display name for the audit log, None when unknown."""
        ...


@dataclass(frozen=True)
class Decision:
    role: Role
    why: str


class AccessControl:
    """Resolves roles; group members are cached for `ttl` seconds (bypassed with `fresh=True`)."""

    def __init__(self, config: Config, directory: Directory | None, ttl: float = 300.0) -> None:
        self.config = config
        self.directory = directory
        self.ttl = ttl
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._names: dict[str, str | None] = {}

    async def members(self, group: str, *, fresh: bool = False) -> frozenset[str]:
        cached = self._members.get(group)
        if not fresh and cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        if self.directory is None:
            raise AccessLookupError(f"user group {group} cannot be read here")
        users = await self.directory.group_members(group)
        self._members[group] = (time.monotonic(), users)
        return users

    async def name_of(self, user: str) -> str | None:
        """The user's name for the audit log (None when nobody can say; the id is recorded anyway)."""
        if user.startswith((CLI_PREFIX, "bot")) or self.directory is None:
            return None
        if user not in self._names:
            self._names[user] = await self.directory.name_of(user)
        return self._names[user]

    async def role(self, user: str, environment: str | None = None, *, fresh: bool = False) -> Decision:
        """The user's role in `environment` (or globally when None); `fresh` re-reads group membership."""
        env = self.config.environments.get(environment) if environment else None
        responders = [*self.config.access.responders, *(env.responders if env else [])]
        viewers = [*self.config.access.viewers, *(env.viewers if env else [])]
        if user.startswith(CLI_PREFIX) and not any(p.startswith(CLI_PREFIX) for p in [*responders, *viewers]):
            return Decision(Role.RESPONDER, f"{user} acts with the operator's own kubeconfig (no cli: access listed)")
        if user in responders:  # listed by id: no lookup can take it away
            return Decision(Role.RESPONDER, f"user {user} is listed as a responder")
        failure: str | None = None
        for group in (p for p in responders if p.startswith("S")):
            try:
                if user in await self.members(group, fresh=fresh):
                    return Decision(Role.RESPONDER, f"user {user} is in group {group} as a responder")
            except AccessLookupError as exc:
                failure = str(exc)
        if user in viewers:
            return Decision(Role.VIEWER, f"user {user} is listed as a viewer")
        for group in (p for p in viewers if p.startswith("S")):
            try:
                if user in await self.members(group, fresh=fresh):
                    return Decision(Role.VIEWER, f"user {user} is in group {group} as a viewer")
            except AccessLookupError as exc:
                failure = str(exc)
        if failure is not None:
            return Decision(Role.NONE, f"{failure}; access denied until it can be read")
        where = f" for environment {environment}" if environment else ""
        return Decision(Role.NONE, f"user {user} is not a viewer or responder{where} in crashloop.yaml `access`")
