"""Benchmark: triage latency with 50 ms injected per API call, concurrent vs. sequential, in one run.

The target (issue 2): the latency a triage adds is at most its dependency depth — workload → pods → logs and
events: 3 round trips — plus 10 %, however many pods, containers and events there are. With 50 ms per call that
is 165 ms. The sequential mode makes the same calls one after another, for comparison.

Run: `make bench` (or `.venv/bin/python -m bench.triage_latency [--runs N] [--latency S]`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from bot.config import Config, Environment
from bot.simcluster import SimCluster, load_scenarios
from bot.triage import Triager

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    target_ms = 3 * args.latency * 1000 * 1.1
    rows = ["| workload | mode | API calls | median ms | min ms | p90 ms |", "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp, SimCluster(load_scenarios(), latency=args.latency).running() as sim:
        kubeconfig = sim.write_kubeconfig(Path(tmp) / "kubeconfig", context="sim")
        env = Environment(context="sim", kubeconfig=str(kubeconfig), namespaces=["shop", "payments"])
        config = Config(environments={"bench": env})
        for label, namespace, name, replicas in CASES:
            if replicas:
                _scale(kubeconfig, namespace, name, replicas)
            for mode, sequential in (("concurrent", False), ("sequential", True)):
                triager = Triager(config, sequential=sequential)
                before = len(sim.requests)
                samples = asyncio.run(_measure(triager, namespace, name, args.runs))
                calls = (len(sim.requests) - before) // (args.runs + 1)
                triager.close()
                rows.append(_row(label, mode, samples, calls))
    print(f"latency per API call: {args.latency * 1000:.0f} ms; target (3 round trips + 10%): {target_ms:.0f} ms\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
