"""A change left `applying` is settled within 30 s by re-reading the workload against the exact patch sent.

Two `Store`s on one database stand for two processes, as in tests/service/test_instances.py: the bot under test
(alive, beating) and a replica that took the confirm click, kept the patch it was sending in SQL (the real
`Executor.apply` and `seal_patch`) and died — before the PATCH left, or after it landed. Its heartbeat stops; the
bot, at its default heartbeat settings, must settle the change within 30 s of the last beat: applied and watched
when the patch is in the workload, failed (lock released) when not; audited and told in the thread either way.
A restart is the same story told by one process: its uncertain outcome is settled by the patch kept in SQL, not by
the generation (which another writer moved).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.guard.executor import Target
from bot.guard.held import seal_patch
from bot.guard.outcomes import Applied
from bot.guard.trail import Actor
from bot.remedies.patches import PatchPlan
from bot.store import Store
from bot.store.changes import ChangeRow
from tests.databases import create_pg_database, drop_pg_database
from tests.service.conftest import CHANNEL, SIGNING_SECRET, Bot, BotFactory, eventually
from tests.service.test_guarded_actions import ALICE, alert_for, audit_actions, button, change_id, click, config, told

OLD_IMAGE = "registry.example.com/shop/web-app:2.4.0"
UNDONE_IMAGE = "registry.example.com/shop/web-app:2.3.1"
SETTLED_WITHIN = 30.0


class _Killed(Exception):
    """The dying replica's last moment: its patch is kept in SQL, the PATCH never leaves."""


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


def image_of(sim: SimCluster) -> str:
    deployment = sim.get_object("apps/v1", "deployments", "shop", "web-app")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def thread_text(bot: Bot, root_ts: str) -> str:
    return json.dumps([m.blocks for m in bot.slack.thread(CHANNEL, root_ts)])


async def previewed(bot: Bot) -> tuple[Any, str]:
    """An alert for web-app, its rollout_undo previewed by Alice: the root message and the change id."""
    root = await alert_for(bot, "shop", "web-app")
    await click(bot, ALICE, "runbook.rollout_undo", button(root, "runbook.rollout_undo")["value"], root.ts)
    preview = await told(bot, ALICE, "Preview")
    return root, change_id(preview, "change.confirm")


async def dying_replica_applies(bot: Bot, cid: str, *, landed: bool) -> tuple[Store, float]:
    """Another replica confirms `cid`, keeps its patch in SQL and dies (after the PATCH landed, or before it left).

    Returns that replica's store and the monotonic time of its last heartbeat."""
    replica = Store(bot.db_url)
    replica.instances.hostname = "replica-that-dies"
    await replica.instances.register()
    last_beat = time.monotonic()
    change = await replica.changes.move(cid, ["previewed"], "applying")
    assert change is not None
    assert change.applied_by == replica.instances.id
    target = Target(change.environment, change.kind, change.namespace, change.workload)
    executor = bot.services.guard.executor
    live, _ = await executor.read(target)

    async def keep(patch: PatchPlan) -> None:
        sealed = seal_patch(SIGNING_SECRET, patch)  # the key every replica derives from the signing secret
        assert await replica.changes.move(cid, ["applying"], "applying", held_patch=sealed) is not None
        if not landed:
            raise _Killed

    with contextlib.suppress(_Killed):
        await executor.apply(
            target, change.remedy, change.params, str(live["metadata"]["resourceVersion"]), before_send=keep
        )
    return replica, last_beat


async def settled(bot: Bot, cid: str) -> ChangeRow | None:
    change = await bot.services.store.changes.get(cid)
    return change if change is not None and change.state != "applying" else None


async def test_a_dead_replicas_change_that_landed_is_recorded_applied_and_verified(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str | None
) -> None:
    bot = await bot_factory(db_url=db_url, config=config(kubeconfig))
    root, cid = await previewed(bot)
    replica, last_beat = await dying_replica_applies(bot, cid, landed=True)
    try:
        assert image_of(bot.sim) == UNDONE_IMAGE  # the PATCH landed; the replica died before recording it
        change = await eventually(lambda: settled(bot, cid), within=SETTLED_WITHIN + 5)
        assert time.monotonic() - last_beat <= SETTLED_WITHIN
        assert change.state in ("verifying", "verified")
        assert "stopped while applying it" in (change.detail or "")
        assert "the change is in place" in (change.detail or "")
        await eventually(lambda: "Recovered" in thread_text(bot, root.ts), within=30)
        assert "applied *Roll back" in thread_text(bot, root.ts)
        actions = [a[:2] for a in await audit_actions(bot, "web-app")]
        assert actions.count(("applied", "ok")) == 1
        assert actions.count(("verified", "ok")) == 1
        assert ("failed", "error") not in actions
        assert (await bot.services.audit.verify()).ok
    finally:
        await replica.close()


async def test_a_dead_replicas_change_that_never_left_fails_and_frees_the_workload(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str | None
) -> None:
    bot = await bot_factory(db_url=db_url, config=config(kubeconfig))
    root, cid = await previewed(bot)
    replica, last_beat = await dying_replica_applies(bot, cid, landed=False)
    try:
        held = await bot.services.store.changes.get(cid)
        assert held is not None
        assert held.state == "applying"
        assert held.held_patch
        assert image_of(bot.sim) == OLD_IMAGE
        await asyncio.sleep(3)
        assert (await bot.services.store.changes.get(cid)).state == "applying"  # type: ignore[union-attr]
        change = await eventually(lambda: settled(bot, cid), within=SETTLED_WITHIN + 5)
        assert time.monotonic() - last_beat <= SETTLED_WITHIN
        assert change.state == "failed"
        assert change.held_patch is None
        assert "the change is not in place; nothing applied" in (change.detail or "")
        assert await bot.services.store.changes.active_for("prod", "shop", "web-app") is None  # lock released
        await eventually(lambda: "not in place" in thread_text(bot, root.ts))
        actions = [a[:2] for a in await audit_actions(bot, "web-app")]
        assert ("failed", "error") in actions
        assert ("applied", "ok") not in actions
        assert image_of(bot.sim) == OLD_IMAGE
    finally:
        await replica.close()


def bump_generation(kubeconfig: Path) -> None:
    """Another writer changes web-app's pod template (an annotation): its generation moves, its image does not."""
    api = k8s.AppsV1Api(k8s_config.new_client_from_config(config_file=str(kubeconfig), context="sim"))
    body = {"spec": {"template": {"metadata": {"annotations": {"example.com/touched-by": "someone-else"}}}}}
    api.patch_namespaced_deployment("web-app", "shop", body)


async def test_after_a_restart_the_patch_kept_in_sql_settles_an_unknown_outcome(
    bot_factory: BotFactory, kubeconfig: Path, sim: SimCluster, db_url: str | None
) -> None:
    first = await bot_factory(db_url=db_url, config=config(kubeconfig))
    first.services.guard.verifier.reread_delays = (0.1, 0.1)
    root, cid = await previewed(first)
    sim.add_fault(verb="patch", resource="deployments", name="web-app", status=504, delay=2.0, dry_run=False, times=1)
    await click(first, ALICE, "change.confirm", cid)

    async def in_flight() -> bool:
        change = await first.services.store.changes.get(cid)
        return change is not None and change.held_patch is not None

    await eventually(in_flight)  # the patch is kept; its PATCH is on the wire and will not land
    sim.add_fault(verb="get", resource="deployments", name="web-app", status=503)  # and the re-reads fail
    await eventually(lambda: "outcome unknown" in thread_text(first, root.ts), within=20)
    generation = sim.get_object("apps/v1", "deployments", "shop", "web-app")["metadata"]["generation"]
    await first.client.close()  # the process stops; the change stays `applying`, its patch in SQL
    sim.clear_faults()
    bump_generation(kubeconfig)  # the old rule (generation moved → applied) would get this wrong
    assert sim.get_object("apps/v1", "deployments", "shop", "web-app")["metadata"]["generation"] > generation

    second = await bot_factory(db_url=first.db_url if db_url else None, config=config(kubeconfig))
    change = await eventually(lambda: settled(second, cid), within=SETTLED_WITHIN)
    assert change.state == "failed"
    assert "the change is not in place; nothing applied" in (change.detail or "")
    await eventually(lambda: "not in place" in thread_text(second, root.ts))
    actions = [a[:2] for a in await audit_actions(second, "web-app")]
    assert actions.index(("outcome_unknown", "error")) < actions.index(("failed", "error"))
    assert ("applied", "ok") not in actions
    assert image_of(sim) == OLD_IMAGE
    assert (await second.services.audit.verify()).ok


async def test_a_shutdown_while_the_patch_is_on_the_wire_leaves_the_change_to_the_settling_reread(
    bot_factory: BotFactory, kubeconfig: Path, sim: SimCluster, db_url: str | None
) -> None:
    """At shutdown the event loop cancels an apply in progress: one whose patch was sent is not recorded failed
    ("interrupted") but left to the settling re-read, which finds it landed."""
    first = await bot_factory(db_url=db_url, config=config(kubeconfig))
    root, cid = await previewed(first)
    sim.add_fault(verb="patch", resource="deployments", name="web-app", delay=8.0, land=True, dry_run=False, times=1)
    change = await first.services.store.changes.move(cid, ["previewed"], "applying")  # as `confirm` does
    assert change is not None
    applying = asyncio.ensure_future(first.services.guard.applier.apply(Actor(ALICE, "alice"), change))

    async def landed_unanswered() -> bool:
        now = await first.services.store.changes.get(cid)
        return now is not None and now.held_patch is not None and image_of(sim) == UNDONE_IMAGE

    await eventually(landed_unanswered)
    applying.cancel()  # what the loop does to tasks still running when the process stops
    with contextlib.suppress(asyncio.CancelledError):
        await applying
    left = await first.services.store.changes.get(cid)
    assert left is not None
    assert left.state == "applying"
    assert left.held_patch is not None
    assert ("failed", "error") not in [a[:2] for a in await audit_actions(first, "web-app")]
    await first.client.close()

    second = await bot_factory(db_url=first.db_url if db_url else None, config=config(kubeconfig))
    settled_change = await eventually(lambda: settled(second, cid), within=SETTLED_WITHIN)
    assert settled_change.state in ("verifying", "verified")
    await eventually(lambda: "applied *Roll back" in thread_text(second, root.ts))
    actions = [a[:2] for a in await audit_actions(second, "web-app")]
    assert actions.count(("applied", "ok")) == 1
    assert ("failed", "error") not in actions


async def test_an_applier_taken_for_dead_does_not_record_its_change_twice(
    bot_factory: BotFactory, kubeconfig: Path, sim: SimCluster, db_url: str | None
) -> None:
    """A replica settles a change whose applier it takes for dead while the applier, alive after all, still waits
    for the PATCH's answer: when the answer comes, the change is not recorded (nor told) applied a second time."""
    first = await bot_factory(db_url=db_url, config=config(kubeconfig))
    root, cid = await previewed(first)
    sim.add_fault(verb="patch", resource="deployments", name="web-app", delay=6.0, land=True, dry_run=False, times=1)
    change = await first.services.store.changes.move(cid, ["previewed"], "applying")
    assert change is not None
    applying = asyncio.ensure_future(first.services.guard.applier.apply(Actor(ALICE, "alice"), change))

    async def landed_unanswered() -> bool:
        now = await first.services.store.changes.get(cid)
        return now is not None and now.held_patch is not None and image_of(sim) == UNDONE_IMAGE

    await eventually(landed_unanswered)
    second = await bot_factory(db_url=first.db_url if db_url else None, config=config(kubeconfig))
    second.services.store.instances.dead_after = timedelta(milliseconds=1)  # any heartbeat is too old for it
    settled_change = await eventually(lambda: settled(second, cid), within=SETTLED_WITHIN)
    assert settled_change.state in ("verifying", "verified")
    outcome = await asyncio.wait_for(applying, 30)
    assert isinstance(outcome, Applied)
    actions = [a[:2] for a in await audit_actions(first, "web-app")]
    assert actions.count(("applied", "ok")) == 1
    await eventually(lambda: "applied *Roll back" in thread_text(first, root.ts))
    assert thread_text(first, root.ts).count("applied *Roll back") == 1
