"""Time: failing pods keep restarting (computed on read), healed ones stop; stuck rollouts time out."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from simview import SimView

from bot.devtools.simcluster import SimCluster, load_scenarios


@pytest.fixture
def fast_sim() -> Iterator[SimCluster]:
    with SimCluster(load_scenarios(["web-app", "orders"]), restart_period=0.25, seed=3).running() as sim:
        yield sim


def backoff_count(view: SimView, namespace: str, pod: str) -> int:
    return max(e["count"] for e in view.events_for(namespace, pod) if e["reason"] == "BackOff")


def test_restart_counts_grow_while_a_pod_crash_loops(fast_sim: SimCluster) -> None:
    view = SimView(fast_sim)
    pod = view.failing_pod("shop", "web-app")
    name = pod["metadata"]["name"]
    restarts = view.status(pod, "app")["restartCount"]
    events = backoff_count(view, "shop", name)
    time.sleep(0.6)
    later = view.status(fast_sim.get_object("v1", "pods", "shop", name), "app")
    assert later["restartCount"] >= restarts + 2
    assert (
        later["lastState"]["terminated"]["finishedAt"]
        >= pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["finishedAt"]
    )
    assert backoff_count(view, "shop", name) >= events + 6


def test_restarts_stop_once_healed(fast_sim: SimCluster) -> None:
    view = SimView(fast_sim)
    fast_sim.set_dependency("orders-db:5432", up=True)
    counts = {p["metadata"]["name"]: view.status(p, "app")["restartCount"] for p in view.pods("payments", "orders")}
    time.sleep(0.6)
    later = {p["metadata"]["name"]: view.status(p, "app")["restartCount"] for p in view.pods("payments", "orders")}
    assert later == counts


def test_advancing_the_clock_with_default_periods(view: SimView, sim: SimCluster) -> None:
    pod = view.failing_pod("shop", "ledger-api")
    before = view.status(pod, "app")["restartCount"]
    sim.advance_time(601)  # the kubelet's 5-minute back-off: two more restarts
    after = view.status(sim.get_object("v1", "pods", "shop", pod["metadata"]["name"]), "app")["restartCount"]
    assert after == before + 2


def test_a_stuck_rollout_times_out_after_its_progress_deadline(view: SimView, sim: SimCluster) -> None:
    def progressing() -> dict[str, str]:
        conditions = sim.get_object("apps/v1", "deployments", "shop", "web-app")["status"]["conditions"]
        return next(c for c in conditions if c["type"] == "Progressing")

    assert (progressing()["status"], progressing()["reason"]) == ("True", "ReplicaSetUpdated")
    sim.advance_time(601)
    timed_out = progressing()
    assert (timed_out["status"], timed_out["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert timed_out["message"].endswith("has timed out progressing.")


def test_ages_follow_the_scenario_timeline(view: SimView) -> None:
    report_worker = view.failing_pod("shop", "report-worker")
    created = report_worker["metadata"]["creationTimestamp"]
    started = report_worker["status"]["startTime"]
    assert created == started
    events = view.events_for("shop", report_worker["metadata"]["name"])
    failed = next(e for e in events if e["reason"] == "Failed")
    assert failed["count"] >= 572
    assert failed["firstTimestamp"] >= created
