"""Two bot processes, one PostgreSQL, one simulated apiserver: nothing posted twice, and leadership moves.

The replicas are real `crashloop serve` processes; alerts are spread over both at once. Exactly one root message
per incident must reach Slack, exactly one replica must lead, and killing the leader must hand the singleton
work to the other within the lease duration.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.devtools.slackstub import SlackStandIn
from tests.databases import create_pg_database, drop_pg_database

TOKEN = "ha-webhook-token"
CHANNEL = "C0INCIDENTS"
LEASE_SECONDS = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def cluster() -> Iterator[SimCluster]:
    with SimCluster(load_scenarios(["ledger-api", "web-app", "orders"]), token="sim-token").running() as sim:
        yield sim


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(channels=[CHANNEL]).running() as stub:
        yield stub


@pytest.fixture
def pg() -> Iterator[str]:
    url = asyncio.run(create_pg_database())
    yield url
    asyncio.run(drop_pg_database(url))


def _config(tmp: Path, kubeconfig: Path) -> Path:
    config = {
        "environments": {
            "prod": {
                "context": "sim",
                "kubeconfig": str(kubeconfig),
                "namespaces": ["shop", "payments"],
                "channel": CHANNEL,
                "cluster_label": "sim-1",
            }
        },
        "access": {"responders": ["U0ONCALL1"]},
        "leader_election": {
            "enabled": True,
            "namespace": "default",
            "lease_seconds": LEASE_SECONDS,
            "renew_seconds": 0.5,
            "context": "sim",
            "kubeconfig": str(kubeconfig),
        },
    }
    path = tmp / "crashloop.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def replicas(
    tmp_path: Path, cluster: SimCluster, slack: SlackStandIn, pg: str
) -> Iterator[list[tuple[int, subprocess.Popen[bytes]]]]:
    kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig", context="sim")
    config = _config(tmp_path, kubeconfig)
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "s",
        "CRASHLOOP_WEBHOOK_TOKEN": TOKEN,
        "CRASHLOOP_DATABASE_URL": pg,
        "SLACK_API_URL": slack.api_url,
        "CRASHLOOP_SECRETS_DIR": str(tmp_path / "none"),
    }
    started = []
    for i in range(2):
        port = _free_port()
        log = (tmp_path / f"replica-{i}.log").open("wb")
        command = [
            sys.executable,
            "-m",
            "bot.cli.main",
            "--config",
            str(config),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        started.append((port, subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)))
        if i == 0:
            time.sleep(1.0)  # the first one migrates the database; the second finds it migrated
    try:
        yield started
    finally:
        for _, process in started:
            if process.poll() is None:
                process.terminate()
        for _, process in started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


async def _wait(check, within: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {within}s: {last!r}")


async def _leader_flags(http: aiohttp.ClientSession, ports: list[int]) -> list[float | None]:
    flags: list[float | None] = []
    for port in ports:
        try:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
            flags.append(
                next(float(line.split()[1]) for line in text.splitlines() if line.startswith("crashloop_leader "))
            )
        except aiohttp.ClientError:
            flags.append(None)
    return flags


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _alert(pod: str, namespace: str, n: int) -> dict[str, object]:
    labels = {"alertname": f"PodCrashLoopBackOff{n % 3}", "namespace": namespace, "pod": pod, "cluster": "sim-1"}
    return {"status": "firing", "labels": labels, "startsAt": "2026-11-25T10:00:00Z", "fingerprint": f"ha-{pod}-{n}"}


async def test_burst_over_two_replicas_posts_once_and_leadership_moves_when_the_leader_dies(
    replicas: list[tuple[int, subprocess.Popen[bytes]]],
    cluster: SimCluster,
    slack: SlackStandIn,
    http: aiohttp.ClientSession,
) -> None:
    ports = [p for p, _ in replicas]

    async def ready() -> bool:
        try:
            for port in ports:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    if response.status != 200:
                        return False
            return True
        except aiohttp.ClientError:
            return False

    await _wait(ready, within=90.0)  # start-up of two processes on a loaded machine: not what this test measures
    targets = [
        (ns, p["metadata"]["name"]) for ns in ("shop", "payments") for p in cluster.list_objects("v1", "pods", ns)
    ]
    sends = []
    for n in range(60):
        namespace, pod = targets[n % len(targets)]
        body = {"version": "4", "status": "firing", "alerts": [_alert(pod, namespace, n)]}
        url = f"http://127.0.0.1:{ports[n % 2]}/alerts/alertmanager"
        sends.append(http.post(url, json=body, headers={"Authorization": f"Bearer {TOKEN}"}))
    statuses = [r.status for r in await asyncio.gather(*sends)]
    assert statuses == [202] * 60

    async def three_roots() -> list[str]:
        roots = [m.metadata["event_payload"]["workload"] for m in slack.channel_messages(CHANNEL)]
        return roots if len(set(roots)) == 3 else []

    roots = await _wait(three_roots)
    await asyncio.sleep(2.0)  # give a duplicate the chance to appear
    roots = [m.metadata["event_payload"]["workload"] for m in slack.channel_messages(CHANNEL)]
    assert sorted(roots) == ["ledger-api", "orders", "web-app"]  # one root message per incident, not two

    flags = await _wait(lambda: _one_leader(http, ports))
    leader = flags.index(1.0)
    replicas[leader][1].send_signal(signal.SIGKILL)
    survivor = ports[1 - leader]
    started = time.monotonic()

    async def survivor_leads() -> bool:
        return (await _leader_flags(http, [survivor]))[0] == 1.0

    await _wait(survivor_leads, within=LEASE_SECONDS + 5)
    assert time.monotonic() - started <= LEASE_SECONDS + 5


async def _one_leader(http: aiohttp.ClientSession, ports: list[int]) -> list[float | None]:
    flags = await _leader_flags(http, ports)
    return flags if sorted(f or 0.0 for f in flags) == [0.0, 1.0] else []
