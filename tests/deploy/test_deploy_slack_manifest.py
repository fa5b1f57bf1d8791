"""The Slack app manifests: the command, the URLs, and exactly the scopes the code's Web API calls need.

The Web API methods are derived from the code: string literals passed to SlackOut's `call`/`_paced` (every
Web API call of the bot goes through bot/slack/client.py) and AsyncWebClient methods referenced by name (e.g.
`files_upload_v2`). METHOD_SCOPES says which bot scope Slack requires for each; an unknown method fails the test
until it is added there with its scope (https://api.slack.com/methods/<method>).
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk.web.async_base_client import AsyncBaseClient
from slack_sdk.web.async_client import AsyncWebClient

from tests.deploy.deploytools import DEPLOY, REPO, load_yaml, walk

HTTP_MANIFEST = DEPLOY / "slack-app-manifest.yaml"
SOCKET_MANIFEST = DEPLOY / "slack-app-manifest.socket-mode.yaml"
EVENTS_URL = "https://crashloop.example.com/slack/events"
CODE_ROOTS = (REPO / "bot", REPO / "handlers")
NOT_THE_BOT = (REPO / "bot" / "devtools",)

# Web API method → the bot token scopes Slack requires for it (empty: none).
METHOD_SCOPES: dict[str, set[str]] = {
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    # the lookup before re-posting a root message whose answer was lost: public and private incident channels
    "conversations.history": {"channels:history", "groups:history"},
    # the same lookup for a thread reply (conversations.replies needs the same history scopes)
    "conversations.replies": {"channels:history", "groups:history"},
    # files_upload_v2 = files.getUploadURLExternal + an upload to the returned URL + files.completeUploadExternal.
    "files.getUploadURLExternal": {"files:write"},
    "files.completeUploadExternal": {"files:write"},
    "usergroups.users.list": {"usergroups:read"},
    "users.info": {"users:read"},
    "views.open": set(),  # authorised by the interaction's trigger_id
    "auth.test": set(),  # Bolt, on the first request
}
# SDK helpers that make several Web API calls.
SDK_HELPERS = {"files_upload_v2": {"files.getUploadURLExternal", "files.completeUploadExternal"}}
_METHOD = re.compile(r"^[a-z]+(\.[a-zA-Z]+)+$")


def _bot_sources() -> Iterator[ast.AST]:
    for root in CODE_ROOTS:
        for path in root.rglob("*.py"):
            if not any(path == p or path.is_relative_to(p) for p in NOT_THE_BOT):
                yield ast.parse(path.read_text(encoding="utf-8"))


def _calls(node: ast.AST, names: set[str]) -> bool:
    """`node` is a call `<something>.<one of names>(<literal>, …)`."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in names
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
    )


def called_web_api_methods() -> set[str]:
    client_methods = {
        name
        for name, _ in inspect.getmembers(AsyncWebClient, inspect.isfunction)
        if not name.startswith("_") and not hasattr(AsyncBaseClient, name)
    }
    methods: set[str] = set()
    for tree in _bot_sources():
        for node in ast.walk(tree):
            if _calls(node, {"call", "_paced", "api_call"}):
                name = node.args[0].value  # type: ignore[attr-defined]
                if isinstance(name, str) and _METHOD.match(name):
                    methods.add(name)
            if isinstance(node, ast.Attribute) and node.attr in client_methods:
                methods |= SDK_HELPERS.get(node.attr, {node.attr.replace("_", ".")})
    return methods


def required_scopes() -> set[str]:
    methods = called_web_api_methods()
    unknown = methods - set(METHOD_SCOPES)
    assert not unknown, f"the code calls {unknown}: add each to METHOD_SCOPES with the scope Slack requires"
    return {"commands"} | set().union(*(METHOD_SCOPES[m] for m in methods))


def _registered(kind: str) -> set[str]:
    """Literal arguments of `app.<kind>(...)` registrations in handlers/ (commands, events)."""
    found: set[str] = set()
    for path in (REPO / "handlers").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if _calls(node, {kind}):
                found.add(str(node.args[0].value))  # type: ignore[attr-defined]
    return found


@pytest.fixture(params=[HTTP_MANIFEST, SOCKET_MANIFEST], ids=["http", "socket-mode"])
def manifest(request: pytest.FixtureRequest) -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(request.param)
    return data


def test_the_derivation_finds_the_known_calls() -> None:
    methods = called_web_api_methods()
    assert {"chat.postMessage", "chat.update", "usergroups.users.list", "files.completeUploadExternal"} <= methods


def test_scopes_are_exactly_what_the_code_needs(manifest: dict[str, Any]) -> None:
    scopes = manifest["oauth_config"]["scopes"]
    assert set(scopes) == {"bot"}, "no user scopes"
    assert len(scopes["bot"]) == len(set(scopes["bot"]))
    assert set(scopes["bot"]) == required_scopes()
    assert set(scopes["bot"]) == {
        "commands",
        "chat:write",
        "channels:history",
        "groups:history",
        "files:write",
        "usergroups:read",
        "users:read",
    }


def test_the_crashloop_command_is_declared_as_the_handlers_register_it(manifest: dict[str, Any]) -> None:
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == sorted(_registered("command")) == ["/crashloop"]
    assert manifest["features"]["bot_user"]["display_name"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True  # buttons and the remedy forms


def test_events_are_subscribed_only_if_the_handlers_listen_to_them(manifest: dict[str, Any]) -> None:
    events = (manifest["settings"].get("event_subscriptions") or {}).get("bot_events") or []
    assert set(events) == _registered("event")


def test_http_mode_sends_everything_to_the_bots_one_slack_route() -> None:
    manifest = load_yaml(HTTP_MANIFEST)
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is False
    (command,) = manifest["features"]["slash_commands"]
    assert command["url"] == EVENTS_URL
    assert settings["interactivity"]["request_url"] == EVENTS_URL
    assert settings["event_subscriptions"]["request_url"] == EVENTS_URL
    assert 'web.post("/slack/events"' in (REPO / "bot" / "app.py").read_text(encoding="utf-8")


def test_socket_mode_has_no_request_urls() -> None:
    manifest = load_yaml(SOCKET_MANIFEST)
    assert manifest["settings"]["socket_mode_enabled"] is True
    urls = [path for path, value in walk(manifest) if path.endswith((".url", ".request_url"))]
    assert urls == []
    assert "event_subscriptions" not in manifest["settings"]


def test_both_manifests_declare_the_same_app() -> None:
    http, socket = load_yaml(HTTP_MANIFEST), load_yaml(SOCKET_MANIFEST)
    assert http["oauth_config"] == socket["oauth_config"]
    strip = [{k: v for k, v in c.items() if k != "url"} for c in http["features"]["slash_commands"]]
    assert strip == socket["features"]["slash_commands"]
    assert http["display_information"]["name"] == socket["display_information"]["name"]
