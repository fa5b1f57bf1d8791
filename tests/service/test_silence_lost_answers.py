"""A silence Alertmanager created while the bot lost track of it: found and adopted, or taken back, or said.

The real Alertmanager of Debian's package behind a small HTTP relay this test serves: the relay passes every call
through, except that it can hold back the answer to a POST (the bot's call times out after Alertmanager acted),
answer a DELETE with 500, or answer with bytes that are not UTF-8 or JSON of the wrong shape. The bot is driven
through the guard (request, confirm) and the test asks Alertmanager itself what exists. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import text

from bot.alertmanager.client import AlertmanagerClient, AlertmanagerError, Auth
from bot.alertmanager.matchers import Matcher
from bot.guard import proposals
from bot.guard.outcomes import Failed, Previewed, Verified
from bot.guard.trail import Actor
from tests.e2e.promstack import Server, serve_in_thread
from tests.service.conftest import BotFactory
from tests.service.test_guarded_actions import ALICE
from tests.service.test_silences import alertmanager, receiver, silence_config, silences_in

__all__ = ["alertmanager", "receiver"]  # the fixtures, used by name
TIMEOUT = 1.0  # silences.timeout_seconds in these tests: the relay holds an answer back longer


@dataclass
class Relay:
    """Between the bot and Alertmanager: what it does to the next calls."""

    upstream: str
    lose_post_answer: bool = False
    fail_delete: bool = False
    answer_with: bytes | None = None  # instead of Alertmanager's answer to every GET
    read_back_ends: str | None = None  # the endsAt of a silence read back, rewritten
    seen: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        async def relay(request: web.Request) -> web.StreamResponse:
            self.seen.append(f"{request.method} {request.path}")
            if request.method == "DELETE" and self.fail_delete:
                return web.Response(status=500, text="storage unavailable")
            if request.method == "GET" and self.answer_with is not None:
                return web.Response(body=self.answer_with, content_type="application/json")
            async with (
                aiohttp.ClientSession() as session,
                session.request(
                    request.method, self.upstream + request.path_qs, data=await request.read(), headers=_json
                ) as answer,
            ):
                body = await answer.read()
            if request.method == "GET" and request.path.startswith("/api/v2/silence/") and self.read_back_ends:
                body = json.dumps({**json.loads(body), "endsAt": self.read_back_ends}).encode()
            if request.method == "POST" and request.path == "/api/v2/silences" and self.lose_post_answer:
                await asyncio.sleep(TIMEOUT * 3)  # Alertmanager made it; the bot never hears so
            return web.Response(status=answer.status, body=body, content_type="application/json")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", relay)
        return app


_json = {"Content-Type": "application/json"}


@pytest.fixture
def relay(alertmanager: Server) -> Iterator[tuple[Relay, str]]:
    r = Relay(alertmanager.url)
    with serve_in_thread(r.app(), "am-relay") as port:
        yield r, f"http://127.0.0.1:{port}"


def relayed_config(kubeconfig: Path, url: str) -> Any:
    base = silence_config(kubeconfig, url).model_dump()
    base["silences"]["timeout_seconds"] = TIMEOUT
    return type(silence_config(kubeconfig, url)).model_validate(base)


async def confirm_silence(bot: Any) -> Any:
    proposal = await proposals.for_workload(
        bot.services.store,
        environment="prod",
        namespace="shop",
        workload="ledger-api",
        kind="Deployment",
        remedy="silence",
        params={"duration": "2h", "comment": "on it"},
        minutes=15,
        incident_id=None,
    )
    previewed = await bot.services.guard.request(Actor(ALICE), proposal.id)
    assert isinstance(previewed, Previewed), previewed
    return await bot.services.guard.confirm(Actor(ALICE), previewed.change.id)


async def last_audit(bot: Any) -> tuple[str, str, str]:
    records = await bot.services.audit.list(workload="ledger-api")
    e = records[-1].event
    return e.action, e.outcome, e.detail or ""


async def test_a_silence_whose_answer_was_lost_is_found_and_adopted(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, alertmanager: Server, relay: tuple[Relay, str]
) -> None:
    bot = await bot_factory(db_url, config=relayed_config(kubeconfig, relay[1]))
    relay[0].lose_post_answer = True
    done = await confirm_silence(bot)
    assert isinstance(done, Verified), done
    [silence] = await silences_in(alertmanager)
    assert silence["status"]["state"] == "active"
    row = await bot.services.store.silences.get(silence["id"])
    assert row is not None  # the bot knows the silence it made, and can Unsilence it
    assert row.expired_at is None
    records = await bot.services.audit.list(workload="ledger-api")
    applied = next(r.event for r in records if r.event.action == "applied")
    assert "found in Alertmanager after its answer was lost" in (applied.detail or "")


async def test_a_silence_the_bot_cannot_record_is_expired_again_and_said(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, alertmanager: Server, relay: tuple[Relay, str]
) -> None:
    bot = await bot_factory(db_url, config=relayed_config(kubeconfig, relay[1]))
    async with bot.services.store.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE silences RENAME TO silences_away"))
    try:
        done = await confirm_silence(bot)
        assert isinstance(done, Failed), done
        [silence] = await silences_in(alertmanager)
        assert silence["status"]["state"] == "expired"
        assert f"silence {silence['id']} was created, but the bot could not record it" in done.reason
        assert done.reason.endswith("it was expired again")
        assert await last_audit(bot) == ("failed", "error", done.reason)

        # and when expiring it fails too: the silence is said to be active, with its id — never "nothing"
        relay[0].fail_delete = True
        done = await confirm_silence(bot)
        assert isinstance(done, Failed), done
        active = [s for s in await silences_in(alertmanager) if s["status"]["state"] == "active"]
        assert len(active) == 1
        assert f"silence {active[0]['id']} was created" in done.reason
        assert "it is ACTIVE in Alertmanager until" in done.reason
        assert "nothing was silenced" not in done.reason
        assert await last_audit(bot) == ("failed", "error", done.reason)
    finally:
        async with bot.services.store.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE silences_away RENAME TO silences"))


async def test_the_client_turns_odd_answers_into_its_own_errors(relay: tuple[Relay, str]) -> None:
    client = AlertmanagerClient(relay[1], timeout=TIMEOUT)
    some_id = "0b3e8bb6-9b55-4bbf-a9c4-c1c0c8f0d6a1"
    for body, expected in [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b'{"id": 1}', "unexpected answer"),
        (b'["not", "a", "silence"]', "unexpected answer"),
        (
            b'{"id": "x", "status": {"state": "active"}, "matchers": ["pod"], "startsAt": "x", "endsAt": "x"}',
            "unexpected",
        ),
    ]:
        relay[0].answer_with = body
        with pytest.raises(AlertmanagerError, match=expected):
            await client.silence(some_id)
    for body in (b"[1, 2]", b'[{"labels": ["a"]}]', b'{"alerts": []}'):
        relay[0].answer_with = body
        with pytest.raises(AlertmanagerError, match="list the matching alerts"):
            await client.alerts([Matcher("namespace", "shop")])
    relay[0].answer_with = b'{"silences": []}'
    with pytest.raises(AlertmanagerError, match="not a list of silences"):
        await client.silences([Matcher("namespace", "shop")])
    secret = Auth(bearer_token="am-token-s3cret", basic=("am", "p4ss-s3cret"))
    assert "s3cret" not in repr(secret)


async def test_a_silence_read_back_with_another_end_is_expired_again(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, alertmanager: Server, relay: tuple[Relay, str]
) -> None:
    bot = await bot_factory(db_url, config=relayed_config(kubeconfig, relay[1]))
    proposal = await proposals.for_workload(
        bot.services.store,
        environment="prod",
        namespace="shop",
        workload="ledger-api",
        kind="Deployment",
        remedy="silence",
        params={"duration": "2h"},
        minutes=15,
        incident_id=None,
    )
    previewed = await bot.services.guard.request(Actor(ALICE), proposal.id)
    assert isinstance(previewed, Previewed), previewed
    relay[0].read_back_ends = "2099-01-01T00:00:00.000Z"  # Alertmanager reports another end than was asked
    done = await bot.services.guard.confirm(Actor(ALICE), previewed.change.id)
    assert isinstance(done, Failed), done
    assert "until 2099-01-01 00:00:00 UTC" in done.reason
    assert done.reason.endswith("it was expired again")
    [silence] = await silences_in(alertmanager)
    assert silence["status"]["state"] == "expired"
