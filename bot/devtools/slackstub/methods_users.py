"""Identity methods: `auth.test` (who the bot is; Bolt calls it before its first listener runs), `users.info`,
`usergroups.list` and `usergroups.users.list` (who is on call)."""

from __future__ import annotations

from .args import Args, flag, opt_str
from .errors import ApiError, missing
from .models import JsonDict
from .serialize import user_json, usergroup_json
from .state import Workspace


def auth_test(ws: Workspace, args: Args) -> JsonDict:
    """`auth.test`: the bot user, its bot ID and the workspace."""
    cfg = ws.config
    return {
        "url": f"https://{cfg.team_domain}.slack.com/",
        "team": cfg.team_name,
        "user": cfg.bot_name,
        "team_id": cfg.team_id,
        "user_id": cfg.bot_user_id,
        "bot_id": cfg.bot_id,
        "is_enterprise_install": False,
    }


def users_info(ws: Workspace, args: Args) -> JsonDict:
    """`users.info`: name, real name, is_bot, time zone and profile of one user."""
    return {"user": user_json(ws, ws.user(opt_str(args, "user")))}


def usergroups_list(ws: Workspace, args: Args) -> JsonDict:
    """`usergroups.list`: every user group, with members when `include_users` is set."""
    include_users, include_count = flag(args, "include_users"), flag(args, "include_count")
    groups = [
        usergroup_json(ws, g, include_users=include_users, include_count=include_count) for g in ws.usergroups.values()
    ]
    return {"usergroups": groups}


def usergroups_users_list(ws: Workspace, args: Args) -> JsonDict:
    """`usergroups.users.list`: the member IDs of one group (`no_such_subteam` for an unknown group)."""
    group_id = opt_str(args, "usergroup")
    if group_id is None:
        raise missing("usergroup")
    group = ws.usergroups.get(group_id)
    if group is None:
        raise ApiError("no_such_subteam")
    return {"users": list(group.users)}
