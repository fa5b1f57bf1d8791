"""The human rendering of a channel: Block Kit as a person reads it, threads, edits, files, ephemerals."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.devtools.slackstub import SlackStandIn
from bot.devtools.slackstub.mrkdwn import Names, readable

CHANNEL = "C0INCIDENTS"


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


INCIDENT_BLOCKS: list[dict[str, Any]] = [
    {"type": "header", "text": plain("CrashLoopBackOff: shop/checkout")},
    {
        "type": "section",
        "text": mrkdwn(
            "<!channel> *checkout-7d9f* restarted 12 times &gt; 5. On call: <@U0ONCALL1>, <!subteam^S0SRE0001>"
        ),
        "accessory": {"type": "button", "text": plain("Ack"), "action_id": "ack"},
    },
    {
        "type": "section",
        "fields": [mrkdwn("*Namespace*\nshop"), mrkdwn("*Reason*\nOOMKilled"), mrkdwn("*Restarts*\n12")],
    },
    {
        "type": "section",
        "text": mrkdwn("Last log lines:\n```java.lang.OutOfMemoryError: Java heap space\n  at Cache.fill```"),
    },
    {"type": "divider"},
    {"type": "image", "image_url": "https://example.com/m.png", "alt_text": "memory over 1h"},
    {
        "type": "actions",
        "elements": [
            {"type": "button", "text": plain("Bump memory"), "action_id": "bump", "style": "primary", "value": "1Gi"},
            {"type": "button", "text": plain("Roll back"), "action_id": "rollback", "style": "danger"},
            {"type": "static_select", "placeholder": plain("Silence for"), "action_id": "silence", "options": []},
        ],
    },
    {
        "type": "context",
        "elements": [mrkdwn("prod / sim-1"), mrkdwn("<https://grafana.example.com/d/1|Dashboard>")],
    },
]

EXPECTED = """\
#incidents (C0INCIDENTS)
========================================
crashloop-bot: (edited 2x)
  # CrashLoopBackOff: shop/checkout
  @channel *checkout-7d9f* restarted 12 times > 5. On call: @alice, @sre  [ Ack ]
  *Namespace*                       *Reason*
  shop                              OOMKilled
  *Restarts*
  12
  Last log lines:
  ```
  java.lang.OutOfMemoryError: Java heap space
    at Cache.fill
  ```
  ----------------------------------------
  [image: memory over 1h]
  [ Bump memory ]  [ Roll back ]  [ Silence for v ]
  ~ prod / sim-1 | Dashboard (https://grafana.example.com/d/1)
  :eyes: 1
  > thread: 3 replies
    crashloop-bot: Bumping memory to 1Gi
    alice: thanks @crashloop-bot
    crashloop-bot: [file: memory.png (2.0 KB)]

crashloop-bot: Only responders can run runbooks (only visible to @carol)
"""


async def test_render_channel_reads_like_slack(stub: SlackStandIn, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="fallback", blocks=INCIDENT_BLOCKS[:2])
    for _ in range(2):
        await client.chat_update(channel=CHANNEL, ts=root["ts"], text="fallback", blocks=INCIDENT_BLOCKS)
    await client.chat_postMessage(channel=CHANNEL, text="Bumping memory to 1Gi", thread_ts=root["ts"])
    stub.post_user_message(CHANNEL, "U0ONCALL1", "thanks <@U0BOT0001>", thread_ts=root["ts"])
    await client.files_upload_v2(channel=CHANNEL, thread_ts=root["ts"], content=b"x" * 2048, filename="memory.png")
    await client.chat_postEphemeral(channel=CHANNEL, user="U0VIEWER1", text="Only responders can run runbooks")
    await client.reactions_add(channel=CHANNEL, timestamp=root["ts"], name="eyes")

    assert stub.render_channel(CHANNEL) == EXPECTED


async def test_render_empty_channel_and_plain_text(stub: SlackStandIn, client: AsyncWebClient) -> None:
    assert stub.render_channel(CHANNEL).splitlines()[-1] == "(no messages)"
    await client.chat_postMessage(channel=CHANNEL, text="see <https://runbooks.example.com|the runbook> <#C0INCIDENTS>")
    assert stub.render_channel(CHANNEL).splitlines()[-1] == (
        "crashloop-bot: see the runbook (https://runbooks.example.com) #incidents"
    )


async def test_render_view(stub: SlackStandIn, client: AsyncWebClient) -> None:
    view = {
        "type": "modal",
        "title": plain("Bump memory"),
        "submit": plain("Apply"),
        "close": plain("Cancel"),
        "blocks": [
            {"type": "section", "text": mrkdwn("*shop/checkout* uses 512Mi")},
            {
                "type": "input",
                "label": plain("New limit"),
                "element": {"type": "plain_text_input", "action_id": "v", "initial_value": "1Gi"},
            },
        ],
    }
    opened = await client.views_open(trigger_id="1.2.3", view=view)
    assert stub.render_view(opened["view"]["id"]).splitlines()[2:] == [
        "*shop/checkout* uses 512Mi",
        "New limit: [ 1Gi ]",
        "",
        "[ Cancel ]  [ Apply ]",
    ]


def test_readable_mrkdwn_entities() -> None:
    names = Names(users={"U1": "alice"}, channels={"C1": "incidents"}, groups={"S1": "sre"})
    text = "<!here> <@U1> <#C1> <!subteam^S1> <mailto:a@b.c|mail> <https://x.io> "
    text += "<!date^1700000000^{date}|Nov 14> a &amp; b"
    assert readable(text, names) == "@here @alice #incidents @sre mail https://x.io Nov 14 a & b"
