"""Benchmark: an alert storm — 10,000 alerts over 200 workloads while Slack answers 429s.

A real `crashloop serve` (SQLite), the simulated cluster with 200 crash-looping Deployments, the Slack stand-in
limiting the channel to 1 message/s (429 + Retry-After beyond it) and answering the first 20 posts 429 anyway.
32 senders deliver the storm (10 alerts a delivery). Checked: every delivery acknowledged 202, exactly one root
message per workload (200), every alert processed (none lost), the channel never above 1 message/s. Measured:
ack latency, time until the last workload is posted, RSS idle and at the peak.

Run: `.venv/bin/python -m bench.storm [--workloads 200] [--per-workload 50]`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.fleet import (
    CHANNEL,
    BotProcess,
    pacing,
    percentile,
    roots_by_workload,
    scenarios,
    send,
    storm_alerts,
)
from bot.devtools.simcluster import SimCluster
from bot.devtools.slackstub import SlackStandIn
from bot.store import Store


async def _storm(bot: BotProcess, slack: SlackStandIn, workloads: int, per_workload: int) -> list[str]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as http:
        await bot.wait_ready(http)
        await asyncio.sleep(3)
        idle_kb = bot.status_kb("VmRSS")
        alerts = storm_alerts(workloads, per_workload)
        started = time.monotonic()
        acks = await send(http, bot.url, alerts, per_delivery=10, concurrency=32)
        acked = time.monotonic() - started
        store = Store(bot.database_url)
        try:
            while True:
                roots = roots_by_workload(slack.channel_messages(CHANNEL))
                pending = await store.count_alerts("pending")
                if len(roots) >= workloads and pending == 0:
                    break
                if time.monotonic() - started > 1800:
                    raise TimeoutError(f"{len(roots)} roots and {pending} pending alerts after 30 minutes")
                await asyncio.sleep(0.5)
            last_root = time.monotonic() - started
            processed = await store.count_alerts("processed")
        finally:
            await store.close()
        peak_kb = bot.status_kb("VmHWM")
    duplicates = {w: n for w, n in roots.items() if n > 1}
    most, gap = pacing(slack.calls, CHANNEL)
    limited = sum(1 for c in slack.calls if c.http_status == 429)
    assert not duplicates, f"posted twice: {duplicates}"
    assert len(roots) == workloads, f"{len(roots)} roots for {workloads} workloads"
    assert processed == len(alerts), f"{processed} of {len(alerts)} alerts processed"
    return [
        "| measure | value |",
        "|---|---|",
        f"| alerts / workloads / deliveries | {len(alerts)} / {workloads} / {len(acks)} (32 senders) |",
        f"| every delivery acknowledged 202 | yes, in {acked:.1f} s |",
        f"| ack p50 / p99 | {percentile(acks, 0.5) * 1000:.0f} ms / {percentile(acks, 0.99) * 1000:.0f} ms |",
        f"| root messages | {sum(roots.values())} (one per workload, none twice) |",
        f"| alerts processed | {processed} of {len(alerts)} (none lost) |",
        f"| 429s answered by Slack | {limited} |",
        f"| most messages in any 1 s / smallest gap | {most} / {gap:.2f} s |",
        f"| last workload posted after | {last_root:.0f} s |",
        f"| RSS idle / peak | {idle_kb / 1024:.0f} MB / {peak_kb / 1024:.0f} MB |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", type=int, default=200)
    parser.add_argument("--per-workload", type=int, default=50)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimCluster(scenarios(args.workloads)).running() as sim,
        SlackStandIn(channels=[CHANNEL]).running() as slack,
    ):
        slack.rate_limit_per_channel(1.0, burst=1, methods=("chat.postMessage", "chat.update"))
        slack.fail("chat.postMessage", status=429, retry_after=1, times=20)
        kubeconfig = sim.write_kubeconfig(Path(tmp) / "kubeconfig", context="sim")
        bot = BotProcess(Path(tmp), kubeconfig, slack.api_url, f"sqlite+aiosqlite:///{tmp}/storm.db")
        bot.start()
        try:
            rows = asyncio.run(_storm(bot, slack, args.workloads, args.per_workload))
        finally:
            bot.stop()
    print("\n".join(rows))


if __name__ == "__main__":
    main()
