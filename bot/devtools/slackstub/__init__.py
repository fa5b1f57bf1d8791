"""A local stand-in for the Slack Web API, used by the tests and by `make demo` (Slack is unreachable here).

    async with SlackStandIn(users={"U0ONCALL1": "alice"}, channels=["C0INCIDENTS"]) as stub:
        client = AsyncWebClient(token="xoxb-test", base_url=stub.api_url)
        await client.chat_postMessage(channel="C0INCIDENTS", text="hello")
        assert stub.channel_messages("C0INCIDENTS")[0].text == "hello"
        print(stub.render_channel("C0INCIDENTS"))

The package stands alone (aiohttp only). `bot.devtools.slackstub.signing` builds signed requests as Slack sends
them to an app (slash commands, button clicks, modal submissions, events).
"""

from .models import (
    Call,
    Channel,
    Edit,
    Ephemeral,
    Message,
    ResponseUrlPost,
    UploadedFile,
    User,
    Usergroup,
    View,
)
from .server import SlackStandIn

__all__ = [
    "Call",
    "Channel",
    "Edit",
    "Ephemeral",
    "Message",
    "ResponseUrlPost",
    "SlackStandIn",
    "UploadedFile",
    "User",
    "Usergroup",
    "View",
]
