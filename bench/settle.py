"""Benchmark: a change settled after SIGKILL mid-apply — by a surviving replica, and by the restarted process.

A real `crashloop serve` (SQLite) posts an incident for `web-app`; Alice's rollout_undo is confirmed; the simulated
API server takes the PATCH and holds its answer; the process applying it gets SIGKILL. Measured from the kill:
the moment the change leaves `applying` in SQL (applied and watched: the patch kept in SQL is in the workload).

- survivor: a second process on the same database settles it once its peer's heartbeat is 15 s old (the next
  2 s poll, then a re-read);
- restart: the killed process is started again at once and settles its predecessor's change at start (same host,
  pid gone: dead at once) — start-up dominates.

Before: a change left `applying` was settled by the leader after 5 minutes, by the workload's generation.

Run: `.venv/bin/python -m bench.settle [--runs 3]`.
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

from bench.fleet import CHANNEL, NAMESPACE, TOKEN, BotProcess
from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.devtools.slackstub import SlackStandIn
from bot.devtools.slackstub.signing import block_actions_body, signed_headers
from bot.store import Store

ALICE = "U0ONCALL1"
ACCESS = {"access": {"responders": [ALICE]}}


def _button(blocks: list[dict[str, Any]] | None, action_id: str) -> str | None:
    for block in blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    return None


async def _until(check: Any, within: float = 120.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError(f"not within {within}s")


async def _click(
    http: aiohttp.ClientSession, slack: SlackStandIn, bot: BotProcess, action: str, value: str, ts: str
) -> None:
    url = slack.mint_response_url(CHANNEL, user=ALICE, message_ts=ts)
    body = block_actions_body(
        action, value, user_id=ALICE, channel_id=CHANNEL, message_ts=ts, response_url=url, trigger_id="1.2.3"
    )
    async with http.post(f"{bot.url}/slack/events", data=body, headers=signed_headers("s", body)) as response:
        assert response.status == 200, await response.text()


async def _kill_mid_apply(http: aiohttp.ClientSession, sim: SimCluster, slack: SlackStandIn, bot: BotProcess) -> str:
    """Alert, preview, confirm with the PATCH's answer held back; SIGKILL once the patch landed. The change id."""
    pod = next(
        p["metadata"]["name"] for p in sim.list_objects("v1", "pods", NAMESPACE) if "web-app" in p["metadata"]["name"]
    )
    labels = {"alertname": "PodCrashLoopBackOff", "namespace": NAMESPACE, "pod": pod}
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": labels, "fingerprint": "settle"}],
    }
    async with http.post(
        f"{bot.url}/alerts/alertmanager", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as r:
        assert r.status == 202

    async def root() -> Any:
        return next((m for m in slack.channel_messages(CHANNEL) if _button(m.blocks, "runbook.rollout_undo")), None)

    message = await _until(root)
    await _click(
        http, slack, bot, "runbook.rollout_undo", str(_button(message.blocks, "runbook.rollout_undo")), message.ts
    )

    async def preview() -> str | None:
        return next((v for e in slack.ephemerals(CHANNEL, ALICE) if (v := _button(e.blocks, "change.confirm"))), None)

    cid = str(await _until(preview))
    sim.add_fault(verb="patch", resource="deployments", name="web-app", delay=90.0, land=True, dry_run=False)
    await _click(http, slack, bot, "change.confirm", cid, message.ts)
    store = Store(bot.database_url)
    try:

        async def landed() -> bool:
            change = await store.changes.get(cid)
            deployment = sim.get_object("apps/v1", "deployments", NAMESPACE, "web-app")
            image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
            return bool(change and change.held_patch and image.endswith(":2.3.1"))

        await _until(landed)
    finally:
        await store.close()
    bot.kill()
    return cid


async def _settled_after(url: str, cid: str, killed: float) -> float:
    store = Store(url)
    try:

        async def settled() -> bool:
            change = await store.changes.get(cid)
            return change is not None and change.state != "applying"

        await _until(settled, within=600)
        seconds = time.monotonic() - killed
        change = await store.changes.get(cid)
        assert change is not None
        assert change.state in ("verifying", "verified"), change.state  # the patch had landed: applied
        return seconds
    finally:
        await store.close()


async def _one_run(tmp: Path, kubeconfig: Path, slack: SlackStandIn, sim: SimCluster, run: int, mode: str) -> float:
    url = f"sqlite+aiosqlite:///{tmp}/settle-{mode}-{run}.db"
    applier = BotProcess(tmp, kubeconfig, slack.api_url, url, config_extra=ACCESS, name=f"{mode}-{run}-a")
    peer = BotProcess(tmp, kubeconfig, slack.api_url, url, config_extra=ACCESS, name=f"{mode}-{run}-b")
    try:
        async with aiohttp.ClientSession() as http:
            applier.start()
            await applier.wait_ready(http, within=120)
            if mode == "survivor":
                peer.start()
                await peer.wait_ready(http, within=120)
            cid = await _kill_mid_apply(http, sim, slack, applier)
            killed = time.monotonic()
            if mode == "restart":
                applier.start()
            return await _settled_after(url, cid, killed)
    finally:
        applier.stop()
        peer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"survivor": [], "restart": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(1, args.runs + 1):
            for mode in results:
                with (
                    SimCluster(load_scenarios(["web-app"])).running() as sim,
                    SlackStandIn(channels=[CHANNEL]).running() as slack,
                ):
                    kubeconfig = sim.write_kubeconfig(Path(tmp) / f"kubeconfig-{mode}-{run}", context="sim")
                    results[mode].append(asyncio.run(_one_run(Path(tmp), kubeconfig, slack, sim, run, mode)))
    print("| settled by | runs (s from the SIGKILL) | median |")
    print("|---|---|---|")
    for mode, times in results.items():
        print(f"| {mode} | {', '.join(f'{t:.1f}' for t in times)} | {statistics.median(times):.1f} s |")


if __name__ == "__main__":
    main()
