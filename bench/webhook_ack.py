"""Benchmark: webhook ack latency (p50/p95/p99/max) and alerts/s, every alert committed to SQL before its 202.

A real `crashloop serve` runs in a process of its own (its incident queue and restart sampler on, the simulated
cluster and the Slack stand-in behind it); this process is the load generator: Alertmanager v4 deliveries of one
alert each, bodies and headers built before the clock starts, sent over keep-alive connections by an aiohttp
client. First `--requests / 4` one at a time (latency), then `--requests` with `--concurrency` senders in flight,
each sending its next delivery as soon as the last is answered. Measuring starts as soon as `/readyz` answers, so
whatever the bot does at start (the sampler's first sweep, the first triage) is inside the figures. SQLite and
PostgreSQL run in the same run, round after round; each run ends by checking that every accepted alert is in the
database. CPU seconds of the server and of the load generator's thread are reported for the concurrent phase: on
2 cores, the generator's share is CPU the server does not get.

`--tree LABEL=PATH` (repeatable) runs the server from another checkout (e.g. `before=/work/ackp99-before`, a
`git worktree` of main) with this benchmark and this venv, so before and after are measured under the same load.

Run: `.venv/bin/python -m bench.webhook_ack [--requests 2000] [--concurrency 32] [--rounds 1] [--tree L=PATH]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.fleet import TOKEN, BotProcess, percentile
from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.devtools.slackstub import SlackStandIn
from bot.store import Store
from tests.databases import create_pg_database, drop_pg_database

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _body(n: int, run: str) -> bytes:
    labels = {"alertname": "PodCrashLoopBackOff", "namespace": "shop", "deployment": "ledger-api", "cluster": "sim-1"}
    alert = {"status": "firing", "labels": labels, "startsAt": "2026-11-25T10:00:00Z", "fingerprint": f"{run}-{n}"}
    return json.dumps({"version": "4", "status": "firing", "alerts": [alert]}).encode()


@dataclass
class Phase:
    label: str
    samples: list[float]
    wall: float
    server_cpu: float | None = None
    client_cpu: float | None = None

    def row(self) -> str:
        ms = [s * 1000 for s in self.samples]
        cpu = "" if self.server_cpu is None else f"{self.server_cpu:.1f} / {self.client_cpu:.1f}"
        return (
            f"| {self.label} | {len(ms)} | {percentile(ms, 0.5):.1f} | {percentile(ms, 0.95):.1f} | "
            f"{percentile(ms, 0.99):.1f} | {max(ms):.1f} | {len(ms) / self.wall:.0f} | {cpu} |"
        )


HEADER = [
    "| server, database, phase | requests | p50 ms | p95 ms | p99 ms | max ms | alerts/s | CPU s server / client |",
    "|---|---|---|---|---|---|---|---|",
]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


async def _post(http: aiohttp.ClientSession, url: str, body: bytes) -> float:
    started = time.perf_counter()
    async with http.post(url, data=body, headers=HEADERS) as response:
        await response.read()
        if response.status != 202:
            raise AssertionError(f"{response.status}: {await response.text()}")
    return time.perf_counter() - started


async def _measure(bot: BotProcess, label: str, requests: int, concurrency: int) -> list[Phase]:
    assert bot.process is not None
    url = f"{bot.url}/alerts/alertmanager"
    sequential_bodies = [_body(n, "seq") for n in range(requests // 4)]
    parallel_bodies = [_body(n, "par") for n in range(requests)]
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector, skip_auto_headers=["User-Agent"]) as http:
        await bot.wait_ready(http)
        started = time.perf_counter()
        sequential = [await _post(http, url, body) for body in sequential_bodies]
        phases = [Phase(f"{label}, one at a time", sequential, time.perf_counter() - started)]

        queue = iter(parallel_bodies)
        parallel: list[float] = []

        async def sender() -> None:
            for body in queue:  # one shared iterator: each sender takes the next delivery when answered
                parallel.append(await _post(http, url, body))

        server_cpu, client_cpu = _cpu_seconds(bot.process.pid), time.thread_time()
        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        wall = time.perf_counter() - started
        phase = Phase(f"{label}, {concurrency} concurrent", parallel, wall)
        phase.server_cpu = _cpu_seconds(bot.process.pid) - server_cpu
        phase.client_cpu = time.thread_time() - client_cpu
        phases.append(phase)
    store = Store(bot.database_url)
    try:
        stored = await store.count_alerts()
    finally:
        await store.close()
    accepted = len(sequential_bodies) + len(parallel_bodies)
    assert stored == accepted, f"{stored} alerts stored, {accepted} acknowledged"
    return phases


def _serve_and_measure(
    tmp: Path, kubeconfig: Path, slack_url: str, tree: Path | None, db: str, label: str, args: argparse.Namespace
) -> list[Phase]:
    workdir = Path(tempfile.mkdtemp(dir=tmp))
    pg_url = asyncio.run(create_pg_database()) if db == "PostgreSQL" else None
    url = pg_url or f"sqlite+aiosqlite:///{workdir}/bench.db"
    bot = BotProcess(workdir, kubeconfig, slack_url, url, tree=tree)
    bot.start()
    try:
        return asyncio.run(_measure(bot, label, args.requests, args.concurrency))
    except Exception:
        print((workdir / f"bot-{bot.starts}.log").read_text()[-3000:])
        raise
    finally:
        bot.stop()
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            shutil.copy(
                workdir / f"bot-{bot.starts}.log", args.logs / f"{label.replace(', ', '-').replace(' ', '_')}.log"
            )
        if pg_url:
            asyncio.run(drop_pg_database(pg_url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="repeat every server/database pair this often")
    parser.add_argument("--tree", action="append", default=[], help="LABEL=PATH: a checkout to run the server from")
    parser.add_argument("--database", action="append", choices=["SQLite", "PostgreSQL"], default=[])
    parser.add_argument("--logs", type=Path, help="keep each server's log in this directory")
    args = parser.parse_args()
    trees: list[tuple[str, Path | None]] = [(t.split("=", 1)[0], Path(t.split("=", 1)[1])) for t in args.tree]
    trees = trees or [("this tree", None)]
    databases = args.database or ["SQLite", "PostgreSQL"]
    rows = list(HEADER)
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimCluster(load_scenarios(["ledger-api"])).running() as sim,
        SlackStandIn(channels=["C0INCIDENTS"]).running() as slack,
    ):
        kubeconfig = sim.write_kubeconfig(Path(tmp) / "kubeconfig", context="sim")
        for round_ in range(args.rounds):
            for name, tree in trees:
                for db in databases:
                    loadavg = Path("/proc/loadavg").read_text().split()[:3]
                    label = f"{name}, {db}" + (f" (round {round_ + 1})" if args.rounds > 1 else "")
                    phases = _serve_and_measure(Path(tmp), kubeconfig, slack.api_url, tree, db, label, args)
                    rows += [p.row() for p in phases]
                    print(*(p.row() for p in phases), f"  loadavg before: {' '.join(loadavg)}", sep="\n", flush=True)
    print("\n".join(rows))
    print(f"loadavg after: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
