"""Claims belong to the instance that holds them: a dead instance's work is taken over in seconds, not minutes.

Two `Store`s on one database stand for two processes (the second one on "another host" where the test needs the
heartbeat path; on the same host with the same pid it is a restarted container, whose predecessor is dead at once).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.store import Store
from handlers.alert_payloads import read
from tests.conftest import migrated
from tests.service.conftest import am_alert, am_payload

LEASE = timedelta(seconds=120)


def _alerts(n: int) -> list:  # type: ignore[type-arg]
    return read(am_payload(*(am_alert("shop", f"web-{i}") for i in range(n))), "alertmanager").alerts


async def _two(db_url: str) -> tuple[Store, Store]:
    first = await migrated(db_url)
    second = Store(db_url)
    for store in (first, second):
        store.instances.dead_after = timedelta(seconds=1)
    return first, second


async def test_a_live_instance_keeps_its_claims_and_a_dead_ones_are_taken_over(db_url: str) -> None:
    a, b = await _two(db_url)
    b.instances.hostname = "another-host"
    try:
        await a.instances.register()
        await b.instances.register()
        await a.add_alerts(_alerts(3))
        assert len(await a.claim_alerts(10, LEASE)) == 3
        await asyncio.sleep(0.6)
        await a.instances.beat()
        await asyncio.sleep(0.6)
        assert await b.instances.beat() == []  # a beats: nothing to take over
        assert await b.claim_alerts(10, LEASE) == []
        await asyncio.sleep(1.2)  # a stopped beating (it "died")
        assert await b.instances.beat() == [a.instances.id]
        assert len(await b.claim_alerts(10, LEASE)) == 3
        assert not await b.instances.is_alive(a.instances.id)
    finally:
        await a.close()
        await b.close()


async def test_a_restarted_process_takes_its_predecessors_claims_at_once(db_url: str) -> None:
    old, new = await _two(db_url)
    try:
        await old.instances.register()
        await old.add_alerts(_alerts(2))
        assert len(await old.claim_alerts(10, LEASE)) == 2
        # same host, same pid (a restarted container's pid 1): the old instance cannot be alive
        assert await new.instances.register() == [old.instances.id]
        assert len(await new.claim_alerts(10, LEASE)) == 2
    finally:
        await old.close()
        await new.close()


async def test_a_graceful_stop_frees_what_the_instance_holds(db_url: str) -> None:
    a, b = await _two(db_url)
    b.instances.hostname = "another-host"
    try:
        await a.instances.register()
        await a.add_alerts(_alerts(2))
        await a.claim_alerts(10, LEASE)
        await a.instances.unregister()
        assert len(await b.claim_alerts(10, LEASE)) == 2
    finally:
        await a.close()
        await b.close()


async def test_changes_left_applying_by_a_dead_instance_are_listed(db_url: str) -> None:
    a, b = await _two(db_url)
    b.instances.hostname = "another-host"
    try:
        await a.instances.register()
        await b.instances.register()
        change = await a.changes.create(
            ttl=timedelta(minutes=5),
            environment="prod",
            namespace="shop",
            workload="web",
            kind="Deployment",
            remedy="restart",
            params={},
            requested_by="U0ONCALL1",
        )
        moved = await a.changes.move(change.id, ["previewed"], "applying")
        assert moved is not None
        assert moved.applied_by == a.instances.id
        await a.instances.beat()  # a beat just now (creating the change may take longer than dead_after under load)
        assert await b.abandoned_changes() == []  # a is alive
        await asyncio.sleep(1.2)
        assert [c.id for c in await b.abandoned_changes()] == [change.id]
    finally:
        await a.close()
        await b.close()


async def test_a_terminal_run_beats_while_it_applies_and_its_change_is_free_to_settle_after(db_url: str) -> None:
    """`crashloop act` has no incident queue: `Instances.alive` registers and beats for it, so a running bot does
    not take the change it is applying for abandoned — and takes it over once the run is gone."""
    cli, bot = await _two(db_url)
    bot.instances.hostname = "another-host"
    try:
        await bot.instances.register()
        async with cli.instances.alive(every=0.2):
            change = await cli.changes.create(
                ttl=timedelta(minutes=5),
                environment="prod",
                namespace="shop",
                workload="web",
                kind="Deployment",
                remedy="restart",
                params={},
                requested_by="cli:alice",
            )
            assert await cli.changes.move(change.id, ["previewed"], "applying") is not None
            await asyncio.sleep(1.5)  # longer than dead_after: only the run's own beats keep it alive
            assert await bot.abandoned_changes() == []
        assert [c.id for c in await bot.abandoned_changes()] == [change.id]  # unregistered at the end of the run
    finally:
        await cli.close()
        await bot.close()
