"""Who is in the stand-in's workspace: tokens, the bot's identity, users, user groups and channels.

Built once from `SlackStandIn(...)` keyword arguments; the defaults match the project's test fixtures (on-call users
U0ONCALL1/U0ONCALL2, a viewer U0VIEWER1, an SRE group S0SRE0001 and the #incidents channel C0INCIDENTS).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .models import User, Usergroup

UserSpec = str | Mapping[str, Any]

DEFAULT_TOKENS: tuple[str, ...] = ("xoxb-test",)


def default_users() -> dict[str, UserSpec]:
    """The users a stand-in has unless told otherwise."""
    return {"U0ONCALL1": "alice", "U0ONCALL2": "bob", "U0VIEWER1": "carol"}


def default_usergroups() -> dict[str, list[str]]:
    """The user groups a stand-in has unless told otherwise."""
    return {"S0SRE0001": ["U0ONCALL1", "U0ONCALL2"]}


@dataclass(frozen=True)
class StandInConfig:
    """The fixed facts of the workspace; see `SlackStandIn` for what each one means."""

    tokens: tuple[str, ...] = DEFAULT_TOKENS
    users: Mapping[str, UserSpec] = field(default_factory=default_users)
    usergroups: Mapping[str, Sequence[str]] = field(default_factory=default_usergroups)
    usergroup_handles: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=lambda: {"C0INCIDENTS": "incidents"})
    team_id: str = "T0TEAM0001"
    team_name: str = "Crashloop Test"
    team_domain: str = "crashloop-test"
    bot_user_id: str = "U0BOT0001"
    bot_id: str = "B0BOT0001"
    bot_name: str = "crashloop-bot"
    app_id: str = "A0APP0001"
    start_ts: float | None = None


def channel_names(channels: Sequence[str] | Mapping[str, str] | None) -> dict[str, str]:
    """Channel ID → name; a bare ID is named after itself ("C0INCIDENTS" → "incidents")."""
    if channels is None:
        return {"C0INCIDENTS": "incidents"}
    if isinstance(channels, Mapping):
        return dict(channels)
    return {cid: _name_from_id(cid, "C0") for cid in channels}


def _name_from_id(identifier: str, prefix: str) -> str:
    core = identifier[len(prefix) :] if identifier.startswith(prefix) else identifier
    return core.rstrip("0123456789").lower() or identifier.lower()


def build_users(config: StandInConfig) -> dict[str, User]:
    """The workspace's users, the bot user included."""
    users = {uid: _build_user(uid, spec) for uid, spec in config.users.items()}
    users[config.bot_user_id] = User(
        id=config.bot_user_id, name=config.bot_name, real_name=config.bot_name, is_bot=True, tz="UTC"
    )
    return users


def _build_user(uid: str, spec: UserSpec) -> User:
    if isinstance(spec, str):
        return User(id=uid, name=spec, real_name=spec.capitalize(), email=f"{spec}@example.com")
    name = str(spec.get("name", uid.lower()))
    fields = {k: v for k, v in spec.items() if k in User.__dataclass_fields__ and k not in ("id", "name")}
    fields.setdefault("real_name", name.capitalize())
    return User(id=uid, name=name, **fields)


def build_usergroups(config: StandInConfig) -> dict[str, Usergroup]:
    """The workspace's user groups with their handles (`@sre` for S0SRE0001 unless named otherwise)."""
    groups = {}
    for gid, members in config.usergroups.items():
        handle = config.usergroup_handles.get(gid) or _name_from_id(gid, "S0")
        groups[gid] = Usergroup(id=gid, handle=handle, name=handle.upper(), users=list(members))
    return groups
