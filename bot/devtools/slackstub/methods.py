"""The Web API methods the stand-in answers, by name; a name missing here gets Slack's `unknown_method`."""

from __future__ import annotations

from collections.abc import Callable

from . import methods_chat, methods_conversations, methods_files, methods_users, methods_views
from .args import Args
from .models import JsonDict
from .state import Workspace

Handler = Callable[[Workspace, Args], JsonDict]


def method_table() -> dict[str, Handler]:
    """Method name → handler; each handler returns the response fields besides `"ok": true`."""
    return {
        "auth.test": methods_users.auth_test,
        "chat.postMessage": methods_chat.post_message,
        "chat.update": methods_chat.update,
        "chat.postEphemeral": methods_chat.post_ephemeral,
        "chat.delete": methods_chat.delete,
        "chat.getPermalink": methods_chat.get_permalink,
        "reactions.add": methods_chat.add_reaction,
        "conversations.history": methods_conversations.history,
        "conversations.replies": methods_conversations.replies,
        "conversations.info": methods_conversations.info,
        "conversations.open": methods_conversations.open_conversation,
        "files.getUploadURLExternal": methods_files.get_upload_url,
        "files.completeUploadExternal": methods_files.complete_upload,
        "users.info": methods_users.users_info,
        "usergroups.list": methods_users.usergroups_list,
        "usergroups.users.list": methods_users.usergroups_users_list,
        "views.open": methods_views.views_open,
        "views.update": methods_views.views_update,
        "views.push": methods_views.views_push,
    }
