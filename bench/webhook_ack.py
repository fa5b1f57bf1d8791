"""Benchmark: webhook ack latency (p50/p99) and alerts/s, with every alert committed to SQL before the ack.

The bot runs for real (aiohttp on a loopback port, its incident queue on, the simulated cluster and the Slack
stand-in behind it); a client posts Alertmanager v4 deliveries of one alert each, first one at a time (latency),
then 32 at a time (throughput). Run on SQLite and on PostgreSQL in the same run, then check every accepted alert
is in the database.

Run: `make bench` (or `.venv/bin/python -m bench.webhook_ack [--requests N] [--concurrency C]`).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from bot.app import AppOptions, build_app
from bot.core.config import Config, Environment
from bot.core.settings import Settings
from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.devtools.slackstub import SlackStandIn
from bot.incidents.queue import WorkerSettings
from bot.wiring import SERVICES
from tests.databases import create_pg_database, drop_pg_database

TOKEN = "bench-token"


def _payload(n: int) -> dict[str, Any]:
    labels = {"alertname": "PodCrashLoopBackOff", "namespace": "shop", "deployment": "ledger-api", "cluster": "sim-1"}
    alert = {"status": "firing", "labels": labels, "startsAt": "2026-11-25T10:00:00Z", "fingerprint": f"bench-{n}"}
    return {"version": "4", "status": "firing", "alerts": [alert]}


async def _one(http: aiohttp.ClientSession, url: str, n: int) -> float:
    started = time.perf_counter()
    async with http.post(url, json=_payload(n), headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status == 202, await response.text()
        await response.read()
    return time.perf_counter() - started


def _stats(label: str, samples: list[float], wall: float) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"| {label} | {len(ms)} | {statistics.median(ms):.1f} | {p99:.1f} | {len(ms) / wall:.0f} |"


async def _run(
    db_label: str, db_url: str, config: Config, slack_url: str, requests: int, concurrency: int
) -> list[str]:
    settings = Settings(
        slack_bot_token=SecretStr("xoxb-test"),
        slack_signing_secret=SecretStr("s"),
        crashloop_webhook_token=SecretStr(TOKEN),
        crashloop_database_url=SecretStr(db_url),
        slack_api_url=slack_url,
    )
    app = build_app(config, settings, AppOptions(slack_min_interval=0.0, worker=WorkerSettings(poll_seconds=0.5)))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/alerts/alertmanager"
    rows = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
            started = time.perf_counter()
            sequential = [await _one(http, url, n) for n in range(requests // 4)]
            rows.append(_stats(f"{db_label}, one at a time", sequential, time.perf_counter() - started))
            base = requests // 4
            gate = asyncio.Semaphore(concurrency)

            async def limited(n: int) -> float:
                async with gate:
                    return await _one(http, url, n)

            started = time.perf_counter()
            parallel = await asyncio.gather(*(limited(base + n) for n in range(requests)))
            rows.append(_stats(f"{db_label}, {concurrency} concurrent", list(parallel), time.perf_counter() - started))
        stored = await app[SERVICES].store.count_alerts()
        assert stored == base + requests, f"{stored} stored, {base + requests} accepted"
    finally:
        await runner.cleanup()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    rows = ["| database, mode | requests | p50 ms | p99 ms | alerts/s |", "|---|---|---|---|---|"]
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimCluster(load_scenarios(["ledger-api"])).running() as sim,
        SlackStandIn(channels=["C0INCIDENTS"]).running() as slack,
    ):
        kubeconfig = sim.write_kubeconfig(Path(tmp) / "kubeconfig", context="sim")
        env = Environment(context="sim", kubeconfig=str(kubeconfig), namespaces=["shop"], channel="C0INCIDENTS")
        config = Config(environments={"bench": env})
        rows += asyncio.run(
            _run(
                "SQLite", f"sqlite+aiosqlite:///{tmp}/bench.db", config, slack.api_url, args.requests, args.concurrency
            )
        )
        pg_url = asyncio.run(create_pg_database())
        try:
            rows += asyncio.run(_run("PostgreSQL", pg_url, config, slack.api_url, args.requests, args.concurrency))
        finally:
            asyncio.run(drop_pg_database(pg_url))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
