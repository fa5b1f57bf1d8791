"""The guarded remedies end to end: signed clicks and form submissions, the simulated cluster, SQL audit rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.core.config import Access, Config, Environment, Limits
from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.devtools.slackstub.signing import block_actions_body, slash_command_body, view_submission_body
from bot.store.audit import AuditLog
from tests.service.conftest import CHANNEL, CLUSTER, Bot, BotFactory, am_alert, am_payload, eventually, pods_of

ALICE, BOB, CAROL, MALLORY = "U0ONCALL1", "U0ONCALL2", "U0VIEWER1", "U0STRANGER"


@pytest.fixture
def sim() -> Iterator[SimCluster]:  # every test changes workloads: a cluster of its own
    with SimCluster(load_scenarios(), token="sim-token").running() as cluster:
        yield cluster


@pytest.fixture
def kubeconfig(sim: SimCluster, tmp_path: Path) -> Path:
    return Path(sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim"))


def config(kubeconfig: Path, *, approval: bool = False, read_only: bool = False) -> Config:
    prod = Environment(
        context="sim",
        kubeconfig=str(kubeconfig),
        namespaces=["shop", "payments"],
        channel=CHANNEL,
        cluster_label=CLUSTER,
        require_approval=approval,
    )
    return Config.model_validate(
        {
            "environments": {"prod": prod.model_dump()},
            "access": Access(responders=[ALICE, "S0SRE0001"], viewers=[CAROL]).model_dump(),
            "limits": Limits(read_only=read_only).model_dump(),
            "actions": {"verify_timeout_seconds": 8, "verify_stable_seconds": 0.5, "verify_interval_seconds": 0.2},
        }
    )


async def alert_for(bot: Bot, namespace: str, workload: str) -> Any:
    pod = pods_of(bot.sim, namespace, workload)[0]
    await bot.alerts(am_payload(am_alert(namespace, pod)))
    return await eventually(
        lambda: next((m for m in bot.roots() if m.metadata["event_payload"]["workload"] == workload), None)
    )


def button(root: Any, action_id: str) -> dict[str, Any]:
    for block in root.blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return element
    raise AssertionError(f"no {action_id} button in {json.dumps(root.blocks)[:500]}")


async def click(bot: Bot, user: str, action_id: str, value: str, root_ts: str | None = None) -> str:
    url = bot.slack.mint_response_url(CHANNEL, user=user, message_ts=root_ts)
    body = block_actions_body(
        action_id,
        value,
        user_id=user,
        channel_id=CHANNEL,
        message_ts=root_ts,
        response_url=url,
        trigger_id="13345224609.738474920.8088930838d88f008e0",
    )
    assert (await bot.slack_request(body)).status == 200
    return url


async def told(bot: Bot, user: str, contains: str) -> Any:
    """The ephemeral message `user` was shown that contains `contains`."""
    return await eventually(
        lambda: next(
            (
                e
                for e in reversed(bot.slack.ephemerals(CHANNEL, user))
                if contains in e.text + json.dumps(e.blocks or [])
            ),
            None,
        )
    )


async def submit_form(bot: Bot, user: str, fields: dict[str, str]) -> None:
    view = await eventually(lambda: next(iter(bot.slack.views.values()), None))
    state = {k: {k: {"type": "plain_text_input", "value": v}} for k, v in fields.items()}
    body = view_submission_body("remedy.form", view.private_metadata, state, user)
    assert (await bot.slack_request(body)).status == 200


def change_id(message: Any, action_id: str) -> str:
    for block in message.blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} in {message}")


def real_patches(sim: SimCluster, resource: str = "deployments") -> list[Any]:
    return [r for r in sim.requests if r.method == "PATCH" and r.resource == resource and not r.query.get("dryRun")]


async def audit_actions(bot: Bot, workload: str) -> list[tuple[str, str, str]]:
    records = await bot.services.audit.list(workload=workload)
    return [(r.event.action, r.event.outcome, r.event.actor_id) for r in records]


async def test_bump_memory_with_a_second_responders_approval(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str
) -> None:
    bot = await bot_factory(db_url, config=config(kubeconfig, approval=True))
    root = await alert_for(bot, "shop", "ledger-api")
    await click(bot, ALICE, "runbook.bump_memory", button(root, "runbook.bump_memory")["value"], root.ts)
    view = await eventually(lambda: next(iter(bot.slack.views.values()), None))
    assert "384Mi" in json.dumps(view.payload)  # the form is prefilled with the proposal
    await submit_form(bot, ALICE, {"to": "384Mi"})
    preview = await told(bot, ALICE, "Preview")
    assert "memory: 384Mi" in json.dumps(preview.blocks)
    assert real_patches(bot.sim) == []  # only the dry run so far

    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))
    request = await eventually(
        lambda: next((m for m in bot.slack.thread(CHANNEL, root.ts) if "Approve" in json.dumps(m.blocks)), None)
    )
    approve = change_id(request, "change.approve")
    await click(bot, ALICE, "change.approve", approve)
    assert "self-approval is not allowed" in (await told(bot, ALICE, "self-approval")).text
    assert real_patches(bot.sim) == []

    await click(bot, BOB, "change.approve", approve)  # bob is a responder through user group S0SRE0001
    await eventually(lambda: any("Recovered" in json.dumps(m.blocks) for m in bot.slack.thread(CHANNEL, root.ts)))
    deployment = bot.sim.get_object("apps/v1", "deployments", "shop", "ledger-api")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "384Mi"
    assert len(real_patches(bot.sim)) == 1
    actions = await audit_actions(bot, "ledger-api")
    assert actions == [
        ("requested", "ok", ALICE),
        ("previewed", "ok", ALICE),
        ("denied", "refused", ALICE),
        ("approved", "ok", BOB),
        ("applied", "ok", BOB),
        ("verified", "ok", "bot"),
    ]
    assert (await bot.services.audit.verify()).ok


async def test_viewer_and_stranger_are_refused_and_nothing_is_written(
    bot_factory: BotFactory, kubeconfig: Path
) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, "shop", "web-app")
    value = button(root, "runbook.rollout_undo")["value"]
    await click(bot, CAROL, "runbook.rollout_undo", value, root.ts)
    assert "responders only" in (await told(bot, CAROL, "responders only")).text
    await click(bot, MALLORY, "runbook.rollout_undo", value, root.ts)
    assert "not a viewer or responder" in (await told(bot, MALLORY, "not a viewer")).text
    assert [r for r in bot.sim.requests if r.method == "PATCH"] == []
    assert [a[:2] for a in await audit_actions(bot, "web-app")] == [("denied", "refused"), ("denied", "refused")]


async def test_double_click_and_replayed_requests_apply_once(bot_factory: BotFactory, kubeconfig: Path) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, "shop", "web-app")
    value = button(root, "runbook.rollout_undo")["value"]
    await click(bot, ALICE, "runbook.rollout_undo", value, root.ts)
    preview = await told(bot, ALICE, "Preview")
    await click(bot, ALICE, "runbook.rollout_undo", value, root.ts)  # the same click again
    assert "already requested" in (await told(bot, ALICE, "already requested")).text
    confirm = change_id(preview, "change.confirm")
    await click(bot, ALICE, "change.confirm", confirm)
    await click(bot, ALICE, "change.confirm", confirm)  # a Slack retry / replay
    await eventually(lambda: any("Recovered" in json.dumps(m.blocks) for m in bot.slack.thread(CHANNEL, root.ts)))
    assert len(real_patches(bot.sim)) == 1
    web = bot.sim.get_object("apps/v1", "deployments", "shop", "web-app")
    assert web["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2.3.1")


async def test_expired_and_stale_proposals_are_refused(bot_factory: BotFactory, kubeconfig: Path) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, "shop", "web-app")
    value = button(root, "runbook.rollout_undo")["value"]
    async with bot.services.store.engine.begin() as conn:
        await conn.execute(
            text("UPDATE proposals SET expires_at = '2020-01-01 00:00:00' WHERE id = :id"), {"id": value}
        )
    await click(bot, ALICE, "runbook.rollout_undo", value, root.ts)
    assert "expired" in (await told(bot, ALICE, "expired")).text

    root2 = await alert_for(bot, "shop", "report-worker")
    stale = button(root2, "runbook.set_image")["value"]
    _patch_annotation(kubeconfig, "report-worker")  # someone changes the workload after the triage
    await click(bot, ALICE, "runbook.set_image", stale, root2.ts)
    await submit_form(bot, ALICE, {"image": "registry.example.com/shop/report-worker:1.7.2"})
    assert "stale" in (await told(bot, ALICE, "stale")).text
    assert [r for r in real_patches(bot.sim) if "1.7.2" in json.dumps(r.body)] == []


def _patch_annotation(kubeconfig: Path, name: str) -> None:
    from kubernetes import client
    from kubernetes import config as kconfig

    api = kconfig.new_client_from_config(config_file=str(kubeconfig), context="sim")
    body = {"spec": {"template": {"metadata": {"annotations": {"touched": "yes"}}}}}
    client.AppsV1Api(api).patch_namespaced_deployment(name, "shop", body)
    api.close()


async def test_read_only_mode_refuses_every_change(bot_factory: BotFactory, kubeconfig: Path) -> None:
    bot = await bot_factory(config=config(kubeconfig, read_only=True))
    root = await alert_for(bot, "shop", "web-app")
    assert "runbook." not in json.dumps(root.blocks)  # no remedy buttons
    assert "read-only mode" in json.dumps(root.blocks)
    url = bot.slack.mint_response_url(CHANNEL, user=ALICE)
    body = slash_command_body(text="rollout_undo prod web-app", user_id=ALICE, response_url=url, channel_id=CHANNEL)
    await bot.slack_request(body)
    assert "read-only mode" in (await told(bot, ALICE, "read-only")).text
    assert [r for r in bot.sim.requests if r.method == "PATCH"] == []


async def test_forbidden_from_the_api_says_which_permission(bot_factory: BotFactory, kubeconfig: Path) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, "shop", "web-app")
    bot.sim.add_fault(verb="patch", resource="deployments", namespace="shop", status=403)
    await click(bot, ALICE, "runbook.rollout_undo", button(root, "runbook.rollout_undo")["value"], root.ts)
    refusal = await told(bot, ALICE, "not allowed")
    assert "the bot is not allowed to patch deployments in shop" in refusal.text
    assert "verb 'patch' on 'deployments' (API group apps)" in refusal.text
    assert "Traceback" not in refusal.text
    assert ("denied", "refused") in [a[:2] for a in await audit_actions(bot, "web-app")]


async def test_conflict_rereads_and_asks_again(bot_factory: BotFactory, kubeconfig: Path) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, "shop", "web-app")
    await click(bot, ALICE, "runbook.rollout_undo", button(root, "runbook.rollout_undo")["value"], root.ts)
    preview = await told(bot, ALICE, "Preview")
    bot.sim.add_fault(verb="patch", resource="deployments", namespace="shop", status=409, times=1)
    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))
    again = await told(bot, ALICE, "409 Conflict")
    await click(bot, ALICE, "change.confirm", change_id(again, "change.confirm"))
    await eventually(lambda: any("Recovered" in json.dumps(m.blocks) for m in bot.slack.thread(CHANNEL, root.ts)))
    assert [a[0] for a in await audit_actions(bot, "web-app")].count("applied") == 1


@pytest.mark.parametrize(
    ("namespace", "workload", "action", "form", "check"),
    [
        (
            "shop",
            "search",
            "runbook.patch_probes",
            None,
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["startupProbe"]["failureThreshold"] == 30,
        ),
        (
            "shop",
            "checkout",
            "runbook.set_env",
            {"name": "DATABASE_URL", "secret": "checkout-db/url"},
            lambda d: any(e["name"] == "DATABASE_URL" for e in d["spec"]["template"]["spec"]["containers"][0]["env"]),
        ),
        (
            "shop",
            "report-worker",
            "runbook.set_image",
            {"image": "registry.example.com/shop/report-worker:1.7.2"},
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.7.2"),
        ),
        (
            "shop",
            "inventory-sync",
            "runbook.service_account",
            {"service_account": "inventory-sync"},
            lambda d: d["spec"]["template"]["spec"]["serviceAccountName"] == "inventory-sync",
        ),
    ],
)
async def test_each_remedy_heals_its_workload(
    bot_factory: BotFactory,
    kubeconfig: Path,
    namespace: str,
    workload: str,
    action: str,
    form: dict[str, str] | None,
    check: Any,
) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, namespace, workload)
    await click(bot, ALICE, action, button(root, action)["value"], root.ts)
    if form:
        await submit_form(bot, ALICE, form)
    preview = await told(bot, ALICE, "Preview")
    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))
    await eventually(lambda: any("Recovered" in json.dumps(m.blocks) for m in bot.slack.thread(CHANNEL, root.ts)))
    assert check(bot.sim.get_object("apps/v1", "deployments", namespace, workload))
    assert [a[0] for a in await audit_actions(bot, workload)] == ["requested", "previewed", "applied", "verified"]


async def test_set_env_literal_is_sealed_never_stored_or_shown(bot_factory: BotFactory, kubeconfig: Path) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, "shop", "checkout")
    secret = "postgres://checkout:s3cr3t-pw@db:5432/checkout"
    await click(bot, ALICE, "runbook.set_env", button(root, "runbook.set_env")["value"], root.ts)
    await submit_form(bot, ALICE, {"name": "DATABASE_URL", "value": secret})
    preview = await told(bot, ALICE, "Preview")
    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))
    await eventually(lambda: any("Recovered" in json.dumps(m.blocks) for m in bot.slack.thread(CHANNEL, root.ts)))
    env = bot.sim.get_object("apps/v1", "deployments", "shop", "checkout")["spec"]["template"]["spec"]["containers"][0][
        "env"
    ]
    assert {"name": "DATABASE_URL", "value": secret} in env  # applied to the cluster …
    everything_slack_saw = json.dumps([c.args for c in bot.slack.calls])
    assert "s3cr3t-pw" not in everything_slack_saw  # … but never shown in Slack
    async with bot.services.store.engine.connect() as conn:
        dump = json.dumps(
            [
                list(map(str, r))
                for t in ("changes", "audit_log", "proposals")
                for r in (await conn.execute(text(f"SELECT * FROM {t}"))).all()
            ]
        )
    assert "s3cr3t-pw" not in dump  # … nor stored in clear


async def test_netcheck_reports_the_dependency(bot_factory: BotFactory, kubeconfig: Path) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, "payments", "orders")
    await click(bot, ALICE, "runbook.netcheck", button(root, "runbook.netcheck")["value"], root.ts)
    await submit_form(bot, ALICE, {"host": "orders-db", "port": "5432"})
    preview = await told(bot, ALICE, "Preview")
    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))
    report = await eventually(
        lambda: next(
            (m for m in bot.slack.thread(CHANNEL, root.ts) if "Dependency check" in json.dumps(m.blocks)), None
        )
    )
    assert "TCP 5432 refused or filtered" in json.dumps(report.blocks)
    pods = [p["metadata"]["name"] for p in bot.sim.list_objects("v1", "pods", "payments")]
    assert not [p for p in pods if p.startswith("netcheck-")]  # the throwaway pod is gone


async def test_not_recovered_suggests_the_next_step(bot_factory: BotFactory, kubeconfig: Path) -> None:
    cfg = config(kubeconfig)
    cfg = cfg.model_copy(update={"actions": cfg.actions.model_copy(update={"verify_timeout_seconds": 2})})
    bot = await bot_factory(config=cfg)
    root = await alert_for(bot, "shop", "ledger-api")
    url = bot.slack.mint_response_url(CHANNEL, user=ALICE)
    body = slash_command_body(
        text="rollout_restart prod ledger-api", user_id=ALICE, response_url=url, channel_id=CHANNEL
    )
    await bot.slack_request(body)
    preview = await told(bot, ALICE, "Preview")
    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))
    message = await eventually(
        lambda: next((m for m in bot.slack.channel_messages(CHANNEL) if "Not recovered" in json.dumps(m.blocks)), None)
    )
    assert "Bump memory" in json.dumps(message.blocks)
    assert root.ts
    assert "not_recovered" in [a[0] for a in await audit_actions(bot, "ledger-api")]


async def test_history_command_shows_the_audit_log(bot_factory: BotFactory, kubeconfig: Path) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, "shop", "web-app")
    await click(bot, CAROL, "runbook.rollout_undo", button(root, "runbook.rollout_undo")["value"], root.ts)
    await told(bot, CAROL, "responders only")
    url = bot.slack.mint_response_url(CHANNEL, user=CAROL)
    await bot.slack_request(
        slash_command_body(text="history prod web-app", user_id=CAROL, response_url=url, channel_id=CHANNEL)
    )
    history = await told(bot, CAROL, "audit entries")
    assert "*denied* (refused) rollout_undo" in history.text


async def test_audit_verify_catches_an_edit_behind_the_bots_back(bot_factory: BotFactory, kubeconfig: Path) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, "shop", "web-app")
    await click(bot, CAROL, "runbook.rollout_undo", button(root, "runbook.rollout_undo")["value"], root.ts)
    await told(bot, CAROL, "responders only")
    audit: AuditLog = bot.services.audit
    assert (await audit.verify()).ok
    async with bot.services.store.engine.begin() as conn:
        await conn.execute(text("UPDATE audit_log SET outcome = 'ok' WHERE seq = 1"))
    result = await audit.verify()
    assert not result.ok
    assert result.broken_seq == 1


async def test_read_only_switched_on_stops_a_change_awaiting_approval(
    bot_factory: BotFactory, kubeconfig: Path
) -> None:
    bot = await bot_factory(config=config(kubeconfig, approval=True))
    root = await alert_for(bot, "shop", "web-app")
    await click(bot, ALICE, "runbook.rollout_undo", button(root, "runbook.rollout_undo")["value"], root.ts)
    preview = await told(bot, ALICE, "Preview")
    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))
    request = await eventually(
        lambda: next((m for m in bot.slack.thread(CHANNEL, root.ts) if "Approve" in json.dumps(m.blocks)), None)
    )
    bot.services.guard.config = config(kubeconfig, approval=True, read_only=True)  # the kill switch
    await click(bot, BOB, "change.approve", change_id(request, "change.approve"))
    assert "read-only mode" in (await told(bot, BOB, "read-only")).text
    assert real_patches(bot.sim) == []


async def test_an_abandoned_preview_does_not_hold_the_workload(bot_factory: BotFactory, kubeconfig: Path) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    root = await alert_for(bot, "shop", "web-app")
    await click(bot, ALICE, "runbook.rollout_undo", button(root, "runbook.rollout_undo")["value"], root.ts)
    await told(bot, ALICE, "Preview")
    async with bot.services.store.engine.begin() as conn:
        await conn.execute(text("UPDATE changes SET expires_at = '2020-01-01 00:00:00'"))
    url = bot.slack.mint_response_url(CHANNEL, user=BOB)
    await bot.slack_request(
        slash_command_body(text="rollout_restart prod web-app", user_id=BOB, response_url=url, channel_id=CHANNEL)
    )
    assert "Preview" in (await told(bot, BOB, "Preview")).text


async def test_a_bad_port_is_refused_without_leaving_anything_half_done(
    bot_factory: BotFactory, kubeconfig: Path
) -> None:
    bot = await bot_factory(config=config(kubeconfig))
    await alert_for(bot, "payments", "orders")
    url = bot.slack.mint_response_url(CHANNEL, user=ALICE)
    await bot.slack_request(
        slash_command_body(
            text="netcheck prod orders host=orders-db port=abc", user_id=ALICE, response_url=url, channel_id=CHANNEL
        )
    )
    assert "not a number from 1 to 65535" in (await told(bot, ALICE, "65535")).text
    assert [a[:2] for a in await audit_actions(bot, "orders")] == [("denied", "refused")]  # refused, not requested
