"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from pathlib import Path

from bot.core.config import Config, Environment
from tests.service.conftest import Bot, BotFactory


async def test_healthz(bot: Bot) -> None:
    response = await bot.client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_kubernetes(bot: Bot) -> None:
    response = await bot.client.get("/readyz")
    body = await response.json()
    assert response.status == 200, body
    assert body == {"ready": True, "checks": {"database": "ok", "kubernetes:prod": "ok"}}


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
