"""The restart sampler's sweep never holds up a webhook: its blocking steps run off the event loop.

The simulated apiserver answers every call after 3 s, so the sampler's first sweep (two namespaces) takes ≥ 6 s.
A webhook posted while that sweep is under way is answered 202 — committed — before the sweep has stored
anything; the sweep then finishes and stores its samples (it was running, not skipped).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.devtools.simcluster import SimCluster
from bot.reports.service import ReportContext
from tests.service.conftest import BotFactory, am_alert, am_payload, eventually

SLOW_CLUSTER_SECONDS = 3.0


@pytest.fixture
def slow_cluster(sim: SimCluster) -> Iterator[SimCluster]:
    sim.set_latency(SLOW_CLUSTER_SECONDS)
    try:
        yield sim
    finally:
        sim.set_latency(0.0)


def _sampler_running() -> bool:
    return any(t.get_name() == "restart-sampler" and not t.done() for t in asyncio.all_tasks())


async def test_a_webhook_is_committed_and_answered_while_the_samplers_first_sweep_waits_on_the_cluster(
    bot_factory: BotFactory, slow_cluster: SimCluster
) -> None:
    bot = await bot_factory()
    reports: ReportContext = bot.services.report_context()
    later = datetime.now(UTC) + timedelta(days=1)
    await eventually(_sampler_running)
    await asyncio.sleep(0.5)  # the sweep is now waiting on its first pod list (3 s)

    # an alert of a namespace no environment watches: stored, then set aside without a (slow) triage
    response = await bot.alerts(am_payload(am_alert("elsewhere", "api-1", fingerprint="beside-sampler")))

    assert response.status == 202, await response.text()
    assert await bot.services.store.count_alerts() == 1  # committed before the answer
    assert await reports.report_store.samples("prod", until=later) == [], "the sweep had finished first"
    samples = await eventually(lambda: reports.report_store.samples("prod", until=later), within=60)
    assert {s.namespace for s in samples} <= {"shop", "payments"}
