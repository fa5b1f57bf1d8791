"""Fixtures for the Slack stand-in's tests: a stand-in on the test's event loop and a real AsyncWebClient for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.devtools.slackstub import SlackStandIn

TOKEN = "xoxb-test"
CHANNEL = "C0INCIDENTS"


@pytest.fixture
async def stub() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn(tokens=[TOKEN], start_ts=1_700_000_000.0) as running:
        yield running


@pytest.fixture
def client(stub: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=stub.api_url)
