"""The thread-hosted mode for synchronous code: the stand-in on its own loop, driven by slack_sdk's sync WebClient."""

from __future__ import annotations

import socket
import threading

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.devtools.slackstub import SlackStandIn

CHANNEL = "C0INCIDENTS"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def stand_in_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "slack-stand-in"]


def test_sync_client_against_thread_hosted_stand_in() -> None:
    with SlackStandIn(start_ts=1_700_000_000.0).running() as stub:
        client = WebClient(token="xoxb-test", base_url=stub.api_url)
        root = client.chat_postMessage(
            channel=CHANNEL, text="incident", metadata={"event_type": "t", "event_payload": {}}
        )
        client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts=root["ts"])
        client.chat_update(channel=CHANNEL, ts=root["ts"], text="incident (resolved)")
        uploaded = client.files_upload_v2(channel=CHANNEL, content=PNG, filename="graph.png")

        assert root["ts"] == "1700000000.000100"
        assert [(m.text, m.files) for m in stub.channel_messages(CHANNEL)] == [
            ("incident (resolved)", []),
            ("", [uploaded["file"]["id"]]),
        ]
        assert [m.text for m in stub.thread(CHANNEL, root["ts"])] == ["reply"]
        assert stub.files[uploaded["file"]["id"]].content == PNG
        assert "incident (resolved) (edited 1x)" in stub.render_channel(CHANNEL)
        stub.fail("users.info", error="user_not_found")
        with pytest.raises(SlackApiError) as err:
            client.users_info(user="U0ONCALL1")
        assert err.value.response["error"] == "user_not_found"


def test_wait_for_calls_from_another_thread() -> None:
    with SlackStandIn().running() as stub:
        client = WebClient(token="xoxb-test", base_url=stub.api_url)
        poster = threading.Timer(0.05, lambda: client.chat_postMessage(channel=CHANNEL, text="later"))
        poster.start()
        calls = stub.wait_for_calls("chat.postMessage", timeout=5)
        poster.join()
        assert calls[0].args["text"] == "later"
        with pytest.raises(TimeoutError, match=r"chat\.update"):
            stub.wait_for_calls("chat.update", timeout=0.05)


def test_shutdown_leaves_no_thread_or_socket() -> None:
    before = len(stand_in_threads())
    with SlackStandIn().running() as stub:
        port = stub.port
        WebClient(token="xoxb-test", base_url=stub.api_url).auth_test()
        assert len(stand_in_threads()) == before + 1
    assert len(stand_in_threads()) == before
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with pytest.raises(RuntimeError, match="not running"):
        _ = stub.api_url


def test_reset_forgets_state_but_keeps_serving() -> None:
    with SlackStandIn().running() as stub:
        client = WebClient(token="xoxb-test", base_url=stub.api_url)
        client.chat_postMessage(channel=CHANNEL, text="old")
        stub.fail("chat.postMessage", error="fatal_error", times=None)
        stub.reset()
        client.chat_postMessage(channel=CHANNEL, text="new")
        assert [m.text for m in stub.channel_messages(CHANNEL)] == ["new"]
        assert [c.method for c in stub.calls] == ["chat.postMessage"]
