"""Fixtures of the report tests: a report context on a real database, the Slack stand-in, the simulated cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import Config, Environment
from bot.core.metrics import Metrics
from bot.core.report_settings import HotspotsConfig, ReportsConfig, SamplerConfig
from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.devtools.slackstub import SlackStandIn
from bot.reports.service import ReportContext
from bot.slack.client import SlackOut, make_client
from bot.store import Store
from bot.store.audit import AuditLog
from bot.store.migrate import upgrade
from bot.store.report_rows import RestartSample
from bot.triage.run import Triager

CHANNEL = "C0REPORTS"
ENV = "prod"

ContextFactory = Callable[..., Awaitable[ReportContext]]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimCluster]:
    with SimCluster(load_scenarios(), token="sim-token").running() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def kubeconfig(sim: SimCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(sim.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig", context="sim"))


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn(users={"U0ONCALL1": "alice"}, channels=[CHANNEL]) as stub:
        yield stub


def make_config(kubeconfig: Path | None = None, **env: Any) -> Config:
    prod = Environment(
        context="sim" if kubeconfig else None,
        kubeconfig=str(kubeconfig) if kubeconfig else None,
        namespaces=["shop", "payments"],
        channel=CHANNEL,
        cluster_label="sim-1",
        **env,
    )
    return Config(environments={ENV: prod})


def reports_config(**hotspots: Any) -> ReportsConfig:
    return ReportsConfig(hotspots=HotspotsConfig(**hotspots), sampler=SamplerConfig(interval_seconds=1))


@pytest.fixture
async def context_factory(slack: SlackStandIn, tmp_path: Path) -> AsyncIterator[ContextFactory]:
    """Builds ReportContexts (each with its own engine) on a migrated database; closes them afterwards."""
    made: list[ReportContext] = []

    async def make(
        db_url: str | None = None,
        *,
        config: Config | None = None,
        reports: ReportsConfig | None = None,
        is_leader: Callable[[], bool] = lambda: True,
    ) -> ReportContext:
        store = Store(db_url or f"sqlite+aiosqlite:///{tmp_path / 'reports.db'}")
        await upgrade(store.engine)
        metrics = Metrics()
        cfg = config or make_config()
        ctx = ReportContext(
            config=cfg,
            store=store,
            audit=AuditLog(store.engine),
            triager=Triager(cfg),
            slack=SlackOut(make_client("xoxb-test", slack.api_url, metrics), metrics, min_interval=0.0),
            metrics=metrics,
            reports=reports or reports_config(),
            is_leader=is_leader,
        )
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.triager.close()
        await ctx.store.close()


def sample(
    pod: str,
    restarts: int,
    at: datetime,
    *,
    workload: str = "ledger-api",
    container: str = "app",
    reason: str | None = "OOMKilled",
    limit: str | None = "256Mi",
    created: datetime | None = None,
    namespace: str = "shop",
    kind: str = "Deployment",
) -> RestartSample:
    return RestartSample(
        environment=ENV,
        namespace=namespace,
        workload=workload,
        kind=kind,
        pod=pod,
        container=container,
        restarts=restarts,
        at=at,
        last_reason=reason,
        memory_limit=limit,
        pod_created=created or datetime(2026, 1, 1, tzinfo=UTC),
    )


def is_png(data: bytes | None) -> bool:
    return data is not None and data[:8] == b"\x89PNG\r\n\x1a\n"
