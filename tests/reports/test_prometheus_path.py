"""The Prometheus path against a real Prometheus (the Debian package's binary) scraping a test-served exposition.

The exposition serves kube-state-metrics series whose restart counters rise on every scrape (one of them resets
mid-window), with kube_pod_owner / kube_replicaset_owner series (pods → ReplicaSet → Deployment, a StatefulSet pod)
and an OOMKilled last-terminated reason. A second target, labelled as another cluster, and a namespace outside the
environment rise faster still: they must not count. Prometheus scrapes every second; the report is asked for an
8-second period in two 4-second buckets, so the whole test takes about 30 s (Prometheus waits ≈ 5 s before its
first scrape).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.core.report_settings import ReportsConfig
from bot.reports.model import Window
from bot.reports.prometheus import PrometheusClient, PrometheusError, prometheus_restarts
from bot.reports.service import build_report
from tests.e2e.promstack import BINARIES, INSTALL_HINT, Server, get_json, serve_in_thread, start_prometheus, write_yaml
from tests.reports.conftest import ENV, ContextFactory, reports_config

PERIOD = timedelta(seconds=8)
SCRAPES_NEEDED = 22  # two periods of 1 s scrapes, and a few more
RESET_AT = 18  # ledger-api-…-a restarts from 0 here: inside the last period
MI = 2**20
RS = "ledger-api-5694797858"


@pytest.fixture
def prometheus_binary() -> None:
    if not Path(BINARIES["prometheus"]).is_file():
        pytest.fail(f"prometheus ({BINARIES['prometheus']}) is not installed; {INSTALL_HINT}")


class RestartExposition:
    """kube-state-metrics series of a few pods; every scrape of /metrics is one step of their history."""

    def __init__(self) -> None:
        self.scrapes = 0
        self.port = 0
        self._lock = threading.Lock()

    def metrics(self) -> str:
        with self._lock:
            self.scrapes += 1
            k = self.scrapes
        a = 2 * k if k < RESET_AT else 2 * (k - RESET_AT) + 1  # a reset: the new instance counts from 0
        lines = ["# TYPE kube_pod_container_status_restarts_total counter"]
        lines += [
            _series("kube_pod_container_status_restarts_total", "shop", f"{RS}-a", a, container="app"),
            _series("kube_pod_container_status_restarts_total", "shop", f"{RS}-b", k, container="app"),
            _series("kube_pod_container_status_restarts_total", "shop", "search-0", k, container="search"),
            _series("kube_pod_container_status_restarts_total", "shop", "quiet-6d89c75df5-q", 3, container="app"),
            _series("kube_pod_container_status_restarts_total", "kube-system", "coredns-x", 5 * k, container="dns"),
            "# TYPE kube_pod_container_status_last_terminated_reason gauge",
            _series(
                "kube_pod_container_status_last_terminated_reason",
                "shop",
                f"{RS}-a",
                1,
                container="app",
                reason="OOMKilled",
            ),
            _series(
                "kube_pod_container_status_last_terminated_reason",
                "shop",
                f"{RS}-b",
                1,
                container="app",
                reason="OOMKilled",
            ),
            _series(
                "kube_pod_container_status_last_terminated_reason",
                "shop",
                "search-0",
                1,
                container="search",
                reason="Error",
            ),
            "# TYPE kube_pod_container_resource_limits gauge",
            _series(
                "kube_pod_container_resource_limits",
                "shop",
                f"{RS}-a",
                256 * MI,
                container="app",
                resource="memory",
                unit="byte",
            ),
            _series(
                "kube_pod_container_resource_limits",
                "shop",
                f"{RS}-b",
                256 * MI,
                container="app",
                resource="memory",
                unit="byte",
            ),
            _series(
                "kube_pod_container_resource_limits",
                "shop",
                "search-0",
                1024 * MI,
                container="search",
                resource="memory",
                unit="byte",
            ),
            "# TYPE kube_pod_owner gauge",
            _series(
                "kube_pod_owner",
                "shop",
                f"{RS}-a",
                1,
                owner_kind="ReplicaSet",
                owner_name=RS,
                owner_is_controller="true",
            ),
            _series(
                "kube_pod_owner",
                "shop",
                f"{RS}-b",
                1,
                owner_kind="ReplicaSet",
                owner_name=RS,
                owner_is_controller="true",
            ),
            _series(
                "kube_pod_owner",
                "shop",
                "search-0",
                1,
                owner_kind="StatefulSet",
                owner_name="search",
                owner_is_controller="true",
            ),
            _series(
                "kube_pod_owner",
                "shop",
                "quiet-6d89c75df5-q",
                1,
                owner_kind="ReplicaSet",
                owner_name="quiet-6d89c75df5",
                owner_is_controller="true",
            ),
            "# TYPE kube_replicaset_owner gauge",
            _rs_owner(RS, "ledger-api"),
            _rs_owner("quiet-6d89c75df5", "quiet"),
        ]
        return "\n".join(lines) + "\n"

    def other_cluster(self) -> str:
        """The same pod name in another cluster, restarting much faster."""
        with self._lock:
            k = self.scrapes
        lines = [
            "# TYPE kube_pod_container_status_restarts_total counter",
            _series("kube_pod_container_status_restarts_total", "shop", f"{RS}-a", 50 * k, container="app"),
            "# TYPE kube_pod_owner gauge",
            _series(
                "kube_pod_owner",
                "shop",
                f"{RS}-a",
                1,
                owner_kind="ReplicaSet",
                owner_name=RS,
                owner_is_controller="true",
            ),
        ]
        return "\n".join(lines) + "\n"

    def app(self) -> web.Application:
        async def ksm(_request: web.Request) -> web.Response:
            return web.Response(text=self.metrics(), content_type="text/plain")

        async def other(_request: web.Request) -> web.Response:
            return web.Response(text=self.other_cluster(), content_type="text/plain")

        app = web.Application()
        app.add_routes([web.get("/metrics", ksm), web.get("/other", other)])
        return app

    @contextlib.contextmanager
    def served(self) -> Iterator[RestartExposition]:
        """On a loop of its own (a thread): the test's loop must not delay a scrape past its 1 s timeout."""
        with serve_in_thread(self.app(), "restart-exposition") as port:
            self.port = port
            yield self


def _series(name: str, namespace: str, pod: str, value: float, **labels: str) -> str:
    all_labels = {"namespace": namespace, "pod": pod, **labels}
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in all_labels.items()) + "}" + f" {value}"


def _rs_owner(replicaset: str, deployment: str) -> str:
    labels = f'namespace="shop",replicaset="{replicaset}",owner_kind="Deployment",owner_name="{deployment}"'
    return f'kube_replicaset_owner{{{labels},owner_is_controller="true"}} 1'


@pytest.fixture
def exposition(prometheus_binary: None) -> Iterator[RestartExposition]:
    with RestartExposition().served() as served:
        yield served


@pytest.fixture
def prometheus(exposition: RestartExposition, tmp_path: Path) -> Iterator[Server]:
    target = f"127.0.0.1:{exposition.port}"
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {
                "job_name": "ksm",
                "honor_labels": True,
                "static_configs": [{"targets": [target], "labels": {"cluster": "sim-1"}}],
            },
            {
                "job_name": "ksm-other",
                "metrics_path": "/other",
                "honor_labels": True,
                "static_configs": [{"targets": [target], "labels": {"cluster": "other"}}],
            },
        ],
    }
    server = start_prometheus(tmp_path, write_yaml(tmp_path / "prometheus.yml", config))
    try:
        yield server
    finally:
        server.stop()


async def scraped(prometheus: Server, exposition: RestartExposition, within: float = 35.0) -> None:
    """Wait until Prometheus holds SCRAPES_NEEDED samples of the exposition."""
    query = f'count_over_time(kube_pod_container_status_restarts_total{{pod="{RS}-b",cluster="sim-1"}}[1m])'
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        result = (await get_json(f"{prometheus.url}/api/v1/query?query={query}"))["data"]["result"]
        if result and float(result[0]["value"][1]) >= SCRAPES_NEEDED:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(
        f"Prometheus did not scrape {SCRAPES_NEEDED} times in {within}s (exposition saw {exposition.scrapes})"
    )


def window_now() -> Window:
    return Window(end=datetime.now(UTC), period=PERIOD, buckets=2, resolution=timedelta(seconds=2))


async def test_restarts_per_workload_from_a_real_prometheus(
    prometheus: Server, exposition: RestartExposition, context_factory: ContextFactory
) -> None:
    await scraped(prometheus, exposition)
    window = window_now()

    found = {r.workload: r for r in await prometheus_restarts(prometheus.url, ["shop", "payments"], "sim-1", window)}

    assert set(found) == {"ledger-api", "search"}  # quiet did not restart; kube-system is not the environment's
    ledger, search = found["ledger-api"], found["search"]
    assert (ledger.kind, ledger.namespace, search.kind) == ("Deployment", "shop", "StatefulSet")
    # 3 restarts a second over 8 s; the reset inside the window costs 1, it does not wipe the count out.
    # The other cluster's 50 a second would show if the cluster label were ignored.
    assert 18 <= ledger.restarts <= 30, ledger
    assert 18 <= ledger.restarts_before <= 30, ledger
    assert 5 <= search.restarts <= 11, search
    assert sum(ledger.daily) == pytest.approx(ledger.restarts, abs=4)
    assert len(ledger.daily) == 2
    assert all(n > 0 for n in ledger.daily)
    # OOM kills: ledger-api's containers were last OOMKilled, search's ended in Error
    assert ledger.oom_kills >= ledger.restarts * 0.6, ledger
    assert search.oom_kills == 0
    assert (ledger.memory_limit, ledger.container) == ("256Mi", "app")
    assert search.memory_limit == "1Gi"

    # the same through the report: Prometheus for restarts, the bot's own records for the rest
    ctx = await context_factory(
        reports=ReportsConfig(**{**reports_config().model_dump(), "prometheus_url": prometheus.url})
    )
    report = await build_report(ctx, ENV, window=window)
    assert report.source == "prometheus"
    assert [s.workload for s in report.top] == ["ledger-api", "search"]
    [bump] = [s for s in report.suggestions if s.remedy == "bump_memory"]
    assert bump.text.startswith(f"ledger-api was OOMKilled {report.top[0].oom_kills} times at 256Mi: consider 384Mi")
    assert bump.params == {"container": "app", "from": "256Mi", "to": "384Mi"}

    # Prometheus refusing a query is an error that says which query and why
    async with aiohttp.ClientSession() as session:
        with pytest.raises(PrometheusError, match=r"'sum\(': HTTP 400: .*parse error"):
            await PrometheusClient(prometheus.url, session).instant("sum(", window.end)


async def test_an_unreachable_prometheus_is_a_clear_error() -> None:
    window = window_now()
    with pytest.raises(PrometheusError, match=r"^http://127.0.0.1:9/api/v1/query(_range)? .*ClientConnectorError"):
        await prometheus_restarts("http://127.0.0.1:9", ["shop"], None, window, timeout=2)
