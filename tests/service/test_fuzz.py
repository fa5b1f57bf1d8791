"""Property-based fuzzing of the routes a client can reach: whatever it sends, the answer is never a 5xx.

Hypothesis generates webhook bodies shaped like deliveries (with hostile strings: NUL, lone surrogates, huge
numbers, naive and out-of-range times), raw bytes, odd Authorization headers, and Slack requests — unsigned with
malformed headers, and correctly signed with malformed bodies. Examples are bounded so the suite stays fast.
"""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.devtools.slackstub.signing import FORM_CONTENT_TYPE, sign
from tests.service.conftest import SIGNING_SECRET, WEBHOOK_TOKEN, Bot

FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,  # no example database written into the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
CLIENT_ERRORS = {400, 401, 404, 408, 413, 422}
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40)

hostile_text = st.text(st.characters(exclude_categories=()), max_size=12) | st.sampled_from(
    ["", "\x00", "\ud800", "shop", "ledger-api", "a" * 300, "é", "\udfff\x00"]
)
times = st.sampled_from(
    ["2026-11-25T10:00:00Z", "2026-11-25T10:00:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "x"]
) | st.datetimes().map(lambda d: d.isoformat())
scalars = st.none() | st.booleans() | st.integers() | st.floats() | hostile_text
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3), max_leaves=8
)
alert = st.fixed_dictionaries(
    {"labels": st.dictionaries(hostile_text, scalars, max_size=4) | json_values},
    optional={
        "status": st.sampled_from(["firing", "resolved", "burning"]) | json_values,
        "annotations": st.dictionaries(hostile_text, scalars, max_size=3) | json_values,
        "startsAt": times | json_values,
        "endsAt": times,
        "fingerprint": hostile_text | json_values,
        "generatorURL": hostile_text,
        "cubeSampleLog": hostile_text,
    },
)
delivery = st.fixed_dictionaries(
    {"alerts": st.lists(alert, min_size=0, max_size=4) | json_values},
    optional={
        "version": st.sampled_from(["4", "3"]) | json_values,
        "groupKey": hostile_text | json_values,
        "truncatedAlerts": st.integers() | json_values,
        "cubeSampleLog": hostile_text,
    },
)


def _sendable(text: str) -> str:
    """Text a form can carry (a lone surrogate cannot be URL-encoded by the client)."""
    return text.encode("utf-8", "replace").decode("utf-8")


async def _assert_client_error_or_accepted(response: Any) -> None:
    assert response.status < 500, await response.text()
    assert response.status in {202, *CLIENT_ERRORS}, response.status
    if response.status != 202:
        assert (await response.json())["error"]  # names the problem


@FUZZ
@given(body=delivery, cubeapm=st.booleans())
async def test_webhook_deliveries_never_get_a_5xx(bot: Bot, body: dict[str, Any], cubeapm: bool) -> None:
    path = "/alerts/cubeapm" if cubeapm else "/alerts/alertmanager"
    raw = json.dumps(body, allow_nan=True).encode()
    response = await bot.client.post(path, data=raw, headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"})
    await _assert_client_error_or_accepted(response)


@FUZZ
@given(raw=st.binary(max_size=300), authorization=header_text)
async def test_webhook_raw_bytes_and_headers_never_get_a_5xx(bot: Bot, raw: bytes, authorization: str) -> None:
    for headers in ({"Authorization": f"Bearer {WEBHOOK_TOKEN}"}, {"Authorization": authorization}):
        response = await bot.client.post("/alerts/alertmanager", data=raw, headers=headers)
        await _assert_client_error_or_accepted(response)


slack_bodies = (
    st.builds(
        lambda v: urlencode({"payload": v}), hostile_text.filter(lambda s: s.isascii()) | json_values.map(json.dumps)
    )
    | st.builds(
        lambda d: urlencode({k: _sendable(str(v)) for k, v in d.items()}),
        st.dictionaries(st.text(string.ascii_letters, max_size=8), scalars, max_size=4),
    )
    | json_values.map(json.dumps)
    | st.builds(
        lambda meta: urlencode(
            {
                "payload": json.dumps(
                    {
                        "type": "view_submission",
                        "view": {"type": "modal", "private_metadata": meta, "callback_id": "remedy.form"},
                    }
                )
            }
        ),
        hostile_text.filter(lambda s: s.isascii()),
    )
)


@FUZZ
@given(body=slack_bodies, timestamp=header_text, signature=header_text)
async def test_slack_requests_never_get_a_5xx(bot: Bot, body: str, timestamp: str, signature: str) -> None:
    forged = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    signed = sign(SIGNING_SECRET, body)
    for headers in (forged, signed):
        response = await bot.client.post(
            "/slack/events", data=body.encode(), headers={**headers, "Content-Type": FORM_CONTENT_TYPE}
        )
        assert response.status < 500, (response.status, await response.text())
        if headers is forged:
            assert response.status == 401
