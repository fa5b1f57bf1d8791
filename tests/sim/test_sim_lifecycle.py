"""Starting and stopping: on a daemon thread, on the caller's loop, from the command line; watches."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import pytest
import yaml
from kubernetes import client, watch
from simview import raw_request

from bot.devtools.simcluster import SimCluster, load_scenarios


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_running_leaves_no_thread_or_socket_behind() -> None:
    threads = threading.active_count()
    sim = SimCluster(load_scenarios(["catalog"]))
    with sim.running():
        port = sim.port
        assert raw_request(sim.url + "/version", token=None).status == 200
        assert threading.active_count() == threads + 1
    assert threading.active_count() == threads
    assert port_is_closed(port)
    with pytest.raises(RuntimeError):
        _ = sim.url


def test_a_fixed_port_can_be_reused_after_stop() -> None:
    first = SimCluster(load_scenarios(["catalog"]))
    with first.running():
        port = first.port
    second = SimCluster(load_scenarios(["catalog"]), port=port)
    with second.running():
        assert second.url == f"http://127.0.0.1:{port}"


async def test_async_context_on_the_current_loop() -> None:
    async with SimCluster(load_scenarios(["web-app"]), token="t") as sim, aiohttp.ClientSession() as session:
        async with session.get(
            f"{sim.url}/apis/apps/v1/namespaces/shop/deployments/web-app", headers={"Authorization": "Bearer t"}
        ) as response:
            body = await response.json()
        assert response.status == 200
        assert body["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "7"
        port = sim.port
    assert port_is_closed(port)


async def test_latency_does_not_serialise_concurrent_calls() -> None:
    async with SimCluster(load_scenarios(["catalog"]), latency=0.2) as sim, aiohttp.ClientSession() as session:
        started = time.monotonic()

        async def get() -> int:
            async with session.get(f"{sim.url}/api/v1/namespaces/shop/pods") as response:
                return response.status

        assert await asyncio.gather(*(get() for _ in range(5))) == [200] * 5
        assert 0.2 <= time.monotonic() - started < 0.8


def test_command_line_serves_until_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    command = [
        sys.executable,
        "-m",
        "bot.devtools.simcluster",
        "--port",
        "0",
        "--kubeconfig",
        str(kubeconfig),
        "--scenario",
        "catalog",
        "--token",
        "cli-token",
        "--latency",
        "0.01",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        config = yaml.safe_load(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == url
        assert config["users"][0]["user"]["token"] == "cli-token"
        pods = raw_request(url + "/api/v1/namespaces/shop/pods", token="cli-token").json()
        assert len(pods["items"]) == 3
        assert raw_request(url + "/api/v1/namespaces/payments/pods", token="cli-token").json()["items"] == []
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_watch_streams_changes(sim: SimCluster, apps: client.AppsV1Api) -> None:
    seen: list[tuple[str, str]] = []

    def scale_later() -> None:
        time.sleep(0.3)
        apps.patch_namespaced_deployment_scale("catalog", "shop", {"spec": {"replicas": 4}})

    worker = threading.Thread(target=scale_later)
    worker.start()
    stream = watch.Watch().stream(
        client.CoreV1Api(apps.api_client).list_namespaced_pod, "shop", label_selector="app=catalog", timeout_seconds=1
    )
    for event in stream:
        seen.append((event["type"], event["object"].metadata.name))
    worker.join()
    assert [kind for kind, _ in seen[:3]] == ["ADDED"] * 3
    added_later = [name for kind, name in seen[3:] if kind == "ADDED"]
    assert len(added_later) == 1
