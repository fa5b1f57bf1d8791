"""A PATCH whose answer is lost (a 504 after it landed, an answer later than the client's timeout, a dropped
connection) is settled by re-reading the workload: applied once and verified, never patched twice; a re-read that
fails leaves the outcome unknown, audited and told, with the workload locked until a later re-read settles it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import Config
from bot.devtools.simcluster import SimCluster, load_scenarios
from tests.databases import create_pg_database, drop_pg_database
from tests.service.conftest import CHANNEL, Bot, BotFactory, eventually
from tests.service.test_guarded_actions import (
    ALICE,
    alert_for,
    audit_actions,
    button,
    change_id,
    click,
    config,
    real_patches,
    told,
)

LOST = [
    pytest.param({"status": 504}, id="504-after-landing"),
    pytest.param({"delay": 2.5}, id="answer-after-the-timeout"),
    pytest.param({"drop": True}, id="connection-dropped"),
]


@pytest.fixture
def sim() -> Iterator[SimCluster]:
    with SimCluster(load_scenarios(), token="sim-token").running() as cluster:
        yield cluster


@pytest.fixture
def kubeconfig(sim: SimCluster, tmp_path: Path) -> Path:
    return Path(sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim"))


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest) -> AsyncIterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    url = await create_pg_database()
    yield url
    await drop_pg_database(url)


def short_timeout(kubeconfig: Path) -> Config:
    """The guard's config with a 1 s API call timeout, so a 2.5 s late answer is lost."""
    cfg = config(kubeconfig)
    return cfg.model_copy(update={"triage": cfg.triage.model_copy(update={"call_timeout_seconds": 1.0})})


def image_of(bot: Bot) -> str:
    deployment = bot.sim.get_object("apps/v1", "deployments", "shop", "web-app")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def thread_text(bot: Bot, root_ts: str) -> str:
    return json.dumps([m.blocks for m in bot.slack.thread(CHANNEL, root_ts)])


async def confirm_undo(bot: Bot, root: Any) -> None:
    await click(bot, ALICE, "runbook.rollout_undo", button(root, "runbook.rollout_undo")["value"], root.ts)
    preview = await told(bot, ALICE, "Preview")
    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))


@pytest.mark.parametrize("lost", LOST)
async def test_a_patch_that_landed_is_recorded_applied_once_and_verified(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str | None, lost: dict[str, Any]
) -> None:
    bot = await bot_factory(db_url=db_url, config=short_timeout(kubeconfig))
    root = await alert_for(bot, "shop", "web-app")
    bot.sim.add_fault(verb="patch", resource="deployments", name="web-app", land=True, dry_run=False, times=1, **lost)
    await confirm_undo(bot, root)
    await eventually(lambda: "Recovered" in thread_text(bot, root.ts), within=30)
    actions = [a[:2] for a in await audit_actions(bot, "web-app")]
    assert actions.count(("applied", "ok")) == 1
    assert actions.count(("verified", "ok")) == 1
    assert ("failed", "error") not in actions
    records = await bot.services.audit.list(workload="web-app")
    applied = next(r.event for r in records if r.event.action == "applied")
    assert "the answer to the PATCH was lost" in (applied.detail or "")
    assert "the change is in place" in (applied.detail or "")
    await eventually(lambda: real_patches(bot.sim))  # a late answer is logged when it is sent
    assert len(real_patches(bot.sim)) == 1  # nothing patched twice
    assert image_of(bot) == "registry.example.com/shop/web-app:2.3.1"


async def test_a_lost_answer_for_a_patch_that_did_not_land_fails_with_the_reason(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str | None
) -> None:
    bot = await bot_factory(db_url=db_url, config=config(kubeconfig))
    bot.services.guard.verifier.reread_delays = (0.1, 0.1)
    root = await alert_for(bot, "shop", "web-app")
    bot.sim.add_fault(verb="patch", resource="deployments", name="web-app", status=504, dry_run=False, times=1)
    await confirm_undo(bot, root)
    await eventually(lambda: "failed" in thread_text(bot, root.ts))
    assert "the change is not in place; nothing applied" in thread_text(bot, root.ts)
    actions = [a[:2] for a in await audit_actions(bot, "web-app")]
    assert ("failed", "error") in actions
    assert ("applied", "ok") not in actions
    assert image_of(bot) == "registry.example.com/shop/web-app:2.4.0"


async def test_an_unknown_outcome_keeps_the_lock_until_a_later_reread_settles_it(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str | None
) -> None:
    bot = await bot_factory(db_url=db_url, config=short_timeout(kubeconfig))
    bot.services.guard.verifier.reread_delays = (0.1, 0.1)
    root = await alert_for(bot, "shop", "web-app")
    bot.sim.add_fault(verb="patch", resource="deployments", name="web-app", delay=2.5, land=True, dry_run=False)
    await confirm_undo(bot, root)
    await eventually(lambda: image_of(bot) == "registry.example.com/shop/web-app:2.3.1")  # landed, answer pending
    bot.sim.add_fault(verb="get", resource="deployments", name="web-app", status=503)  # and the re-reads fail
    await eventually(lambda: "outcome unknown" in thread_text(bot, root.ts))
    assert "stays locked" in thread_text(bot, root.ts)
    records = await bot.services.audit.list(workload="web-app")
    unknown = next(r.event.detail or "" for r in records if r.event.action == "outcome_unknown")
    assert "it is unknown whether the change was applied" in unknown
    actions = [a[:2] for a in await audit_actions(bot, "web-app")]
    assert ("outcome_unknown", "error") in actions
    assert ("applied", "error") not in actions
    assert ("applied", "ok") not in actions
    assert ("failed", "error") not in actions
    (change,) = await bot.services.store.changes.in_state("applying")  # the workload's change lock is held
    assert change.workload == "web-app"
    bot.sim.clear_faults()  # the API answers again: the resume loop's re-read settles it
    await eventually(lambda: "Recovered" in thread_text(bot, root.ts), within=30)
    actions = [a[:2] for a in await audit_actions(bot, "web-app")]
    assert actions.count(("applied", "ok")) == 1
    assert actions.count(("verified", "ok")) == 1
    assert actions.index(("outcome_unknown", "error")) < actions.index(("applied", "ok"))  # unknown, then settled
    await eventually(lambda: real_patches(bot.sim))
    assert len(real_patches(bot.sim)) == 1
