"""Files upload v2 exactly as slack_sdk's `files_upload_v2` performs it, and the uploaded bytes afterwards."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.devtools.slackstub import SlackStandIn

CHANNEL = "C0INCIDENTS"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


async def test_upload_v2_into_a_thread_keeps_the_bytes(stub: SlackStandIn, client: AsyncWebClient) -> None:
    root = await client.chat_postMessage(channel=CHANNEL, text="incident")
    response = await client.files_upload_v2(
        channel=CHANNEL,
        thread_ts=root["ts"],
        content=PNG,
        filename="memory.png",
        title="Memory over 1h",
        initial_comment="Memory graph",
    )

    file_id = response["file"]["id"]
    assert response["file"]["name"] == "memory.png"
    assert response["file"]["mimetype"] == "image/png"
    assert response["file"]["size"] == len(PNG)
    uploaded = stub.files[file_id]
    assert uploaded.content == PNG
    assert uploaded.content.startswith(b"\x89PNG")
    assert uploaded.title == "Memory over 1h"
    assert uploaded.channels == [CHANNEL]
    [reply] = stub.thread(CHANNEL, root["ts"])
    assert reply.files == [file_id]
    assert reply.text == "Memory graph"
    assert [c.method for c in stub.calls[1:]] == [
        "files.getUploadURLExternal",
        "upload_url",
        "files.completeUploadExternal",
    ]
    assert stub.calls_to("files.getUploadURLExternal")[0].args["length"] == str(len(PNG))


async def test_uploaded_file_can_be_downloaded_with_the_token(stub: SlackStandIn, client: AsyncWebClient) -> None:
    response = await client.files_upload_v2(channel=CHANNEL, content=b"log line\n", filename="pod.log")
    url = response["file"]["url_private"]
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Authorization": "Bearer xoxb-test"}) as ok:
            assert (ok.status, await ok.read()) == (200, b"log line\n")
        async with session.get(url) as denied:
            assert denied.status == 403


async def test_complete_without_uploading_bytes_fails(stub: SlackStandIn, client: AsyncWebClient) -> None:
    reserved = await client.files_getUploadURLExternal(filename="x.png", length=10)
    assert reserved["upload_url"].startswith(stub.base_url + "upload/v1/")
    with pytest.raises(SlackApiError) as err:
        await client.files_completeUploadExternal(files=[{"id": reserved["file_id"]}], channel_id=CHANNEL)
    assert err.value.response["error"] == "file_not_found"


async def test_complete_unknown_file_and_unknown_channel(stub: SlackStandIn, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as unknown_file:
        await client.files_completeUploadExternal(files=[{"id": "F0NOTHERE"}], channel_id=CHANNEL)
    with pytest.raises(SlackApiError) as unknown_channel:
        await client.files_upload_v2(channel="C0NOWHERE", content=b"x", filename="x.txt")
    assert unknown_file.value.response["error"] == "file_not_found"
    assert unknown_channel.value.response["error"] == "channel_not_found"
    assert stub.channel_messages(CHANNEL) == []


async def test_get_upload_url_needs_filename_and_length(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        await client.api_call("files.getUploadURLExternal", params={"filename": "x.png"})
    assert err.value.response["error"] == "invalid_arguments"
    assert err.value.response["response_metadata"]["messages"] == ["[ERROR] missing required field: length"]


async def test_multipart_upload_like_curl(stub: SlackStandIn, client: AsyncWebClient) -> None:
    reserved = await client.files_getUploadURLExternal(filename="graph.png", length=len(PNG))
    form = aiohttp.FormData()
    form.add_field("file", PNG, filename="graph.png", content_type="image/png")
    async with aiohttp.ClientSession() as session, session.post(reserved["upload_url"], data=form) as response:
        assert (response.status, await response.text()) == (200, f"OK - {len(PNG)}")
    await client.files_completeUploadExternal(files=[{"id": reserved["file_id"], "title": "Graph"}], channel_id=CHANNEL)
    assert stub.files[reserved["file_id"]].content == PNG
    assert stub.calls_to("upload_url")[0].content_type == "multipart/form-data"


async def test_multipart_api_call(stub: SlackStandIn) -> None:
    form = aiohttp.FormData()
    form.add_field("channel", CHANNEL)
    form.add_field("text", "multipart")
    form.add_field("attachment", b"ignored bytes", filename="a.bin")
    headers = {"Authorization": "Bearer xoxb-test"}
    url = stub.api_url + "chat.postMessage"
    async with aiohttp.ClientSession() as session, session.post(url, data=form, headers=headers) as response:
        body = await response.json()
    assert body["ok"] is True
    assert [m.text for m in stub.channel_messages(CHANNEL)] == ["multipart"]
    assert stub.calls[0].args["attachment"] == b"ignored bytes"


async def test_failed_upload_post_surfaces_as_request_error(stub: SlackStandIn, client: AsyncWebClient) -> None:
    stub.fail("upload_url", status=500)
    with pytest.raises(SlackRequestError, match="status: 500"):
        await client.files_upload_v2(channel=CHANNEL, content=PNG, filename="graph.png")
    assert stub.calls_to("files.completeUploadExternal") == []
    assert [f.content for f in stub.files.values()] == [None]
