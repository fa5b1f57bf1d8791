"""Who is who: auth.test, users.info, user groups, channel info; and modals with views.open/update/push."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.devtools.slackstub import SlackStandIn

MODAL = {
    "type": "modal",
    "callback_id": "bump_memory",
    "private_metadata": '{"incident": "inc-42"}',
    "title": {"type": "plain_text", "text": "Bump memory"},
    "submit": {"type": "plain_text", "text": "Apply"},
    "blocks": [
        {
            "type": "input",
            "block_id": "limit",
            "label": {"type": "plain_text", "text": "New limit"},
            "element": {"type": "plain_text_input", "action_id": "value", "initial_value": "1Gi"},
        }
    ],
}


async def test_auth_test(client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert (response["user_id"], response["bot_id"], response["team_id"]) == ("U0BOT0001", "B0BOT0001", "T0TEAM0001")
    assert response["url"] == "https://crashloop-test.slack.com/"


async def test_users_info(client: AsyncWebClient) -> None:
    alice = (await client.users_info(user="U0ONCALL1"))["user"]
    bot = (await client.users_info(user="U0BOT0001"))["user"]
    assert (alice["name"], alice["real_name"], alice["is_bot"], alice["tz"]) == (
        "alice",
        "Alice",
        False,
        "Europe/Berlin",
    )
    assert (bot["name"], bot["is_bot"]) == ("crashloop-bot", True)
    with pytest.raises(SlackApiError) as err:
        await client.users_info(user="U0NOBODY")
    assert err.value.response["error"] == "user_not_found"


async def test_configured_users_groups_and_channels() -> None:
    users: dict[str, str | dict[str, str]] = {
        "U1": "dora",
        "U2": {"name": "eve", "real_name": "Eve Example", "tz": "America/New_York"},
    }
    async with SlackStandIn(users=users, usergroups={"S0DBA0001": ["U2"]}, channels={"C1": "alerts"}) as stub:
        client = AsyncWebClient(token="xoxb-test", base_url=stub.api_url)
        eve = (await client.users_info(user="U2"))["user"]
        groups = (await client.usergroups_list(include_users=True))["usergroups"]
        channel = (await client.conversations_info(channel="C1"))["channel"]
    assert (eve["real_name"], eve["tz"]) == ("Eve Example", "America/New_York")
    assert [(g["id"], g["handle"], g["users"]) for g in groups] == [("S0DBA0001", "dba", ["U2"])]
    assert (channel["id"], channel["name"], channel["is_member"]) == ("C1", "alerts", True)


async def test_usergroup_members(client: AsyncWebClient) -> None:
    members = await client.usergroups_users_list(usergroup="S0SRE0001")
    assert members["users"] == ["U0ONCALL1", "U0ONCALL2"]
    with pytest.raises(SlackApiError) as err:
        await client.usergroups_users_list(usergroup="S0NOPE")
    assert err.value.response["error"] == "no_such_subteam"


async def test_views_open_update_push(stub: SlackStandIn, client: AsyncWebClient) -> None:
    opened = (await client.views_open(trigger_id="123.456.abc", view=MODAL))["view"]
    assert opened["id"].startswith("V")
    assert (opened["callback_id"], opened["private_metadata"]) == ("bump_memory", '{"incident": "inc-42"}')

    changed = {**MODAL, "title": {"type": "plain_text", "text": "Applied"}}
    updated = (await client.views_update(view_id=opened["id"], hash=opened["hash"], view=changed))["view"]
    pushed = (await client.views_push(trigger_id="123.456.def", view=MODAL))["view"]

    assert updated["hash"] != opened["hash"]
    stored = stub.views[opened["id"]]
    assert stored.payload["title"]["text"] == "Applied"
    assert stored.updates[0]["title"]["text"] == "Bump memory"
    assert stored.trigger_id == "123.456.abc"
    assert set(stub.views) == {opened["id"], pushed["id"]}
    with pytest.raises(SlackApiError) as stale:
        await client.views_update(view_id=opened["id"], hash=opened["hash"], view=changed)
    assert stale.value.response["error"] == "hash_conflict"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"view": MODAL}, "invalid_arguments"),
        (
            {"trigger_id": "1.2.3", "view": {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}},
            "invalid_arguments",
        ),
        ({"trigger_id": "1.2.3", "view": {**MODAL, "type": "home"}}, "invalid_arguments"),
    ],
)
async def test_views_open_validation(
    stub: SlackStandIn, client: AsyncWebClient, args: dict[str, object], error: str
) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.api_call("views.open", json=args)
    assert err.value.response["error"] == error
    assert stub.views == {}


async def test_views_update_unknown_view(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.views_update(view_id="V0UNKNOWN", view=MODAL)
    assert err.value.response["error"] == "not_found"
