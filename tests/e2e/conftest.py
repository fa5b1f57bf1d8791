"""The whole alert path with real components: exposition → Prometheus → Alertmanager → the bot on a TCP port → Slack.

Prometheus and Alertmanager are the Debian packages' binaries (`.ci/run` installs them); the tests fail, naming
them, when they are missing. Everything listens on 127.0.0.1 only. The subprocesses are stopped in teardown
whatever happened, and when a test fails the tail of their logs (kept in the test's tmp_path) is added to the
failure report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.app import AppOptions, build_app
from bot.core.settings import Settings
from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.devtools.simcluster.quantity import parse_quantity
from bot.devtools.slackstub import SlackStandIn
from bot.incidents.queue import WorkerSettings
from tests.e2e.promstack import (
    INSTALL_HINT,
    CrashLoopExposition,
    ServedBot,
    Server,
    alertmanager_config,
    fast_rules,
    missing_binaries,
    prometheus_config,
    scrape_health,
    start_alertmanager,
    start_prometheus,
    write_yaml,
)
from tests.service.conftest import CHANNEL, SIGNING_SECRET, WEBHOOK_TOKEN, make_config

SERVERS = pytest.StashKey[list[Server]]()
SLACK = pytest.StashKey[SlackStandIn]()
NAMESPACE, WORKLOAD = "shop", "ledger-api"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: end to end through real Prometheus and Alertmanager binaries (subprocesses, loopback only)"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    report = yield
    if isinstance(report, pytest.TestReport) and report.failed:
        for server in item.stash.get(SERVERS, []):
            report.sections.append((f"{server.name}: last lines of {server.log}", server.tail()))
            if server.name == "prometheus" and server.process.poll() is None:
                report.sections.append(("prometheus: scrapes of the last 2 minutes (1 = up)", scrape_health(server)))
        slack = item.stash.get(SLACK, None)
        if slack is not None:
            try:
                channel = slack.render_channel(CHANNEL)
            except Exception as exc:  # the stand-in may be stopped already (teardown)
                channel = f"(not available: {exc})"
            report.sections.append((f"Slack channel {CHANNEL}", channel))
    return report


@pytest.fixture
def binaries() -> None:
    missing = missing_binaries()
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed; {INSTALL_HINT}")


@pytest.fixture
def sim(binaries: None) -> Iterator[SimCluster]:
    with SimCluster(load_scenarios(), token="sim-token").running() as cluster:
        yield cluster


@pytest.fixture
def kubeconfig(sim: SimCluster, tmp_path: Path) -> Path:
    return Path(sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim"))


@pytest.fixture
async def slack(request: pytest.FixtureRequest, binaries: None) -> AsyncIterator[SlackStandIn]:
    async with SlackStandIn(users={"U0ONCALL1": "alice"}, channels=[CHANNEL]) as stub:
        request.node.stash[SLACK] = stub
        yield stub


@pytest.fixture
async def bot(slack: SlackStandIn, kubeconfig: Path, tmp_path: Path) -> AsyncIterator[ServedBot]:
    """The bot's aiohttp app served on a real loopback TCP port, as `crashloop serve` would."""
    settings = Settings(
        slack_bot_token=SecretStr("xoxb-test"),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        crashloop_webhook_token=SecretStr(WEBHOOK_TOKEN),
        crashloop_database_url=SecretStr(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"),
        slack_api_url=slack.api_url,
    )
    options = AppOptions(slack_min_interval=0.0, worker=WorkerSettings(poll_seconds=0.2))
    app = build_app(make_config(kubeconfig), settings, options)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield ServedBot(app, int(runner.addresses[0][1]))
    finally:
        await runner.cleanup()


@pytest.fixture
def crashing_pod(sim: SimCluster) -> dict[str, Any]:
    """A real crash-looping pod of the simulated cluster (Deployment shop/ledger-api, OOMKilled)."""
    pods = sorted(
        (p for p in sim.list_objects("v1", "pods", NAMESPACE) if p["metadata"]["name"].startswith(f"{WORKLOAD}-")),
        key=lambda p: p["metadata"]["name"],
    )
    assert pods, f"the simulated cluster has no {NAMESPACE}/{WORKLOAD} pods"
    return pods[0]


@pytest.fixture
def exposition(crashing_pod: dict[str, Any]) -> Iterator[CrashLoopExposition]:
    """kube-state-metrics and cAdvisor series of the crashing pod, served on a loopback port (`.port`)."""
    pod = crashing_pod
    [status] = [c for c in pod["status"]["containerStatuses"] if c["name"] == "app"]
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    [spec] = [c for c in pod["spec"]["containers"] if c["name"] == "app"]
    series = CrashLoopExposition(
        namespace=NAMESPACE,
        pod=pod["metadata"]["name"],
        container="app",
        restarts=int(status["restartCount"]),
        memory_limit_bytes=int(parse_quantity(spec["resources"]["limits"]["memory"])),
    )
    with series.served():
        yield series


def _watched(request: pytest.FixtureRequest, server: Server) -> Server:
    request.node.stash.setdefault(SERVERS, []).append(server)
    return server


@pytest.fixture
def alertmanager(request: pytest.FixtureRequest, bot: ServedBot, tmp_path: Path) -> Iterator[Server]:
    """Alertmanager routing every alert to the bot's webhook, authenticated with the bearer token from a file."""
    directory = tmp_path / "alertmanager"
    directory.mkdir()
    token_file = directory / "webhook-token"
    token_file.write_text(WEBHOOK_TOKEN)
    config = write_yaml(
        directory / "alertmanager.yml",
        alertmanager_config(webhook_url=f"{bot.url}/alerts/alertmanager", token_file=token_file),
    )
    server = start_alertmanager(directory, config)
    try:
        yield _watched(request, server)
    finally:
        server.stop()


@pytest.fixture
def prometheus(
    request: pytest.FixtureRequest,
    bot: ServedBot,
    exposition: CrashLoopExposition,
    alertmanager: Server,
    tmp_path: Path,
) -> Iterator[Server]:
    """Prometheus scraping the exposition each second and evaluating the product's rules (made fast) each second."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    rules = write_yaml(directory / "crashloop-rules.yaml", fast_rules())
    config = write_yaml(
        directory / "prometheus.yml",
        prometheus_config(
            exporter_port=exposition.port,
            alertmanager_port=alertmanager.port,
            cluster=str(bot.services.config.environments["prod"].cluster_label),
            rule_file=rules,
        ),
    )
    server = start_prometheus(directory, config)
    try:
        yield _watched(request, server)
    finally:
        server.stop()
