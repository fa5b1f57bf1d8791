"""Restarts from samples: positive deltas, counter resets, new pods, the period before, day buckets (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.reports.model import Window, midnight
from bot.reports.owndata import restarts_from_samples, spread, summarize_incidents
from bot.reports.sampler import changed, increments, samples_from_pods, workload_of
from bot.store.report_rows import IncidentSummary
from tests.reports.conftest import sample

T0 = datetime(2026, 11, 9, 0, 0, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


def test_deltas_add_up_and_a_drop_counts_the_new_value_from_zero() -> None:
    series = [sample("p", n, T0 + i * timedelta(hours=1)) for i, n in enumerate([5, 7, 7, 10, 2, 4])]
    # 5 is the baseline; +2, +0, +3; the drop to 2 is a reset: 2 restarts since; +2
    assert [inc.restarts for inc in increments(series, counted_since=T0)] == [2, 3, 2, 2]


def test_a_new_pod_under_the_same_name_counts_from_zero_even_when_its_count_is_higher() -> None:
    old = sample("web-0", 3, T0, created=T0 - DAY)
    new = sample("web-0", 5, T0 + timedelta(hours=1), created=T0 + timedelta(minutes=30))
    assert [inc.restarts for inc in increments([old, new], counted_since=T0)] == [5]


def test_first_sample_is_a_baseline_unless_the_pod_was_born_after_sampling_began() -> None:
    before = sample("a", 14, T0 + DAY, created=T0 - DAY)
    after = sample("b", 3, T0 + DAY, created=T0 + timedelta(hours=2))
    assert increments([before], counted_since=T0) == []
    assert [i.restarts for i in increments([after], counted_since=T0)] == [3]


def test_workload_restarts_this_period_the_one_before_and_per_day() -> None:
    window = Window(end=T0 + 14 * DAY, period=7 * DAY, buckets=7)
    counts = {0: 0, 3: 4, 8: 10, 9: 3, 10: 6, 13: 16}  # day → restartCount; day 9 is a reset (a new instance)
    samples = [sample("ledger-api-1", n, T0 + d * DAY + timedelta(hours=12)) for d, n in counts.items()]
    samples.append(sample("ledger-api-2", 1, T0 + 11 * DAY, created=T0 + 11 * DAY - timedelta(minutes=5)))
    samples.append(sample("search-0", 9, T0 + 12 * DAY, workload="search", kind="StatefulSet", reason="Error"))
    samples.append(sample("search-0", 0, T0, workload="search", kind="StatefulSet", reason=None))

    result = {r.workload: r for r in restarts_from_samples(samples, window)}

    ledger = result["ledger-api"]
    assert ledger.restarts_before == 4  # 0 → 4 on day 3
    assert ledger.restarts == 6 + 3 + 3 + 10 + 1  # 4→10, reset to 3, 3→6, 6→16, and the new pod's 1
    assert ledger.daily == (0, 6, 3, 4, 0, 0, 10)  # the new pod restarted in the 5 minutes before its sample
    assert sum(ledger.daily) == ledger.restarts
    assert (ledger.oom_kills, ledger.memory_limit, ledger.container, ledger.kind) == (23, "256Mi", "app", "Deployment")
    search = result["search"]
    assert (search.restarts, search.oom_kills, search.kind) == (9, 0, "StatefulSet")


def test_quiet_workloads_are_left_out() -> None:
    window = Window(end=T0 + 2 * DAY, period=DAY, buckets=1)
    samples = [sample("calm", 2, T0), sample("calm", 2, T0 + 36 * timedelta(hours=1), reason=None)]
    assert restarts_from_samples(samples, window) == []
    assert restarts_from_samples([], window) == []


def test_window_days_align_to_local_midnight_and_label_each_day() -> None:
    fired = datetime(2026, 11, 16, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
    window = Window.days(7, end=fired, timezone="Europe/Berlin", align=True)
    assert window.end == datetime(2026, 11, 15, 23, 0, tzinfo=UTC)
    assert window.start == datetime(2026, 11, 8, 23, 0, tzinfo=UTC)
    assert window.labels() == [date(2026, 11, d) for d in range(9, 16)]
    assert window.bucket_of(window.start) == 0
    assert window.bucket_of(window.end - timedelta(microseconds=1)) == 6
    assert window.bucket_of(window.end) is None
    assert midnight(fired, "UTC") == datetime(2026, 11, 16, tzinfo=UTC)


def test_a_window_needs_an_aware_end() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(end=datetime(2026, 1, 1), period=DAY, buckets=1)


def pod(name: str, owner: tuple[str, str] | None, labels: dict[str, str] | None = None) -> dict[str, object]:
    refs = [{"kind": owner[0], "name": owner[1], "controller": True}] if owner else []
    return {
        "metadata": {
            "name": name,
            "labels": labels or {},
            "ownerReferences": refs,
            "creationTimestamp": "2026-11-25T10:00:00Z",
        },
        "spec": {
            "initContainers": [{"name": "init"}],
            "containers": [{"name": "app", "resources": {"limits": {"memory": "256Mi"}}}],
        },
        "status": {
            "initContainerStatuses": [{"name": "init", "restartCount": 0}],
            "containerStatuses": [
                {"name": "app", "restartCount": 4, "lastState": {"terminated": {"reason": "OOMKilled"}}}
            ],
        },
    }


def test_pods_resolve_to_their_workload() -> None:
    hashed = {"pod-template-hash": "5694797858"}
    assert workload_of(pod("x", ("ReplicaSet", "ledger-api-5694797858"), hashed)) == ("Deployment", "ledger-api")
    assert workload_of(pod("x", ("ReplicaSet", "standalone"))) == ("ReplicaSet", "standalone")
    assert workload_of(pod("fraud-scorer-0", ("StatefulSet", "fraud-scorer"))) == ("StatefulSet", "fraud-scorer")
    assert workload_of(pod("agent-x1", ("DaemonSet", "agent"))) == ("DaemonSet", "agent")
    assert workload_of(pod("bare", None)) == ("Pod", "bare")
    assert workload_of(pod("netcheck-1", None, {"crashloop.dev/netcheck": "true"})) is None


def test_samples_carry_count_reason_limit_and_creation() -> None:
    at = T0
    [init, app] = samples_from_pods("prod", "shop", [pod("p", ("StatefulSet", "s"))], at)
    assert (init.container, init.restarts, init.last_reason, init.memory_limit) == ("init", 0, None, None)
    assert (app.container, app.restarts, app.last_reason, app.memory_limit) == ("app", 4, "OOMKilled", "256Mi")
    assert app.pod_created == datetime(2026, 11, 25, 10, tzinfo=UTC)
    assert changed(app, None)
    assert not changed(app, app)
    assert changed(app, sample("p", 3, at, workload="s", kind="StatefulSet", created=app.pod_created))


def test_incidents_per_workload_count_branch_and_time_to_resolve() -> None:
    def incident(opened_h: int, resolved_h: int | None, branch: str | None, reason: str | None) -> IncidentSummary:
        resolved = T0 + timedelta(hours=resolved_h) if resolved_h is not None else None
        return IncidentSummary("shop", "ledger-api", T0 + timedelta(hours=opened_h), resolved, branch, reason)

    stats = summarize_incidents(
        [
            incident(0, 1, "resources", "OOMKilled"),
            incident(2, 5, "app_env", "Error"),
            incident(6, None, "resources", "OOMKilled"),
        ]
    )[("shop", "ledger-api")]
    assert (stats.opened, stats.dominant_branch, stats.oom) == (3, "resources", 2)
    assert stats.mean_time_to_resolve == timedelta(hours=2)


def test_an_aligned_week_across_a_dst_change_still_starts_at_local_midnight() -> None:
    window = Window.days(7, end=datetime(2026, 11, 2, 9, tzinfo=UTC), timezone="America/New_York", align=True)
    assert window.start == datetime(2026, 10, 26, 4, tzinfo=UTC)  # midnight EDT
    assert window.end == datetime(2026, 11, 2, 5, tzinfo=UTC)  # midnight EST: the week had 169 hours
    assert window.labels() == [date(2026, 10, d) for d in range(26, 32)] + [date(2026, 11, 1)]


def test_a_pod_created_in_the_period_counts_from_its_restart_count_spread_from_its_creation() -> None:
    window = Window(end=T0 + 7 * DAY, period=7 * DAY, buckets=7)
    first_sweep = T0 + 5 * DAY
    born = sample("new", 300, first_sweep, created=first_sweep - 2 * DAY - timedelta(hours=12))  # 2.5 days old
    old = sample("old", 571, first_sweep, created=T0 - 30 * DAY)
    later = sample("old", 581, first_sweep + DAY, created=T0 - 30 * DAY)

    [result] = restarts_from_samples([born, old, later], window)

    # born: 300 over 2.5 days: half a day (60) on day 2, 120 on days 3 and 4; old: +10 on day 6
    assert result.daily == (0, 0, 60, 120, 120, 0, 10)
    assert result.restarts == 310
    assert result.uncounted == 571  # first seen in the period, created long before: when they happened is unknown
    assert result.restarts_before == 0


def test_spreading_keeps_whole_restarts_and_drops_what_falls_before_the_period_before() -> None:
    window = Window(end=T0 + 2 * DAY, period=DAY, buckets=2)  # period: [T0+1d, T0+2d) in two 12h buckets
    daily, before = spread(10, T0 - DAY, T0 + 2 * DAY - timedelta(hours=1), window)
    # 71h in all: 24h before the period before (dropped), 24h in it, 12h and 11h in the buckets
    assert (daily, before) == ([2, 2], 3)
    assert spread(4, None, T0 + DAY + timedelta(hours=13), window) == ([0, 4], 0)
    assert spread(4, None, T0 + timedelta(hours=1), window) == ([0, 0], 4)
