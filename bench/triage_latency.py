"""Benchmark: triage latency with 50 ms injected per API call, concurrent vs. sequential, in one run.

The target (issue 2): the latency a triage adds is at most its dependency depth — workload → pods → logs and
events: 3 round trips — plus 10 %, however many pods, containers and events there are. With 50 ms per call that
is 165 ms. The sequential mode makes the same calls one after another, for comparison.

Run: `make bench` (or `.venv/bin/python -m bench.triage_latency [--runs N] [--latency S]`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from bot.core.config import Config, Environment
from bot.triage.run import Triager

CASES = (  # (label, namespace, workload, replicas to scale to or None)
    ("ledger-api, 2 pods", "shop", "ledger-api", None),
    ("ledger-api, 12 pods", "shop", "ledger-api", 12),
    ("orders (app + sidecar)", "payments", "orders", None),
    ("fraud-scorer StatefulSet (init container)", "payments", "fraud-scorer", None),
)


def _scale(kubeconfig: Path, namespace: str, name: str, replicas: int) -> None:
    api = k8s_config.new_client_from_config(config_file=str(kubeconfig), context="sim")
    k8s_client.AppsV1Api(api).patch_namespaced_deployment(name, namespace, {"spec": {"replicas": replicas}})
    api.close()


async def _measure(triager: Triager, namespace: str, name: str, runs: int) -> list[float]:
    await triager.triage("bench", name, namespace=namespace)  # warm-up: connection pool, client imports
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await triager.triage("bench", name, namespace=namespace)
        samples.append(time.perf_counter() - started)
    return samples


def _row(label: str, mode: str, samples: list[float], calls: int) -> str:
    ms = sorted(s * 1000 for s in samples)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"| {label} | {mode} | {calls} | {statistics.median(ms):.0f} | {ms[0]:.0f} | {p90:.0f} |"


@contextmanager
def _apiserver(tmp: Path, latency: float) -> Iterator[Path]:
    """The simulated apiserver in a process of its own, as a real one would be (no shared GIL with the bot)."""
    kubeconfig = tmp / "kubeconfig"
    command = [
        sys.executable,
        "-m",
        "bot.devtools.simcluster",
        "--port",
        "0",
        "--kubeconfig",
        str(kubeconfig),
        "--latency",
        str(latency),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if kubeconfig.exists():
                break
            time.sleep(0.05)
        time.sleep(0.2)
        yield kubeconfig
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def _calls(kubeconfig: Path) -> int:
    """How many API requests the apiserver has served (its request log, read over its admin endpoint)."""
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    with urllib.request.urlopen(f"{server}/_sim/requests") as response:  # loopback only
        return len(json.loads(response.read()))


async def _round_trip(kubeconfig: Path, concurrent: int, runs: int) -> float:
    """Median time of `concurrent` simultaneous GETs: what one round trip to this apiserver costs by itself."""
    from bot.kube.client import KubeReader, connect
    from bot.kube.concurrent import AsyncKube

    reader, kube = KubeReader(connect("sim", str(kubeconfig))), AsyncKube(timeout=10)
    samples = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        await kube.all(
            [kube.call("get", reader.get_workload, "Deployment", "shop", "ledger-api") for _ in range(concurrent)]
        )
        samples.append(time.perf_counter() - started)
    reader.close()
    kube.close()
    return statistics.median(samples[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    target_ms = 3 * args.latency * 1000 * 1.1
    rows = ["| workload | mode | API calls | median ms | min ms | p90 ms |", "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp, _apiserver(Path(tmp), args.latency) as kubeconfig:
        env = Environment(context="sim", kubeconfig=str(kubeconfig), namespaces=["shop", "payments"])
        config = Config(environments={"bench": env})
        for label, namespace, name, replicas in CASES:
            if replicas:
                _scale(kubeconfig, namespace, name, replicas)
            for mode, sequential in (("concurrent", False), ("sequential", True)):
                triager = Triager(config, sequential=sequential)
                before = _calls(kubeconfig)
                samples = asyncio.run(_measure(triager, namespace, name, args.runs))
                calls = (_calls(kubeconfig) - before) // (args.runs + 1)
                triager.close()
                rows.append(_row(label, mode, samples, calls))
        one = asyncio.run(_round_trip(kubeconfig, 1, args.runs)) * 1000
        ten = asyncio.run(_round_trip(kubeconfig, 10, args.runs)) * 1000
    print(
        f"latency injected per API call: {args.latency * 1000:.0f} ms; target (3 round trips + 10%): {target_ms:.0f} ms"
    )
    print(f"measured round trip to this apiserver: 1 GET {one:.1f} ms, 10 concurrent GETs {ten:.1f} ms\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
