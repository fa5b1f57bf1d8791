"""The request bodies Slack sends to an app, field for field: slash commands, block actions, view submissions,
URL verification and Events API callbacks.

Defaults match the stand-in's workspace (team T0TEAM0001, app A0APP0001, on-call user U0ONCALL1 "alice" in
C0INCIDENTS "incidents"), so a test only passes what it cares about. Sign the result with `signing.sign`.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

TEAM_ID = "T0TEAM0001"
TEAM_DOMAIN = "crashloop-test"
API_APP_ID = "A0APP0001"
USER_ID = "U0ONCALL1"
USER_NAME = "alice"
CHANNEL_ID = "C0INCIDENTS"
CHANNEL_NAME = "incidents"
VERIFICATION_TOKEN = "stand-in-verification-token"
PLACEHOLDER_RESPONSE_URL = f"https://hooks.slack.com/commands/{TEAM_ID}/1000000000001/stand-in-placeholder"


def new_trigger_id() -> str:
    """A trigger_id shaped like Slack's ("1700000000.1234567890123.0123456789abcdef0123456789abcdef")."""
    return f"{int(time.time())}.{secrets.randbelow(10**13):013d}.{secrets.token_hex(16)}"


def action_ts() -> str:
    """The `action_ts` Slack stamps on an interaction (now, with microseconds)."""
    return f"{time.time():.6f}"


def slash_command_body(
    command: str = "/crashloop",
    text: str = "",
    *,
    user_id: str = USER_ID,
    user_name: str = USER_NAME,
    channel_id: str = CHANNEL_ID,
    channel_name: str = CHANNEL_NAME,
    response_url: str = PLACEHOLDER_RESPONSE_URL,
    trigger_id: str | None = None,
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
    token: str = VERIFICATION_TOKEN,
) -> str:
    """The form-encoded body of a slash command, with every field Slack sends, in Slack's order."""
    fields = {
        "token": token,
        "team_id": team_id,
        "team_domain": team_domain,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }
    return urlencode(fields)


def block_actions_body(
    action_id: str,
    value: str | None = None,
    *,
    block_id: str = "actions",
    button_text: str | None = None,
    user_id: str = USER_ID,
    user_name: str = USER_NAME,
    channel_id: str = CHANNEL_ID,
    channel_name: str = CHANNEL_NAME,
    message_ts: str | None = None,
    message: Mapping[str, Any] | None = None,
    response_url: str = PLACEHOLDER_RESPONSE_URL,
    trigger_id: str | None = None,
    state_values: Mapping[str, Any] | None = None,
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
    token: str = VERIFICATION_TOKEN,
) -> str:
    """The form-encoded `payload=` body of a button click on a message (type `block_actions`).

    `message` is the clicked message as the Web API returns it (e.g. `chat_postMessage(...)["message"]`); its `ts`
    is used when `message_ts` is not given.
    """
    msg = dict(message) if message is not None else {"type": "message", "ts": message_ts or "", "text": ""}
    ts = message_ts or str(msg.get("ts", ""))
    action: dict[str, Any] = {"action_id": action_id, "block_id": block_id, "type": "button", "action_ts": action_ts()}
    action["text"] = {"type": "plain_text", "text": button_text or action_id, "emoji": True}
    if value is not None:
        action["value"] = value
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": token,
        "container": {"type": "message", "message_ts": ts, "channel_id": channel_id, "is_ephemeral": False},
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": msg,
        "state": {"values": dict(state_values or {})},
        "response_url": response_url,
        "actions": [action],
    }
    return urlencode({"payload": json.dumps(payload)})


def view_submission_body(
    callback_id: str,
    private_metadata: str = "",
    state_values: Mapping[str, Any] | None = None,
    user_id: str = USER_ID,
    *,
    user_name: str = USER_NAME,
    view_id: str = "V0000000001",
    blocks: list[dict[str, Any]] | None = None,
    title: str = "Crashloop",
    trigger_id: str | None = None,
    team_id: str = TEAM_ID,
    team_domain: str = TEAM_DOMAIN,
    api_app_id: str = API_APP_ID,
    token: str = VERIFICATION_TOKEN,
) -> str:
    """The form-encoded `payload=` body of a modal submission (type `view_submission`).

    `state_values` is `view.state.values`: `{block_id: {action_id: {"type": ..., "value": ...}}}`.
    """
    view = {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "blocks": list(blocks or []),
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "state": {"values": dict(state_values or {})},
        "hash": f"{int(time.time())}.stand-in",
        "title": {"type": "plain_text", "text": title, "emoji": True},
        "clear_on_close": False,
        "notify_on_close": False,
        "close": None,
        "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
        "previous_view_id": None,
        "root_view_id": view_id,
        "app_id": api_app_id,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": "B0BOT0001",
    }
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": team_domain},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": token,
        "trigger_id": trigger_id or new_trigger_id(),
        "view": view,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return urlencode({"payload": json.dumps(payload)})


def url_verification_body(challenge: str, *, token: str = VERIFICATION_TOKEN) -> str:
    """The JSON body Slack sends when the Events API request URL is configured."""
    return json.dumps({"token": token, "challenge": challenge, "type": "url_verification"})


def event_callback_body(
    event: Mapping[str, Any],
    *,
    team_id: str = TEAM_ID,
    api_app_id: str = API_APP_ID,
    event_id: str | None = None,
    event_time: int | None = None,
    bot_user_id: str = "U0BOT0001",
    token: str = VERIFICATION_TOKEN,
) -> str:
    """The JSON body of an Events API delivery (`event_callback`) wrapping `event` (e.g. an `app_mention`)."""
    body = {
        "token": token,
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": dict(event),
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
        "event_time": event_time if event_time is not None else int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
    return json.dumps(body)
