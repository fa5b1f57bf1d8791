"""Benchmark: recovery after SIGKILL — how long until the last workloads of a storm are posted after a restart.

A real `crashloop serve` (SQLite) takes a storm (1,000 alerts over 20 workloads, 32 senders); right after the
last 202 it is killed with SIGKILL, holding claimed alerts and maybe a root message posted but not recorded. It is
started again at once. Measured from the restart: ready, first Slack message, last workload posted, every alert
processed. Checked: one root message per workload (none posted twice), no acknowledged alert lost. Before issue
13, claimed alerts waited for a 120 s lease (the last workloads came 130 s after the kill).

Run: `.venv/bin/python -m bench.recovery [--workloads 20] [--per-workload 50] [--runs 3]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from bench.fleet import CHANNEL, BotProcess, roots_by_workload, scenarios, send, storm_alerts
from bot.devtools.simcluster import SimCluster
from bot.devtools.slackstub import SlackStandIn
from bot.store import Store


async def _one_run(bot: BotProcess, slack: SlackStandIn, workloads: int, per_workload: int) -> dict[str, float]:
    slack.reset()
    slack.rate_limit_per_channel(1.0, burst=1, methods=("chat.postMessage", "chat.update"))
    bot.start()
    async with aiohttp.ClientSession() as http:
        await bot.wait_ready(http)
        alerts = storm_alerts(workloads, per_workload)
        await send(http, bot.url, alerts, per_delivery=10, concurrency=32)
        bot.kill()
        killed = time.monotonic()
        roots_before = len(roots_by_workload(slack.channel_messages(CHANNEL)))
        posts_before = len(slack.calls)
        bot.start()
        ready = await bot.wait_ready(http)
        store = Store(bot.database_url)
        first_post = None
        try:
            while True:
                if first_post is None and len(slack.calls) > posts_before:
                    first_post = time.monotonic() - killed
                roots = roots_by_workload(slack.channel_messages(CHANNEL))
                if len(roots) >= workloads and await store.count_alerts("pending") == 0:
                    break
                if time.monotonic() - killed > 600:
                    raise TimeoutError(f"{len(roots)} of {workloads} workloads posted 10 minutes after the kill")
                await asyncio.sleep(0.2)
            last = time.monotonic() - killed
            processed = await store.count_alerts("processed")
        finally:
            await store.close()
    bot.stop()
    duplicates = {w: n for w, n in roots.items() if n > 1}
    assert not duplicates, f"posted twice: {duplicates}"
    assert processed == len(alerts), f"{processed} of {len(alerts)} processed"
    return {
        "roots_before": roots_before,
        "ready": ready,
        "first": first_post if first_post is not None else last,
        "last": last,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workloads", type=int, default=20)
    parser.add_argument("--per-workload", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = [
        "| run | workloads posted before the kill | ready after restart | first message | last workload posted |",
        "|---|---|---|---|---|",
    ]
    lasts = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimCluster(scenarios(args.workloads)).running() as sim,
        SlackStandIn(channels=[CHANNEL]).running() as slack,
    ):
        kubeconfig = sim.write_kubeconfig(Path(tmp) / "kubeconfig", context="sim")
        for run in range(1, args.runs + 1):
            url = f"sqlite+aiosqlite:///{tmp}/recovery-{run}.db"
            bot = BotProcess(Path(tmp), kubeconfig, slack.api_url, url)
            try:
                r = asyncio.run(_one_run(bot, slack, args.workloads, args.per_workload))
            finally:
                bot.stop()
            lasts.append(r["last"])
            rows.append(
                f"| {run} | {r['roots_before']:.0f} of {args.workloads} | {r['ready']:.1f} s | "
                f"{r['first']:.1f} s | {r['last']:.1f} s |"
            )
    rows.append(f"\ntimes from the SIGKILL; median time to the last workload: {statistics.median(lasts):.1f} s")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
