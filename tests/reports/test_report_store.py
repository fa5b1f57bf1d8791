"""The report's SQL on SQLite and PostgreSQL: samples, pruning, incidents of a period, claims of report runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.store import Store
from bot.store.migrate import current_revision, head_revision
from bot.store.report_rows import ReportStore
from tests.reports.conftest import ENV, sample

T0 = datetime(2026, 11, 9, tzinfo=UTC)
LEASE = timedelta(minutes=15)


async def test_migration_0006_is_the_head(store: Store) -> None:
    assert head_revision() == "0006"
    assert await current_revision(store.engine) == "0006"


async def test_samples_round_trip_and_filter(store: Store) -> None:
    reports = ReportStore(store.engine)
    rows = [
        sample("a", 1, T0, created=T0 - timedelta(days=1)),
        sample("a", 3, T0 + timedelta(hours=1)),
        sample("p", 5, T0 + timedelta(hours=2), namespace="payments", workload="orders", reason=None, limit=None),
    ]
    assert await reports.add_samples(rows) == 3
    assert await reports.add_samples([]) == 0
    got = await reports.samples(ENV, until=T0 + timedelta(hours=3))
    assert got == rows  # times come back aware, in UTC, on both backends
    assert await reports.samples(ENV, until=T0 + timedelta(hours=1)) == rows[:1]
    assert await reports.samples(ENV, until=T0 + timedelta(days=1), namespaces=["payments"]) == rows[2:]
    assert await reports.samples("staging", until=T0 + timedelta(days=1)) == []
    latest = {s.pod: s.restarts for s in await reports.latest_samples(ENV)}
    assert latest == {"a": 3, "p": 5}


async def test_pruning_keeps_each_series_baseline(store: Store) -> None:
    reports = ReportStore(store.engine)
    await reports.add_samples([sample("a", n, T0 + timedelta(days=d)) for d, n in [(0, 1), (1, 2), (5, 4)]])
    await reports.add_samples([sample("old", 7, T0)])
    assert await reports.prune_samples(T0 + timedelta(days=3)) == 1  # a@day0 goes; a@day1 and old@day0 stay
    left = sorted((s.pod, s.restarts) for s in await reports.samples(ENV, until=T0 + timedelta(days=9)))
    assert left == [("a", 2), ("a", 4), ("old", 7)]


async def test_incidents_of_a_period(store: Store) -> None:
    reports = ReportStore(store.engine)
    inside, _ = await store.open_incident(ENV, "shop", "ledger-api", "Deployment", now=T0 + timedelta(days=1))
    await store.update_incident(
        inside.id,
        status="resolved",
        resolved_at=T0 + timedelta(days=1, hours=2),
        branch="resources",
        reason="OOMKilled",
    )
    await store.open_incident(ENV, "shop", "search", "Deployment", now=T0 - timedelta(days=1))
    await store.open_incident("staging", "shop", "x", "Deployment", now=T0 + timedelta(days=1))
    [found] = await reports.incidents_between(ENV, T0, T0 + timedelta(days=7))
    assert (found.workload, found.branch, found.reason) == ("ledger-api", "resources", "OOMKilled")
    assert found.resolved_at is not None
    assert found.resolved_at - found.opened_at == timedelta(hours=2)


async def test_a_claim_is_exclusive_until_completed_or_its_lease_expires(store: Store) -> None:
    reports = ReportStore(store.engine)
    end = T0 + timedelta(days=7)
    now = T0 + timedelta(days=7, hours=9)
    assert await reports.claim(ENV, T0, LEASE, owner="a", period_end=end, now=now)
    assert not await reports.claim(ENV, T0, LEASE, owner="b", period_end=end, now=now + timedelta(minutes=1))
    assert await reports.claim("staging", T0, LEASE, owner="b", period_end=end, now=now)  # another environment
    # a crashed holder: its lease runs out, another replica takes the run over
    later = now + LEASE + timedelta(seconds=1)
    assert await reports.claim(ENV, T0, LEASE, owner="b", period_end=end, now=later)
    assert not await reports.complete(ENV, T0, owner="a")  # the old holder lost it
    assert await reports.progress(ENV, T0, owner="b", channel="C1", message_ts="1.2")
    assert await reports.complete(ENV, T0, owner="b")
    run = await reports.get_run(ENV, T0)
    assert run is not None
    assert (run.state, run.attempts, run.claimed_by, run.message_ts, run.period_end) == ("done", 2, "b", "1.2", end)
    # completed: never again, however late
    assert not await reports.claim(ENV, T0, LEASE, owner="c", now=later + timedelta(days=30))
    assert await reports.retryable_runs(max_attempts=3, now=later + timedelta(days=30)) == [
        r for r in [await reports.get_run("staging", T0)] if r is not None
    ]


async def test_a_failed_run_is_retried_up_to_max_attempts(store: Store) -> None:
    reports = ReportStore(store.engine)
    for attempt in range(1, 3):
        assert await reports.claim(ENV, T0, LEASE, owner=f"o{attempt}", max_attempts=2)
        assert await reports.fail(ENV, T0, owner=f"o{attempt}", error=f"boom {attempt}")
    run = await reports.get_run(ENV, T0)
    assert run is not None
    assert (run.state, run.attempts, run.error) == ("failed", 2, "boom 2")
    assert not await reports.claim(ENV, T0, LEASE, owner="o3", max_attempts=2)
    assert await reports.retryable_runs(max_attempts=2) == []
    assert [r.attempts for r in await reports.retryable_runs(max_attempts=3)] == [2]
