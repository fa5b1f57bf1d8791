"""A resolved incident's root message tells what happened: the diagnosis, the change applied through the bot
(what, by whom, approved by whom, verified), the owner and how long it took; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import Access, Config, Environment
from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.devtools.slackstub.signing import block_actions_body, view_submission_body
from bot.store import Store
from tests.service.conftest import CHANNEL, CLUSTER, Bot, BotFactory, am_alert, am_payload, blocks_text, eventually

ALICE, BOB = "U0ONCALL1", "U0ONCALL2"


@pytest.fixture
def sim() -> Iterator[SimCluster]:  # the test changes a workload: a cluster of its own
    with SimCluster(load_scenarios(), token="sim-token").running() as cluster:
        yield cluster


@pytest.fixture
def kubeconfig(sim: SimCluster, tmp_path: Path) -> Path:
    return Path(sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim"))


def config(kubeconfig: Path, *, approval: bool = True) -> Config:
    prod = Environment(
        context="sim",
        kubeconfig=str(kubeconfig),
        namespaces=["shop"],
        channel=CHANNEL,
        cluster_label=CLUSTER,
        require_approval=approval,
    )
    return Config.model_validate(
        {
            "environments": {"prod": prod.model_dump()},
            "access": Access(responders=[ALICE, "S0SRE0001"]).model_dump(),
            "actions": {"verify_timeout_seconds": 8, "verify_stable_seconds": 0.5, "verify_interval_seconds": 0.2},
        }
    )


async def click(bot: Bot, user: str, action_id: str, value: str, ts: str | None = None) -> None:
    url = bot.slack.mint_response_url(CHANNEL, user=user, message_ts=ts)
    body = block_actions_body(
        action_id, value, user_id=user, channel_id=CHANNEL, message_ts=ts, response_url=url, trigger_id="1.2.3"
    )
    assert (await bot.slack_request(body)).status == 200


def element(message: Any, action_id: str) -> dict[str, Any]:
    found = [e for b in message.blocks or [] for e in b.get("elements", []) if e.get("action_id") == action_id]
    assert found, f"no {action_id} in {json.dumps(message.blocks)[:400]}"
    return found[0]


async def test_resolved_root_says_what_was_done_by_whom_and_how_long_it_took(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str
) -> None:
    bot = await bot_factory(db_url, config=config(kubeconfig))
    pod = sorted(p["metadata"]["name"] for p in bot.sim.list_objects("v1", "pods", "shop"))
    pod_name = next(p for p in pod if p.startswith("ledger-api-"))
    await bot.alerts(am_payload(am_alert("shop", pod_name)))
    root = await eventually(lambda: next(iter(bot.roots()), None))
    [incident] = await bot.services.store.list_incidents()
    await click(bot, ALICE, "incident.ack", str(incident.id), root.ts)

    # alice asks for more memory, bob approves, the bot verifies the recovery
    await click(bot, ALICE, "runbook.bump_memory", element(root, "runbook.bump_memory")["value"], root.ts)
    view = await eventually(lambda: next(iter(bot.slack.views.values()), None))
    state = {"to": {"to": {"type": "plain_text_input", "value": "384Mi"}}}
    assert (
        await bot.slack_request(view_submission_body("remedy.form", view.private_metadata, state, ALICE))
    ).status == 200
    preview = await eventually(
        lambda: next(
            (e for e in bot.slack.ephemerals(CHANNEL, ALICE) if "change.confirm" in json.dumps(e.blocks)), None
        )
    )
    await click(bot, ALICE, "change.confirm", element(preview, "change.confirm")["value"])
    request = await eventually(
        lambda: next((m for m in bot.slack.thread(CHANNEL, root.ts) if "change.approve" in json.dumps(m.blocks)), None)
    )
    assert "Expires <!date^" in json.dumps(request.blocks)  # thread times in each reader's time zone
    await click(bot, BOB, "change.approve", element(request, "change.approve")["value"])
    await eventually(lambda: any("Recovered" in json.dumps(m.blocks) for m in bot.slack.thread(CHANNEL, root.ts)))

    await bot.alerts(am_payload(am_alert("shop", pod_name, status="resolved"), status="resolved"))
    resolved = await eventually(
        lambda: (m := bot.slack.message(CHANNEL, root.ts)) and "Resolved after" in blocks_text(m.blocks) and m
    )
    done = await bot.services.store.get_incident(incident.id)
    assert done is not None
    assert done.resolved_at is not None
    assert done.owned_since is not None
    text = blocks_text(resolved.blocks)
    sections = [b["text"]["text"] for b in resolved.blocks if b["type"] == "section"]
    diagnosis = next(s for s in sections if s.startswith("*Diagnosis*"))
    assert "Runbook branch: *Resources*" in diagnosis
    assert "> `lastState.terminated: reason=OOMKilled exitCode=137`" in diagnosis
    [done_line] = [line for s in sections if s.startswith("*What was done*") for line in s.splitlines()[1:]]
    assert done_line.startswith("• *Bump memory* — app: memory limit 256Mi → 384Mi · ")
    assert f"by <@{ALICE}>, approved by <@{BOB}> · <!date^" in done_line
    assert done_line.endswith("✅ applied, verified: the workload recovered")
    assert f"👤 Owned by <@{ALICE}> since <!date^{int(done.owned_since.timestamp())}^" in text
    took = resolved.blocks[0]["text"]["text"].removeprefix("✅ Resolved after ").split(" · ")[0]
    assert f"resolved <!date^{int(done.resolved_at.timestamp())}^" in text
    assert f"took {took}" in text
    assert resolved.metadata["event_payload"]["status"] == "resolved"
    actions = [r.event.action for r in await bot.services.audit.list()]
    assert actions[0] == "acknowledged"
    assert (await bot.services.audit.verify()).ok


async def test_a_fix_made_with_crashloop_act_is_what_was_done(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`crashloop act` knows no incident (its change has no incident_id): the resolved message still says it."""
    from bot.cli.act import Request, act

    cfg = config(kubeconfig, approval=False)  # the terminal cannot reach a second responder
    bot = await bot_factory(db_url, config=cfg)
    pod_name = next(
        p["metadata"]["name"]
        for p in bot.sim.list_objects("v1", "pods", "shop")
        if p["metadata"]["name"].startswith("web-app-")
    )
    await bot.alerts(am_payload(am_alert("shop", pod_name)))
    root = await eventually(lambda: next(iter(bot.roots()), None))

    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", db_url)
    said = await act(cfg, Request("rollout_undo", "prod", "web-app", "shop", {}, None, True, True), user="ana")
    assert said.startswith("recovered: ")

    await bot.alerts(am_payload(am_alert("shop", pod_name, status="resolved"), status="resolved"))
    resolved = await eventually(
        lambda: (m := bot.slack.message(CHANNEL, root.ts)) and "Resolved after" in blocks_text(m.blocks) and m
    )
    sections = [b["text"]["text"] for b in resolved.blocks if b["type"] == "section"]
    [done_line] = [line for s in sections if s.startswith("*What was done*") for line in s.splitlines()[1:]]
    assert done_line.startswith("• *Roll back")
    assert " · by ana · <!date^" in done_line
    assert done_line.endswith("✅ applied, verified: the workload recovered")


async def test_what_was_done_is_the_incidents_changes_and_those_on_its_workload_while_it_was_open(
    store: Store,
) -> None:
    incident, _ = await store.open_incident("prod", "shop", "web-app", "Deployment")
    other, _ = await store.open_incident("prod", "shop", "ledger-api", "Deployment")

    async def change(workload: str, incident_id: int | None, *, at: datetime | None = None) -> str:
        made = await store.changes.create(
            ttl=timedelta(minutes=5),
            incident_id=incident_id,
            environment="prod",
            namespace="shop",
            workload=workload,
            kind="Deployment",
            remedy="rollout_restart",
            params={},
            requested_by="cli:ana",
        )
        await store.changes.move(made.id, ["previewed"], "cancelled")
        if at is not None:
            await store.changes.update(made.id, created_at=at)
        return made.id

    before = await change("web-app", None, at=incident.opened_at - timedelta(minutes=1))  # an earlier episode
    from_thread = await change("web-app", incident.id)
    from_terminal = await change("web-app", None)  # `crashloop act`: no incident known
    await change("ledger-api", None)  # another workload
    await change("ledger-api", other.id)  # another incident
    resolved = await store.update_incident(incident.id, status="resolved", resolved_at=datetime.now(UTC))
    after = await change("web-app", None, at=datetime.now(UTC) + timedelta(minutes=1))  # after it resolved

    done = [c.id for c in await store.changes.done_about(resolved)]

    assert done == [from_thread, from_terminal]
    assert before not in done
    assert after not in done
