"""A process SIGKILLed mid-apply: its change is settled within 30 s, by the patch it kept in SQL.

Real `crashloop serve` processes (tests/ha/test_two_replicas.py). Alice confirms a rollout_undo; the simulated API
server takes the PATCH (or not) and holds its answer; the applying process is killed with SIGKILL while it waits.
- two replicas on PostgreSQL: the survivor sees the killed one's heartbeat stop and settles its change;
- one process on SQLite, restarted at once: it finds its predecessor dead (same host, pid gone) and settles the
  change at start.
Settling re-reads the workload against the kept patch: landed → applied and watched; not landed → failed and the
workload's lock released.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.devtools.simcluster import SimCluster
from bot.devtools.slackstub import SlackStandIn
from bot.devtools.slackstub.signing import block_actions_body, signed_headers
from bot.store import Store
from bot.store.audit import AuditLog
from bot.store.changes import ChangeRow
from tests.ha.test_two_replicas import (  # noqa: F401  (cluster, http, pg, replicas, slack are fixtures)
    CHANNEL,
    TOKEN,
    _config,
    _free_port,
    _wait,
    cluster,
    http,
    pg,
    replicas,
    slack,
)

ALICE = "U0ONCALL1"
SETTLED_WITHIN = 30.0
UNDONE_IMAGE = "registry.example.com/shop/web-app:2.3.1"
LANDED = pytest.mark.parametrize("landed", [True, False], ids=["patch-landed", "patch-not-landed"])


async def _ready(client: aiohttp.ClientSession, port: int) -> bool:
    try:
        async with client.get(f"http://127.0.0.1:{port}/readyz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


def _button(blocks: list[dict[str, Any]] | None, action_id: str) -> str | None:
    for block in blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    return None


def _image(sim: SimCluster) -> str:
    deployment = sim.get_object("apps/v1", "deployments", "shop", "web-app")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


async def _click(
    client: aiohttp.ClientSession,
    stub: SlackStandIn,
    port: int,
    action_id: str,
    value: str,
    root_ts: str,
) -> None:
    url = stub.mint_response_url(CHANNEL, user=ALICE, message_ts=root_ts)
    body = block_actions_body(
        action_id, value, user_id=ALICE, channel_id=CHANNEL, message_ts=root_ts, response_url=url, trigger_id="1.2.3"
    )
    async with client.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=signed_headers("s", body)) as r:
        assert r.status == 200, await r.text()


async def _kill_mid_apply(
    client: aiohttp.ClientSession,
    stub: SlackStandIn,
    sim: SimCluster,
    store: Store,
    port: int,
    process: subprocess.Popen[bytes],
    *,
    landed: bool,
) -> tuple[ChangeRow, float]:
    """Alert, preview and confirm on `port`; SIGKILL its process while the PATCH's answer is held back.

    Returns the change as it was in flight and the monotonic time of the kill."""
    pod = next(
        p["metadata"]["name"] for p in sim.list_objects("v1", "pods", "shop") if "web-app" in p["metadata"]["name"]
    )
    labels = {"alertname": "PodCrashLoopBackOff", "namespace": "shop", "pod": pod, "cluster": "sim-1"}
    alert = {"status": "firing", "labels": labels, "startsAt": "2026-12-03T10:00:00Z", "fingerprint": "settle-1"}
    async with client.post(
        f"http://127.0.0.1:{port}/alerts/alertmanager",
        json={"version": "4", "status": "firing", "alerts": [alert]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as response:
        assert response.status == 202

    async def root() -> Any:
        return next((m for m in stub.channel_messages(CHANNEL) if _button(m.blocks, "runbook.rollout_undo")), None)

    message = await _wait(root)
    undo = str(_button(message.blocks, "runbook.rollout_undo"))
    await _click(client, stub, port, "runbook.rollout_undo", undo, message.ts)

    async def preview() -> str | None:
        return next((v for e in stub.ephemerals(CHANNEL, ALICE) if (v := _button(e.blocks, "change.confirm"))), None)

    cid = str(await _wait(preview))
    fault: dict[str, Any] = {"land": True} if landed else {"status": 504}
    sim.add_fault(verb="patch", resource="deployments", name="web-app", delay=120.0, dry_run=False, **fault)
    await _click(client, stub, port, "change.confirm", cid, message.ts)

    async def in_flight() -> ChangeRow | None:
        change = await store.changes.get(cid)
        on_the_wire = change is not None and change.state == "applying" and change.held_patch
        return change if on_the_wire and (_image(sim) == UNDONE_IMAGE) == landed else None

    applying = await _wait(in_flight)
    await asyncio.sleep(0.5)  # the PATCH is on the wire, its answer held back by the API server
    process.send_signal(signal.SIGKILL)
    process.wait()
    return applying, time.monotonic()


async def _check_settled(store: Store, sim: SimCluster, applying: ChangeRow, killed: float, landed: bool) -> None:
    async def settled() -> ChangeRow | None:
        change = await store.changes.get(applying.id)
        return change if change is not None and change.state != "applying" else None

    change = await _wait(settled, within=SETTLED_WITHIN + 10)
    assert time.monotonic() - killed <= SETTLED_WITHIN
    assert f"instance {applying.applied_by} stopped while applying it" in (change.detail or "")
    actions = [r.event.action for r in await AuditLog(store.engine).list(workload="web-app")]
    if landed:
        assert change.state in ("verifying", "verified", "not_recovered")
        assert actions.count("applied") == 1
        assert "failed" not in actions
    else:
        assert change.state == "failed"
        assert "applied" not in actions
        assert await store.changes.active_for("prod", "shop", "web-app") is None
        assert _image(sim) != UNDONE_IMAGE


@LANDED
async def test_the_survivor_settles_a_change_its_killed_peer_was_applying(
    replicas: list[tuple[int, subprocess.Popen[bytes]]],  # noqa: F811
    cluster: SimCluster,  # noqa: F811
    slack: SlackStandIn,  # noqa: F811
    http: aiohttp.ClientSession,  # noqa: F811
    pg: str,  # noqa: F811
    landed: bool,
) -> None:
    (port, process), (survivor, _) = replicas
    for p in (port, survivor):
        await _wait(lambda p=p: _ready(http, p), within=90.0)
    store = Store(pg)
    try:
        applying, killed = await _kill_mid_apply(http, slack, cluster, store, port, process, landed=landed)
        await _check_settled(store, cluster, applying, killed, landed)
    finally:
        await store.close()


def _serve(
    tmp: Path, config: Path, database_url: str, slack_api_url: str, port: int, n: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "s",
        "CRASHLOOP_WEBHOOK_TOKEN": TOKEN,
        "CRASHLOOP_DATABASE_URL": database_url,
        "SLACK_API_URL": slack_api_url,
        "CRASHLOOP_SECRETS_DIR": str(tmp / "none"),
    }
    command = [sys.executable, "-m", "bot.cli.main", "--config", str(config), "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log = (tmp / f"serve-{n}.log").open("wb")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


@LANDED
async def test_a_process_restarted_after_sigkill_settles_its_own_change_at_start(
    tmp_path: Path,
    cluster: SimCluster,  # noqa: F811
    slack: SlackStandIn,  # noqa: F811
    http: aiohttp.ClientSession,  # noqa: F811
    landed: bool,
) -> None:
    config = _config(tmp_path, cluster.write_kubeconfig(tmp_path / "kubeconfig", context="sim"))
    url, port = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", _free_port()
    first = _serve(tmp_path, config, url, slack.api_url, port, 1)
    restarted: subprocess.Popen[bytes] | None = None
    store = Store(url)
    try:
        await _wait(lambda: _ready(http, port), within=90.0)
        applying, killed = await _kill_mid_apply(http, slack, cluster, store, port, first, landed=landed)
        restarted = _serve(tmp_path, config, url, slack.api_url, port, 2)
        await _check_settled(store, cluster, applying, killed, landed)
    finally:
        await store.close()
        for process in (first, restarted):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
