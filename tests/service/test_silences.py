"""Silence and Unsilence end to end: signed Slack requests into the bot, the real Alertmanager of Debian's package.

Alertmanager (`/usr/bin/prometheus-alertmanager`, a subprocess on a loopback port) routes every alert to a
webhook receiver this test serves, with tiny intervals. The bot silences a workload through the guard (button,
form, preview, confirm), and the test asks Alertmanager itself: the silence exists with exactly the workload's
matchers, the workload's alerts are suppressed while another workload's are not, no notification arrives for
the silenced workload, and Unsilence expires it. Every step is an audit row, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from click.testing import CliRunner

from bot.alertmanager.client import AlertmanagerClient, AlertmanagerError
from bot.alertmanager.matchers import Matcher, pod_pattern
from bot.cli.main import cli
from bot.core.settings import load_settings
from bot.devtools.slackstub.signing import slash_command_body, view_submission_body
from bot.store import Store
from bot.store.audit import audit_log_for
from tests.e2e.promstack import (
    INSTALL_HINT,
    Server,
    get_json,
    missing_binaries,
    serve_in_thread,
    start_alertmanager,
    write_yaml,
)
from tests.service.conftest import CHANNEL, CLUSTER, Bot, BotFactory, eventually, pods_of
from tests.service.test_guarded_actions import ALICE, BOB, CAROL, alert_for, audit_actions, change_id, click, told
from tests.service.test_guarded_actions import config as guarded_config

NOTIFY_GRACE = 3.0  # seconds: group_wait 0s and group_interval 1s, so a notification that is due arrives in ms


class Receiver:
    """Alertmanager's webhook receiver: every alert it was notified of, by its labels."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def app(self) -> web.Application:
        async def hook(request: web.Request) -> web.Response:
            body = await request.json()
            with self._lock:
                self.alerts.extend(a["labels"] for a in body["alerts"])
            return web.json_response({})

        app = web.Application()
        app.router.add_post("/hook", hook)
        return app

    def notified(self, alertname: str) -> list[dict[str, str]]:
        with self._lock:
            return [a for a in self.alerts if a.get("alertname") == alertname]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    r = Receiver()
    with serve_in_thread(r.app(), "am-receiver") as port:
        yield r, port


@pytest.fixture
def alertmanager(receiver: tuple[Receiver, int], tmp_path: Path) -> Iterator[Server]:
    missing = missing_binaries()
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed; {INSTALL_HINT}")
    directory = tmp_path / "alertmanager"
    directory.mkdir()
    route = {"group_by": ["alertname", "namespace", "pod"], "group_wait": "0s", "group_interval": "1s"}
    config = {
        "route": {"receiver": "test", **route, "repeat_interval": "1h"},
        "receivers": [{"name": "test", "webhook_configs": [{"url": f"http://127.0.0.1:{receiver[1]}/hook"}]}],
    }
    server = start_alertmanager(directory, write_yaml(directory / "alertmanager.yml", config))
    try:
        yield server
    finally:
        server.stop()


def silence_config(kubeconfig: Path, url: str | None, *, approval: bool = False) -> Any:
    base = guarded_config(kubeconfig, approval=approval).model_dump()
    base["environments"]["prod"]["alertmanager_url"] = url
    return type(guarded_config(kubeconfig)).model_validate(base)


async def post_alert(am: Server, alertname: str, namespace: str, pod: str) -> None:
    alert = {
        "labels": {"alertname": alertname, "cluster": CLUSTER, "namespace": namespace, "pod": pod, "container": "app"},
        "annotations": {"summary": "test"},
        "startsAt": datetime.now(UTC).isoformat(),
    }
    async with aiohttp.ClientSession() as session, session.post(f"{am.url}/api/v2/alerts", json=[alert]) as response:
        assert response.status == 200, await response.text()


async def am_alert_state(am: Server, alertname: str) -> dict[str, Any] | None:
    alerts = await get_json(f"{am.url}/api/v2/alerts?filter=alertname%3D%22{alertname}%22")
    return alerts[0]["status"] if alerts else None


async def silences_in(am: Server) -> list[dict[str, Any]]:
    return list(await get_json(f"{am.url}/api/v2/silences"))


def matcher_set(matchers: list[dict[str, Any]]) -> set[tuple[str, str, bool, bool]]:
    return {(m["name"], m["value"], m["isRegex"], m.get("isEqual", True)) for m in matchers}


def button_in(message: Any, action_id: str) -> dict[str, Any] | None:
    for block in message.blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return dict(element)
    return None


async def root_with(bot: Bot, workload: str, action_id: str) -> Any:
    def find() -> Any:
        for m in bot.roots():
            if m.metadata["event_payload"]["workload"] == workload and button_in(m, action_id):
                return m
        return None

    return await eventually(find)


async def submit_silence_form(bot: Bot, user: str, fields: dict[str, str]) -> None:
    view = await eventually(lambda: next(iter(bot.slack.views.values()), None))
    state = {k: {k: {"type": "plain_text_input", "value": v}} for k, v in fields.items()}
    body = view_submission_body("remedy.form", view.private_metadata, state, user)
    response = await bot.slack_request(body)
    assert response.status == 200


async def test_silence_through_the_guard_suppresses_only_the_workload_and_unsilence_ends_it(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, alertmanager: Server, receiver: tuple[Receiver, int]
) -> None:
    bot = await bot_factory(db_url, config=silence_config(kubeconfig, alertmanager.url))
    await alert_for(bot, "shop", "ledger-api")
    root = await root_with(bot, "ledger-api", "silence.open")

    # Silence → the form → a preview naming the matchers; nothing in Alertmanager yet
    await click(bot, ALICE, "silence.open", str(button_in(root, "silence.open")["value"]), root.ts)  # type: ignore[index]
    await submit_silence_form(bot, ALICE, {"duration": "2h", "comment": "rolling back, ALICE on it"})
    preview = await told(bot, ALICE, "Preview")
    pattern = pod_pattern("Deployment", "ledger-api")
    assert "What Alertmanager will do" in json.dumps(preview.blocks)
    assert f'pod=~\\"{pattern}' in json.dumps(preview.blocks)
    assert await silences_in(alertmanager) == []

    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))
    posted = await eventually(
        lambda: [m for m in bot.slack.thread(CHANNEL, root.ts) if "silenced the alerts" in json.dumps(m.blocks)]
    )
    assert "<@U0ONCALL1> silenced the alerts of *shop/ledger-api*" in json.dumps(posted[0].blocks)

    # Alertmanager holds exactly one active silence, with exactly the workload's matchers
    [silence] = await silences_in(alertmanager)
    assert silence["status"]["state"] == "active"
    assert matcher_set(silence["matchers"]) == {
        ("cluster", CLUSTER, False, True),
        ("namespace", "shop", False, True),
        ("pod", pattern, True, True),
    }
    assert silence["comment"] == "rolling back, ALICE on it"
    ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
    assert timedelta(hours=1, minutes=59) < ends - datetime.now(UTC) <= timedelta(hours=2)
    row = await bot.services.store.silences.get(silence["id"])
    assert row is not None
    assert row.created_by == ALICE
    assert row.expired_at is None

    # the workload's alerts are suppressed by it, another workload's are not; only the other one notifies
    mine, other = f"Probe{uuid.uuid4().hex[:8]}", f"Probe{uuid.uuid4().hex[:8]}"
    await post_alert(alertmanager, mine, "shop", pods_of(bot.sim, "shop", "ledger-api")[0])
    await post_alert(alertmanager, other, "shop", pods_of(bot.sim, "shop", "web-app")[0])
    assert await eventually(lambda: am_alert_state(alertmanager, mine)) == {
        "state": "suppressed",
        "silencedBy": [silence["id"]],
        "inhibitedBy": [],
    }
    assert (await am_alert_state(alertmanager, other) or {}).get("state") == "active"
    await eventually(lambda: receiver[0].notified(other))
    await asyncio.sleep(NOTIFY_GRACE)
    assert receiver[0].notified(mine) == []

    # the root message says so, and offers Unsilence
    root = await root_with(bot, "ledger-api", "silence.unsilence")
    assert "🔕 Alerts silenced until <!date^" in json.dumps(root.blocks, ensure_ascii=False)
    assert button_in(root, "silence.open") is None

    # Unsilence: a preview, then the silence is expired in Alertmanager and the workload notifies again
    await click(bot, ALICE, "silence.unsilence", silence["id"], root.ts)
    preview = await told(bot, ALICE, f"expire silence {silence['id']}")
    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))
    await eventually(
        lambda: [m for m in bot.slack.thread(CHANNEL, root.ts) if "unsilenced the alerts" in json.dumps(m.blocks)]
    )
    [expired] = await silences_in(alertmanager)
    assert expired["status"]["state"] == "expired"
    assert (await am_alert_state(alertmanager, mine) or {}).get("state") == "active"
    await eventually(lambda: receiver[0].notified(mine), within=10)
    row = await bot.services.store.silences.get(silence["id"])
    assert row is not None
    assert row.expired_by == ALICE
    await root_with(bot, "ledger-api", "silence.open")  # offered again

    actions = [(a, o) for a, o, _ in await audit_actions(bot, "ledger-api")]
    assert actions == [("requested", "ok"), ("previewed", "ok"), ("applied", "ok"), ("verified", "ok")] * 2
    records = await bot.services.audit.list(workload="ledger-api")
    assert [r.event.remedy for r in records] == ["silence"] * 4 + ["unsilence"] * 4
    assert (await bot.services.audit.verify()).ok


async def test_a_second_responder_approves_a_silence_where_the_environment_requires_it(
    bot_factory: BotFactory, kubeconfig: Path, alertmanager: Server
) -> None:
    bot = await bot_factory(config=silence_config(kubeconfig, alertmanager.url, approval=True))
    await alert_for(bot, "shop", "ledger-api")
    root = await root_with(bot, "ledger-api", "silence.open")
    url = bot.slack.mint_response_url(CHANNEL, user=ALICE)
    await bot.slack_request(
        slash_command_body(text="silence prod ledger-api 45m", user_id=ALICE, response_url=url, channel_id=CHANNEL)
    )
    preview = await told(bot, ALICE, "Preview")
    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))
    request = await eventually(
        lambda: next((m for m in bot.slack.thread(CHANNEL, root.ts) if "Approve" in json.dumps(m.blocks)), None)
    )
    assert await silences_in(alertmanager) == []  # nothing before the approval
    await click(bot, BOB, "change.approve", change_id(request, "change.approve"))
    await eventually(
        lambda: [m for m in bot.slack.thread(CHANNEL, root.ts) if "silenced the alerts" in json.dumps(m.blocks)]
    )
    [silence] = await silences_in(alertmanager)
    assert silence["status"]["state"] == "active"
    ends = datetime.fromisoformat(silence["endsAt"].replace("Z", "+00:00"))
    assert timedelta(minutes=44) < ends - datetime.now(UTC) <= timedelta(minutes=45)
    assert [(a, o, who) for a, o, who in await audit_actions(bot, "ledger-api")] == [
        ("requested", "ok", ALICE),
        ("previewed", "ok", ALICE),
        ("approved", "ok", BOB),
        ("applied", "ok", BOB),
        ("verified", "ok", BOB),
    ]


async def test_alertmanager_down_is_said_in_the_thread_and_audited(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, alertmanager: Server
) -> None:
    bot = await bot_factory(db_url, config=silence_config(kubeconfig, alertmanager.url))
    await alert_for(bot, "shop", "ledger-api")
    root = await root_with(bot, "ledger-api", "silence.open")
    url = bot.slack.mint_response_url(CHANNEL, user=ALICE)
    await bot.slack_request(
        slash_command_body(text="silence prod ledger-api 2h", user_id=ALICE, response_url=url, channel_id=CHANNEL)
    )
    preview = await told(bot, ALICE, "Preview")
    alertmanager.stop()  # gone between the preview and the confirmation: connection refused
    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))
    failed = await eventually(
        lambda: [m for m in bot.slack.thread(CHANNEL, root.ts) if "failed" in json.dumps(m.blocks)]
    )
    assert "Alertmanager could not create the silence: cannot connect to" in json.dumps(failed[0].blocks)
    records = await bot.services.audit.list(workload="ledger-api")
    assert [(r.event.action, r.event.outcome) for r in records][-1] == ("failed", "error")
    assert "cannot connect" in (records[-1].event.detail or "")
    assert await bot.services.store.silences.in_force_for("prod", "shop", "ledger-api") is None

    # and a new request is refused at its preview, saying why, audited
    await bot.slack_request(
        slash_command_body(text="silence prod ledger-api 2h", user_id=ALICE, response_url=url, channel_id=CHANNEL)
    )
    refused = await told(bot, ALICE, "could not list the matching alerts")
    assert "cannot connect" in refused.text
    records = await bot.services.audit.list(workload="ledger-api")
    assert (records[-1].event.action, records[-1].event.outcome) == ("denied", "refused")


async def test_refusals_duration_bounds_role_and_no_alertmanager(
    bot_factory: BotFactory, kubeconfig: Path, alertmanager: Server
) -> None:
    bot = await bot_factory(config=silence_config(kubeconfig, alertmanager.url))
    await alert_for(bot, "shop", "ledger-api")
    root = await root_with(bot, "ledger-api", "silence.open")
    url = bot.slack.mint_response_url(CHANNEL, user=ALICE)

    async def slash(text: str, user: str = ALICE) -> None:
        body = slash_command_body(text=text, user_id=user, response_url=url, channel_id=CHANNEL)
        assert (await bot.slack_request(body)).status == 200

    await slash("silence prod ledger-api 5m")
    assert "a silence lasts from 15m to 7d" in (await told(bot, ALICE, "a silence lasts")).text
    await slash("silence prod ledger-api 8d")
    await eventually(lambda: len([e for e in bot.slack.ephemerals(CHANNEL, ALICE) if "a silence lasts" in e.text]) == 2)
    await slash("silence prod ledger-api soon")
    assert "is not a duration" in (await told(bot, ALICE, "is not a duration")).text

    # the form shows a refused duration next to its field (the proposal stays usable)
    await click(bot, ALICE, "silence.open", str(button_in(root, "silence.open")["value"]), root.ts)  # type: ignore[index]
    view = await eventually(lambda: next(iter(bot.slack.views.values()), None))
    state = {"duration": {"duration": {"type": "plain_text_input", "value": "3w"}}}
    response = await bot.slack_request(view_submission_body("remedy.form", view.private_metadata, state, ALICE))
    assert response.status == 200
    errors = json.loads(await response.text())
    assert errors["response_action"] == "errors"
    assert "a silence lasts" in errors["errors"]["duration"]

    # a viewer may not silence
    url = bot.slack.mint_response_url(CHANNEL, user=CAROL)
    body = slash_command_body(text="silence prod ledger-api 2h", user_id=CAROL, response_url=url, channel_id=CHANNEL)
    await bot.slack_request(body)
    assert "responders only" in (await told(bot, CAROL, "responders only")).text
    assert await silences_in(alertmanager) == []
    denied = [a for a in await audit_actions(bot, "ledger-api") if a[0] == "denied"]
    assert len(denied) >= 3


async def test_without_an_alertmanager_there_is_no_silence_button_and_the_command_says_so(
    bot_factory: BotFactory, kubeconfig: Path
) -> None:
    bot = await bot_factory(config=silence_config(kubeconfig, None))
    await alert_for(bot, "shop", "ledger-api")
    await eventually(lambda: any(button_in(m, "triage.rerun") for m in bot.roots()))
    assert all(button_in(m, "silence.open") is None for m in bot.roots())
    url = bot.slack.mint_response_url(CHANNEL, user=ALICE)
    body = slash_command_body(text="silence prod ledger-api 2h", user_id=ALICE, response_url=url, channel_id=CHANNEL)
    await bot.slack_request(body)
    assert "no alertmanager_url" in (await told(bot, ALICE, "not configured")).text


async def test_the_client_says_what_alertmanager_answered(alertmanager: Server) -> None:
    client = AlertmanagerClient(alertmanager.url, timeout=5)
    now = datetime.now(UTC)
    with pytest.raises(AlertmanagerError) as bad:  # a regex Alertmanager cannot compile: 400, in its own words
        await client.create_silence(
            [Matcher("pod", "web-(", is_regex=True)],
            starts_at=now,
            ends_at=now + timedelta(hours=1),
            created_by="t",
            comment="t",
        )
    assert bad.value.status == 400
    assert "HTTP 400" in str(bad.value)
    with pytest.raises(AlertmanagerError) as unknown:
        await client.silence(str(uuid.uuid4()))
    assert unknown.value.status == 404
    with pytest.raises(AlertmanagerError, match="not a silence id"):
        await client.expire("../status")
    silence_id = await client.create_silence(
        [Matcher("namespace", "shop")], starts_at=now, ends_at=now + timedelta(hours=1), created_by="t", comment="t"
    )
    assert (await client.silence(silence_id)).state == "active"
    await client.expire(silence_id)
    assert (await client.silence(silence_id)).state == "expired"
    alertmanager.stop()
    with pytest.raises(AlertmanagerError, match="cannot connect") as down:
        await client.alerts([Matcher("namespace", "shop")])
    assert down.value.status is None


async def test_crashloop_act_silences_and_unsilences_through_the_same_guard(
    kubeconfig: Path, tmp_path: Path, alertmanager: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = silence_config(kubeconfig, alertmanager.url).model_dump(mode="json")
    config["access"]["responders"].append("cli:alice")
    config_file = tmp_path / "crashloop.yaml"
    config_file.write_text(yaml.safe_dump(config))
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", db_url)
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "no-secrets"))

    def act(*args: str) -> Any:
        argv = ["--config", str(config_file), "act", *args, "--yes", "--as", "alice"]
        return CliRunner().invoke(cli, argv, catch_exceptions=False)

    comment = "comment=rolling back, DB_PASSWORD=hunter2-s3cret was in the log"  # a secret typed by mistake
    done = await asyncio.to_thread(act, "silence", "prod", "ledger-api", "--param", "duration=3h", "--param", comment)
    assert done.exit_code == 0, done.output
    assert 'pod=~"ledger-api-' in done.output  # the preview's matchers
    [silence] = await silences_in(alertmanager)
    assert silence["status"]["state"] == "active"
    assert silence["createdBy"] == "alice via crashloop-bot"
    assert silence["comment"] == "rolling back, DB_PASSWORD=[REDACTED] was in the log"  # Alertmanager never gets it
    assert f"silence {silence['id']} is active" in done.output

    refused = await asyncio.to_thread(act, "silence", "prod", "ledger-api", "--param", "duration=30d")
    assert refused.exit_code == 2
    assert "a silence lasts from 15m to 7d" in refused.output

    done = await asyncio.to_thread(act, "unsilence", "prod", "ledger-api")
    assert done.exit_code == 0, done.output
    assert (await silences_in(alertmanager))[0]["status"]["state"] == "expired"
    store = Store(db_url)
    try:
        records = await audit_log_for(store.engine, load_settings()).list(workload="ledger-api")
    finally:
        await store.close()
    assert [(r.event.remedy, r.event.action, r.event.actor_id) for r in records if r.event.action != "denied"] == [
        (remedy, action, "cli:alice")
        for remedy in ("silence", "unsilence")
        for action in ("requested", "previewed", "applied", "verified")
    ]


async def test_a_silence_interrupted_mid_apply_is_settled_as_failed_pointing_at_alertmanager(
    bot_factory: BotFactory, kubeconfig: Path, alertmanager: Server
) -> None:
    bot = await bot_factory(config=silence_config(kubeconfig, alertmanager.url))
    changes = bot.services.store.changes
    change = await changes.create(
        ttl=timedelta(minutes=15),
        environment="prod",
        namespace="shop",
        workload="ledger-api",
        kind="Deployment",
        remedy="silence",
        params={"duration": "2h"},
        requested_by=ALICE,
    )
    # its applier has no heartbeat: a dead instance's change is settled on the next poll (bot.guard.verify)
    await changes.move(change.id, ["previewed"], "applying", applied_by="a-replica-that-died")
    await bot.services.guard.resume_verifications()
    settled = await changes.get(change.id)
    assert settled is not None
    assert settled.state == "failed"
    assert "check its silences" in (settled.detail or "")
    [record] = await bot.services.audit.list(workload="ledger-api")
    assert (record.event.action, record.event.outcome, record.event.remedy) == ("failed", "error", "silence")
