"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from bot.core.config import Config, Environment
from bot.store.engine import BUSY_TIMEOUT
from tests.service.conftest import Bot, BotFactory, am_alert, am_payload, eventually


async def test_healthz(bot: Bot) -> None:
    response = await bot.client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_kubernetes(bot: Bot) -> None:
    response = await bot.client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body
    assert body == {"ready": True, "checks": {"database": "ok", "database_writes": "ok", "kubernetes:prod": "ok"}}


async def test_readyz_is_503_when_kubernetes_is_unreachable(bot_factory: BotFactory, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "dead.kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
        "clusters: [{name: dead, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: dead, user: {token: x}}]\n"
        "contexts: [{name: dead, context: {cluster: dead, user: dead}}]\n"
    )
    env = Environment(context="dead", kubeconfig=str(kubeconfig), namespaces=["shop"], channel="C0INCIDENTS")
    bot = await bot_factory(config=Config(environments={"prod": env}))
    response = await bot.client.get("/readyz")
    body = await response.json()
    assert response.status == 503
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["kubernetes:prod"].startswith("failed")


async def test_metrics_are_prometheus_text(bot: Bot) -> None:
    response = await bot.client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    for name in (
        "crashloop_alerts_received_total",
        "crashloop_triage_duration_seconds",
        "crashloop_queue_depth",
        "crashloop_slack_api_calls_total",
        "crashloop_actions_total",
        "crashloop_leader",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text or f"# TYPE {name}" in text


async def test_a_locked_database_answers_503_in_bounded_time_and_readyz_says_so(
    bot_factory: BotFactory, tmp_path: Path
) -> None:
    path = tmp_path / "locked.db"
    bot = await bot_factory(f"sqlite+aiosqlite:///{path}", heartbeat_seconds=0.3)
    await eventually(lambda: bot.services.store.instances.registered)
    # another process holds the write lock; taken from a thread, so that a write of the bot in progress (the
    # heartbeat, the sampler's first sweep) can finish on the event loop while the holder waits for it
    holder = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    await asyncio.to_thread(holder.execute, "BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        response = await bot.alerts(am_payload(am_alert("shop", "p")))
        assert response.status == 503
        assert (await response.json())["error"] == "store_unavailable"
        assert time.monotonic() - started < 2 * BUSY_TIMEOUT + 2  # bounded (it was 30 s per webhook)

        async def not_ready() -> object:
            answer = await bot.client.get("/readyz")
            return answer.status == 503 and await answer.json()

        body = await eventually(not_ready, within=2 * BUSY_TIMEOUT + 5)
        assert body["checks"]["database_writes"].startswith("failed: ")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    async def ready_again() -> bool:
        return (await bot.client.get("/readyz")).status == 200

    await eventually(ready_again, within=2 * BUSY_TIMEOUT + 5)
    assert (await bot.alerts(am_payload(am_alert("shop", "p")))).status == 202
