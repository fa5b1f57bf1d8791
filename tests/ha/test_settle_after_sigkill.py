"""A replica SIGKILLed mid-apply: the surviving replica settles its change within 30 s, by the patch it kept.

Two real `crashloop serve` processes on one PostgreSQL (tests/ha/test_two_replicas.py). Alice confirms a
rollout_undo on replica 0; the simulated API server takes the PATCH (or not) and holds its answer; replica 0 is
killed with SIGKILL while it waits. Replica 1 sees its heartbeat stop and re-reads the workload against the patch
replica 0 kept in SQL: landed → applied and watched, not landed → failed and the workload's lock released.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from typing import Any

import aiohttp
import pytest

from bot.devtools.simcluster import SimCluster
from bot.devtools.slackstub import SlackStandIn
from bot.devtools.slackstub.signing import block_actions_body, signed_headers
from bot.store import Store
from bot.store.audit import AuditLog
from bot.store.changes import ChangeRow
from tests.ha.test_two_replicas import CHANNEL, TOKEN, _wait, cluster, http, pg, replicas, slack  # noqa: F401

ALICE = "U0ONCALL1"
SETTLED_WITHIN = 30.0
UNDONE_IMAGE = "registry.example.com/shop/web-app:2.3.1"


async def _ready(http: aiohttp.ClientSession, port: int) -> bool:  # noqa: F811
    try:
        async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def _click(
    http: aiohttp.ClientSession,  # noqa: F811
    slack: SlackStandIn,  # noqa: F811
    port: int,
    action_id: str,
    value: str,
    root_ts: str,
) -> None:
    url = slack.mint_response_url(CHANNEL, user=ALICE, message_ts=root_ts)
    body = block_actions_body(
        action_id, value, user_id=ALICE, channel_id=CHANNEL, message_ts=root_ts, response_url=url, trigger_id="1.2.3"
    )
    headers = signed_headers("s", body)
    async with http.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as response:
        assert response.status == 200, await response.text()


def _button(blocks: list[dict[str, Any]], action_id: str) -> str | None:
    for block in blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element["value"])
    return None


@pytest.mark.parametrize("landed", [True, False], ids=["patch-landed", "patch-not-landed"])
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
    pod = next(
        p["metadata"]["name"] for p in cluster.list_objects("v1", "pods", "shop") if "web-app" in p["metadata"]["name"]
    )
    labels = {"alertname": "PodCrashLoopBackOff", "namespace": "shop", "pod": pod, "cluster": "sim-1"}
    alert = {"status": "firing", "labels": labels, "startsAt": "2026-12-03T10:00:00Z", "fingerprint": "settle-1"}
    async with http.post(
        f"http://127.0.0.1:{port}/alerts/alertmanager",
        json={"version": "4", "status": "firing", "alerts": [alert]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as response:
        assert response.status == 202

    async def root() -> Any:
        return next((m for m in slack.channel_messages(CHANNEL) if _button(m.blocks, "runbook.rollout_undo")), None)

    message = await _wait(root)
    await _click(
        http, slack, port, "runbook.rollout_undo", str(_button(message.blocks, "runbook.rollout_undo")), message.ts
    )

    async def preview() -> str | None:
        return next(
            (
                _button(e.blocks, "change.confirm")
                for e in slack.ephemerals(CHANNEL, ALICE)
                if _button(e.blocks, "change.confirm")
            ),
            None,
        )

    cid = str(await _wait(preview))
    fault: dict[str, Any] = {"land": True} if landed else {"status": 504}
    cluster.add_fault(verb="patch", resource="deployments", name="web-app", delay=120.0, dry_run=False, **fault)
    await _click(http, slack, port, "change.confirm", cid, message.ts)

    store = Store(pg)
    try:

        async def in_flight() -> ChangeRow | None:
            change = await store.changes.get(cid)
            return change if change is not None and change.state == "applying" and change.held_patch else None

        applying = await _wait(in_flight)
        if landed:
            await _wait(lambda: _image_is(cluster, UNDONE_IMAGE))
        await asyncio.sleep(0.5)  # the PATCH is on the wire, its answer held back by the API server
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed = time.monotonic()

        async def settled() -> ChangeRow | None:
            change = await store.changes.get(cid)
            return change if change is not None and change.state != "applying" else None

        change = await _wait(settled, within=SETTLED_WITHIN + 10)
        assert time.monotonic() - killed <= SETTLED_WITHIN
        assert change.applied_by == applying.applied_by  # settled by the survivor, for the killed replica
        assert f"instance {applying.applied_by} stopped while applying it" in (change.detail or "")
        records = [r.event.action for r in await AuditLog(store.engine).list(workload="web-app")]
        if landed:
            assert change.state in ("verifying", "verified", "not_recovered")
            assert records.count("applied") == 1
            assert "failed" not in records
        else:
            assert change.state == "failed"
            assert "applied" not in records
            assert await store.changes.active_for("prod", "shop", "web-app") is None
            assert _image(cluster) != UNDONE_IMAGE
    finally:
        await store.close()


def _image(cluster: SimCluster) -> str:  # noqa: F811
    deployment = cluster.get_object("apps/v1", "deployments", "shop", "web-app")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


async def _image_is(cluster: SimCluster, image: str) -> bool:  # noqa: F811
    return _image(cluster) == image
