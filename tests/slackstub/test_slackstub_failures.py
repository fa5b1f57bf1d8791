"""Failure injection: 429 + Retry-After, 5xx, ok:false errors, per-channel rate limits, and the SDK retry handlers."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler, AsyncServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.devtools.slackstub import SlackStandIn

CHANNEL = "C0INCIDENTS"


async def test_429_is_retried_by_the_rate_limit_handler(stub: SlackStandIn) -> None:
    client = AsyncWebClient(
        token="xoxb-test", base_url=stub.api_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)]
    )
    stub.fail("chat.postMessage", status=429, retry_after=0, times=1)

    response = await client.chat_postMessage(channel=CHANNEL, text="eventually")

    assert response["ok"] is True
    calls = stub.calls_to("chat.postMessage")
    assert [c.http_status for c in calls] == [429, 200]
    assert calls[0].error == "ratelimited"
    assert [m.text for m in stub.channel_messages(CHANNEL)] == ["eventually"]


async def test_429_without_handler_surfaces_with_retry_after(stub: SlackStandIn, client: AsyncWebClient) -> None:
    stub.fail("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=CHANNEL, text="x")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"
    assert stub.channel_messages(CHANNEL) == []
    # times=1: the next call goes through
    assert (await client.chat_postMessage(channel=CHANNEL, text="y"))["ok"] is True


async def test_500_is_retried_by_the_server_error_handler(stub: SlackStandIn) -> None:
    handler = AsyncServerErrorRetryHandler(
        max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
    )
    client = AsyncWebClient(token="xoxb-test", base_url=stub.api_url, retry_handlers=[handler])
    stub.fail("chat.update", status=500, times=2)
    ts = (await client.chat_postMessage(channel=CHANNEL, text="before"))["ts"]

    response = await client.chat_update(channel=CHANNEL, ts=ts, text="after")

    assert response["text"] == "after"
    assert [c.http_status for c in stub.calls_to("chat.update")] == [500, 500, 200]
    assert stub.calls_to("chat.update")[0].error == "internal_error"


async def test_500_without_handler_raises(stub: SlackStandIn, client: AsyncWebClient) -> None:
    stub.fail("chat.postMessage", status=503)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=CHANNEL, text="x")
    assert err.value.response.status_code == 503
    assert err.value.response["error"] == "service_unavailable"


async def test_ok_false_error_raises_slack_api_error(stub: SlackStandIn, client: AsyncWebClient) -> None:
    stub.fail("chat.postMessage", error="not_in_channel", times=1)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=CHANNEL, text="x")
    assert err.value.response.status_code == 200
    assert err.value.response["error"] == "not_in_channel"
    assert stub.calls_to("chat.postMessage")[0].http_status == 200


async def test_failures_are_consumed_in_order_and_only_for_their_method(
    stub: SlackStandIn, client: AsyncWebClient
) -> None:
    stub.fail("chat.postMessage", error="channel_not_found")
    stub.fail("chat.postMessage", status=500)
    await client.auth_test()  # another method is unaffected
    errors = []
    for _ in range(3):
        try:
            await client.chat_postMessage(channel=CHANNEL, text="x")
            errors.append("ok")
        except SlackApiError as exc:
            errors.append(f"{exc.response.status_code}:{exc.response['error']}")
    assert errors == ["200:channel_not_found", "500:internal_error", "ok"]


async def test_fail_until_cleared_and_any_method(stub: SlackStandIn, client: AsyncWebClient) -> None:
    stub.fail("*", error="fatal_error", times=None)
    for _ in range(3):
        with pytest.raises(SlackApiError):
            await client.users_info(user="U0ONCALL1")
    stub.clear_failures()
    assert (await client.users_info(user="U0ONCALL1"))["user"]["name"] == "alice"


async def test_per_channel_rate_limit(stub: SlackStandIn, client: AsyncWebClient) -> None:
    stub.rate_limit_per_channel(messages_per_second=1.0)
    await client.chat_postMessage(channel=CHANNEL, text="first")
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=CHANNEL, text="too soon")
    dm = await client.chat_postMessage(channel="U0ONCALL1", text="other channel")

    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "1"
    assert dm["ok"] is True
    assert [m.text for m in stub.channel_messages(CHANNEL)] == ["first"]
    stub.clear_failures()
    assert (await client.chat_postMessage(channel=CHANNEL, text="after clear"))["ok"] is True


async def test_rate_limit_allows_a_burst(stub: SlackStandIn, client: AsyncWebClient) -> None:
    stub.rate_limit_per_channel(messages_per_second=0.5, burst=3)
    statuses = []
    retry_after = []
    for i in range(4):
        try:
            await client.chat_postMessage(channel=CHANNEL, text=str(i))
            statuses.append(200)
        except SlackApiError as exc:
            statuses.append(exc.response.status_code)
            retry_after.append(exc.response.headers["Retry-After"])
    assert statuses == [200, 200, 200, 429]
    assert retry_after == ["2"]


def test_fail_rejects_zero_times() -> None:
    with pytest.raises(ValueError, match="times"):
        SlackStandIn().fail("chat.postMessage", times=0)
