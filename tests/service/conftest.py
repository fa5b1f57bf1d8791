"""The running bot for service tests: its aiohttp app on a test server, the simulated cluster, the Slack stand-in.

Everything is real except the far ends: signed HTTP requests into the app, the real kubernetes client against
the simulated apiserver, the real Slack SDK against the stand-in, real SQL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bot.app import WORKER, AppOptions, build_app
from bot.core.config import Access, Config, Environment
from bot.core.settings import Settings
from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.devtools.slackstub import SlackStandIn
from bot.devtools.slackstub.signing import FORM_CONTENT_TYPE, sign
from bot.incidents.queue import IncidentWorker, WorkerSettings
from bot.wiring import SERVICES, Services

WEBHOOK_TOKEN = "whk-test-token-0123456789"
SIGNING_SECRET = "signing-secret-for-tests"
CHANNEL = "C0INCIDENTS"
CLUSTER = "sim-1"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimCluster]:
    with SimCluster(load_scenarios(), token="sim-token").running() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def kubeconfig(sim: SimCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(sim.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig", context="sim"))


@pytest.fixture(autouse=True)
def _no_faults(sim: SimCluster) -> Iterator[None]:
    yield
    sim.clear_faults()


def make_config(kubeconfig: Path, **env: Any) -> Config:
    prod = Environment(
        context="sim",
        kubeconfig=str(kubeconfig),
        namespaces=["shop", "payments"],
        channel=CHANNEL,
        cluster_label=CLUSTER,
        **env,
    )
    return Config(
        environments={"prod": prod}, access=Access(responders=["U0ONCALL1", "S0SRE0001"], viewers=["U0VIEWER1"])
    )


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    users = {"U0ONCALL1": "alice", "U0ONCALL2": "bob", "U0VIEWER1": "carol", "U0STRANGER": "mallory"}
    async with SlackStandIn(users=users, usergroups={"S0SRE0001": ["U0ONCALL2"]}, channels=[CHANNEL]) as stub:
        yield stub


@dataclass
class Bot:
    """The app under test and handles to what it talks to."""

    client: TestClient
    slack: SlackStandIn
    sim: SimCluster
    db_url: str

    @property
    def services(self) -> Services:
        return self.client.server.app[SERVICES]

    @property
    def worker(self) -> IncidentWorker:
        return self.client.server.app[WORKER]

    async def alerts(self, payload: dict[str, Any], path: str = "/alerts/alertmanager", token: str = WEBHOOK_TOKEN):
        return await self.client.post(path, json=payload, headers={"Authorization": f"Bearer {token}"})

    async def slack_request(self, body: str, *, timestamp: int | None = None, secret: str = SIGNING_SECRET):
        headers = {**sign(secret, body, timestamp), "Content-Type": FORM_CONTENT_TYPE}
        return await self.client.post("/slack/events", data=body, headers=headers)

    def roots(self) -> list[Any]:
        return self.slack.channel_messages(CHANNEL)


BotFactory = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def bot_factory(
    slack: SlackStandIn, sim: SimCluster, kubeconfig: Path, tmp_path: Path
) -> AsyncIterator[BotFactory]:
    clients: list[TestClient] = []

    async def make(db_url: str | None = None, config: Config | None = None, **worker: Any) -> Bot:
        url = db_url or f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        settings = Settings(
            slack_bot_token=SecretStr("xoxb-test"),
            slack_signing_secret=SecretStr(SIGNING_SECRET),
            crashloop_webhook_token=SecretStr(WEBHOOK_TOKEN),
            crashloop_database_url=SecretStr(url),
            slack_api_url=slack.api_url,
        )
        options = AppOptions(slack_min_interval=0.0, worker=WorkerSettings(**{"poll_seconds": 0.2, **worker}))
        app = build_app(config or make_config(kubeconfig), settings, options)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return Bot(client, slack, sim, url)

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def bot(bot_factory: BotFactory) -> Bot:
    return await bot_factory()


async def eventually(check: Callable[[], Any], within: float = 15.0, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + within
    value = None
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last value: {value!r})")


def pods_of(sim: SimCluster, namespace: str, workload: str) -> list[str]:
    names = [p["metadata"]["name"] for p in sim.list_objects("v1", "pods", namespace)]
    return sorted(n for n in names if n.startswith(f"{workload}-"))


def am_alert(
    namespace: str,
    pod: str,
    *,
    status: str = "firing",
    alertname: str = "PodCrashLoopBackOff",
    fingerprint: str | None = None,
    starts_at: str = "2026-11-25T10:00:00Z",
    cluster: str = CLUSTER,
    container: str = "app",
    **labels: str,
) -> dict[str, Any]:
    all_labels = {
        "alertname": alertname,
        "namespace": namespace,
        "pod": pod,
        "container": container,
        "cluster": cluster,
        "severity": "critical",
        **labels,
    }
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"description": f"Pod {namespace}/{pod} is in CrashLoopBackOff"},
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-25T10:30:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": fingerprint or f"fp-{pod}-{alertname}"[:64],
    }


def am_payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="PodCrashLoopBackOff"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "crashloop-bot",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example",
        "alerts": list(alerts),
    }


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)
