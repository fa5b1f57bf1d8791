"""No remedy loops: the same remedy again on the same workload, soon after it was applied, is not one click away.

Driven through signed Slack requests into the app, the simulated cluster (a ledger-api that leaks: more memory
never holds) and real SQL on SQLite and PostgreSQL: a bump is applied, the pods are OOMKilled again, and the
second bump says what was done before and what it shows now, needs a second responder's approval in an
environment that does not require approvals, refuses self-approval, points to the next branch, and is counted in
the weekly report. Outside `guard.remedy_repeat_days`, or with it set to 0, nothing of this happens.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import Access, Config, Environment
from bot.devtools.simcluster import SimCluster
from bot.devtools.slackstub.signing import view_submission_body
from bot.reports import render
from bot.reports.service import build_report
from bot.store.audit import AuditEvent
from tests.leaks import leaking_ledger_api
from tests.service.conftest import CHANNEL, CLUSTER, Bot, BotFactory, blocks_text, eventually
from tests.service.test_guarded_actions import (
    ALICE,
    BOB,
    alert_for,
    button,
    change_id,
    click,
    real_patches,
    told,
)

LOOP = "Remedy loop"


@pytest.fixture
def sim() -> Iterator[SimCluster]:
    with SimCluster(leaking_ledger_api(), token="sim-token").running() as cluster:
        yield cluster


@pytest.fixture
def kubeconfig(sim: SimCluster, tmp_path: Path) -> Path:
    return Path(sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim"))


def config(kubeconfig: Path, *, repeat_days: int | None = None) -> Config:
    """`guard.remedy_repeat_days` only when given (the default is 7 days)."""
    prod = Environment(
        context="sim",
        kubeconfig=str(kubeconfig),
        namespaces=["shop"],
        channel=CHANNEL,
        cluster_label=CLUSTER,
        require_approval=False,  # the environment itself never asks for a second responder
    )
    return Config.model_validate(
        {
            "environments": {"prod": prod.model_dump()},
            "access": Access(responders=[ALICE, "S0SRE0001"]).model_dump(),
            "actions": {"verify_timeout_seconds": 3, "verify_stable_seconds": 0.5, "verify_interval_seconds": 0.2},
            **({"guard": {"remedy_repeat_days": repeat_days}} if repeat_days is not None else {}),
        }
    )


async def submit_new_form(bot: Bot, user: str, opened_before: int, fields: dict[str, str]) -> None:
    """Submit the form opened by the latest click (the views opened before it are `opened_before`)."""
    view = await eventually(lambda: list(bot.slack.views.values())[opened_before:])
    state = {k: {k: {"type": "plain_text_input", "value": v}} for k, v in fields.items()}
    body = view_submission_body("remedy.form", view[-1].private_metadata, state, user)
    assert (await bot.slack_request(body)).status == 200


async def preview_of(bot: Bot, user: str, root: Any, to: str) -> Any:
    """Click the root message's bump_memory button as `user`, submit `to`: the preview `user` is shown."""
    opened = len(bot.slack.views)
    before = len(bot.slack.ephemerals(CHANNEL, user))
    await click(bot, user, "runbook.bump_memory", button(root, "runbook.bump_memory")["value"], root.ts)
    await submit_new_form(bot, user, opened, {"to": to})
    return await eventually(
        lambda: next((e for e in bot.slack.ephemerals(CHANNEL, user)[before:] if "Preview" in e.text), None)
    )


def loops(st: Any) -> tuple[int, int, int]:
    """(stopped for approval, prevented, approved anyway) of a report or one of its workloads."""
    return (st.loops.guarded, st.loops.prevented, st.loops.approved)


def thread_texts(bot: Bot, root: Any) -> list[str]:
    return [m.text + blocks_text(m.blocks or []) for m in bot.slack.thread(CHANNEL, root.ts)]


def current_root(bot: Bot) -> Any:
    return next(m for m in bot.roots() if m.metadata["event_payload"]["workload"] == "ledger-api")


def memory_limit(sim: SimCluster) -> str:
    deployment = sim.get_object("apps/v1", "deployments", "shop", "ledger-api")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"])


async def bump_and_watch_it_fail(bot: Bot, root: Any) -> str:
    """alice bumps memory 256Mi → 384Mi; it is applied and the pods are OOMKilled again. The change's id."""
    preview = await preview_of(bot, ALICE, root, "384Mi")
    assert LOOP not in blocks_text(preview.blocks)
    assert "Confirm to apply it now" in blocks_text(preview.blocks)
    first = change_id(preview, "change.confirm")
    await click(bot, ALICE, "change.confirm", first)
    await eventually(lambda: any("Not recovered" in t for t in thread_texts(bot, root)), within=30)
    assert memory_limit(bot.sim) == "384Mi"
    return first


async def test_a_repeated_bump_needs_a_second_responder_and_says_why(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str
) -> None:
    bot = await bot_factory(db_url, config=config(kubeconfig))
    root = await alert_for(bot, "shop", "ledger-api")
    first = await bump_and_watch_it_fail(bot, root)

    # the re-triage after the failed recovery offers the bump again, with the loop warning, not as the primary
    root = await eventually(lambda: (r := current_root(bot)) and LOOP in blocks_text(r.blocks) and r)
    bump = button(root, "runbook.bump_memory")
    assert bump["text"]["text"].endswith("again (needs approval)")
    assert "style" not in bump
    shown = blocks_text(root.blocks)
    assert "it is OOMKilled again at 384Mi" in shown
    assert "*Next branch* — App &amp; env: more memory did not hold, so suspect a leak" in shown

    # bob asks for the same remedy: the preview says what was done, by whom, when, and what it shows now
    preview = await preview_of(bot, BOB, root, "576Mi")
    text = blocks_text(preview.blocks)
    assert f":repeat: *{LOOP}* — Bump memory was applied to shop/ledger-api by <@{ALICE}> (<!date^" in text
    assert "{date_short_pretty} {time}|" in text
    assert "app: memory limit 256Mi → 384Mi; it is OOMKilled again at 384Mi." in text
    assert "needs a second responder's approval, even where the environment does not require one" in text
    assert "*Next branch* — App &amp; env: more memory did not hold, so suspect a leak" in text
    assert "After you confirm, a second responder must approve." in text

    await click(bot, BOB, "change.confirm", change_id(preview, "change.confirm"))
    request = await eventually(
        lambda: next((m for m in bot.slack.thread(CHANNEL, root.ts) if "Approve" in blocks_text(m.blocks or [])), None)
    )
    assert "OOMKilled again at 384Mi" in blocks_text(request.blocks)  # the approver reads the same warning
    assert request.text.startswith("Remedy loop: approval needed")
    assert len(real_patches(bot.sim)) == 1
    assert memory_limit(bot.sim) == "384Mi"

    approve = change_id(request, "change.approve")
    await click(bot, BOB, "change.approve", approve)
    assert "self-approval is not allowed" in (await told(bot, BOB, "self-approval")).text
    assert len(real_patches(bot.sim)) == 1

    await click(bot, ALICE, "change.approve", approve)
    await eventually(lambda: memory_limit(bot.sim) == "576Mi")
    assert len(real_patches(bot.sim)) == 2

    records = await bot.services.audit.list(workload="ledger-api")
    requested = [r.event for r in records if r.event.action == "requested"]
    assert [e.actor_id for e in requested] == [ALICE, BOB]
    assert requested[0].detail is None
    assert (requested[1].detail or "").startswith(f"remedy loop: repeat of change {first}. Bump memory was applied")
    assert "by alice" in (requested[1].detail or "")
    [approved] = [r.event for r in records if r.event.action == "approved"]
    assert (approved.actor_id, approved.detail) == (ALICE, f"remedy loop: approved anyway, a repeat of change {first}")
    assert (await bot.services.audit.verify()).ok

    report = await build_report(bot.services.report_context(), "prod", 7)
    [ledger] = [st for st in report.listed if st.workload == "ledger-api"]
    assert loops(ledger) == (1, 0, 1)
    assert loops(report) == (1, 0, 1)
    blocks = blocks_text(render.report_blocks(report))
    assert "Remedy loops: 1 stopped for approval: 0 prevented, 1 approved anyway" in blocks
    assert "Remedy loops (the same remedy again soon after it was applied): 1 stopped for approval" in blocks
    assert "loops 1 stopped for approval: 0 prevented, 1 approved anyway" in render.report_text(report)


async def test_a_rejected_loop_is_counted_as_prevented(bot_factory: BotFactory, kubeconfig: Path, db_url: str) -> None:
    bot = await bot_factory(db_url, config=config(kubeconfig))
    root = await alert_for(bot, "shop", "ledger-api")
    await bump_and_watch_it_fail(bot, root)
    root = await eventually(lambda: (r := current_root(bot)) and LOOP in blocks_text(r.blocks) and r)
    preview = await preview_of(bot, ALICE, root, "576Mi")
    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))
    request = await eventually(
        lambda: next((m for m in bot.slack.thread(CHANNEL, root.ts) if "Reject" in blocks_text(m.blocks or [])), None)
    )
    await click(bot, BOB, "change.reject", change_id(request, "change.reject"))
    await eventually(lambda: any("rejected" in t for t in thread_texts(bot, root)))
    assert memory_limit(bot.sim) == "384Mi"

    report = await build_report(bot.services.report_context(), "prod", 7)
    assert loops(report) == (1, 1, 0)
    assert "1 stopped for approval: 1 prevented, 0 approved anyway" in render.report_text(report)


async def test_no_warning_when_the_guard_is_off(bot_factory: BotFactory, kubeconfig: Path, db_url: str) -> None:
    bot = await bot_factory(db_url, config=config(kubeconfig, repeat_days=0))
    root = await alert_for(bot, "shop", "ledger-api")
    await bump_and_watch_it_fail(bot, root)
    root = await eventually(lambda: (r := current_root(bot)) and "576Mi" in blocks_text(r.blocks) and r)
    assert LOOP not in blocks_text(root.blocks)
    preview = await preview_of(bot, BOB, root, "576Mi")
    assert LOOP not in blocks_text(preview.blocks)
    await click(bot, BOB, "change.confirm", change_id(preview, "change.confirm"))
    await eventually(lambda: memory_limit(bot.sim) == "576Mi")  # applied at once: no approval asked
    assert [r.event.action for r in await bot.services.audit.list(workload="ledger-api")].count("approved") == 0
    assert loops(await build_report(bot.services.report_context(), "prod", 7)) == (0, 0, 0)


@pytest.mark.parametrize(("days_ago", "warned"), [(6, True), (8, False)])
async def test_only_a_remedy_applied_within_the_window_is_a_loop(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, days_ago: int, warned: bool
) -> None:
    bot = await bot_factory(db_url, config=config(kubeconfig))
    await bump_applied(bot, days_ago)  # someone bumped ledger-api's memory `days_ago` days ago
    root = await alert_for(bot, "shop", "ledger-api")
    assert (LOOP in blocks_text(root.blocks)) is warned
    preview = await preview_of(bot, BOB, root, "384Mi")
    assert (LOOP in blocks_text(preview.blocks)) is warned
    assert ("After you confirm, a second responder must approve." in blocks_text(preview.blocks)) is warned


async def bump_applied(bot: Bot, days_ago: int) -> None:
    """A bump_memory change on ledger-api that was applied (and verified) `days_ago` days ago, as the store keeps it."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    changes = bot.services.store.changes
    change = await changes.create(
        ttl=timedelta(minutes=15),
        environment="prod",
        namespace="shop",
        workload="ledger-api",
        kind="Deployment",
        remedy="bump_memory",
        params={"container": "app", "to": "256Mi"},
        requested_by=ALICE,
        requested_by_name="alice",
        summary="app: memory limit 192Mi → 256Mi",
    )
    await changes.move(change.id, ["previewed"], "verified", detail="pods Ready, restarts stopped")
    await changes.update(change.id, created_at=at, updated_at=at)
    event = AuditEvent(
        "applied", "ok", ALICE, "alice", "prod", "shop", "ledger-api", "bump_memory", change_id=change.id
    )
    await bot.services.audit.append(event, at=at)


async def test_a_conflict_on_an_approved_repeat_still_says_an_approval_is_needed(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str
) -> None:
    """A 409 while applying an approved repeat sends the requester a fresh preview: confirming it goes back for
    approval (the loop rule holds), and the preview must say so rather than "Confirm to apply it now"."""
    bot = await bot_factory(db_url, config=config(kubeconfig))
    root = await alert_for(bot, "shop", "ledger-api")
    await bump_and_watch_it_fail(bot, root)
    root = await eventually(lambda: (r := current_root(bot)) and LOOP in blocks_text(r.blocks) and r)

    preview = await preview_of(bot, BOB, root, "576Mi")
    await click(bot, BOB, "change.confirm", change_id(preview, "change.confirm"))
    request = await eventually(
        lambda: next((m for m in bot.slack.thread(CHANNEL, root.ts) if "Approve" in blocks_text(m.blocks or [])), None)
    )
    bot.sim.add_fault(verb="patch", resource="deployments", namespace="shop", status=409, times=1)
    await click(bot, ALICE, "change.approve", change_id(request, "change.approve"))
    again = await told(bot, BOB, "409 Conflict")
    shown = blocks_text(again.blocks)
    assert "After you confirm, a second responder must approve." in shown
    assert "Confirm to apply it now" not in shown
    assert memory_limit(bot.sim) == "384Mi"  # nothing applied by the conflict
