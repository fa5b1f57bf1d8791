"""Silences reach only what the bot watches: the environment's namespaces, the workload's own pods.

The real Alertmanager of Debian's package (the fixtures of `test_silences`), the simulated cluster, signed Slack
requests and the CLI: a namespace outside the environment is refused at the door and again by the guard, at
preview and at apply, and nothing reaches Alertmanager.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bot.cli.main import cli
from bot.devtools.simcluster import SimCluster
from bot.devtools.slackstub.signing import slash_command_body
from bot.guard import proposals
from bot.guard.outcomes import Failed, Previewed, Refused
from bot.guard.trail import Actor
from tests.e2e.promstack import Server
from tests.service.conftest import CHANNEL, BotFactory, eventually, pods_of
from tests.service.test_guarded_actions import ALICE, told
from tests.service.test_silences import (
    alertmanager,
    am_alert_state,
    post_alert,
    receiver,
    silence_config,
    silences_in,
)

__all__ = ["alertmanager", "receiver"]  # the fixtures, used by name


@pytest.fixture
def etcd_pod(sim: SimCluster) -> Iterator[str]:
    """A pod in kube-system, a namespace the environment does not watch (only shop and payments)."""
    sim.create_object(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "etcd-node1", "namespace": "kube-system"},
            "spec": {"containers": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.5.15-0"}]},
        }
    )
    yield "etcd-node1"
    sim.delete_object("v1", "pods", "kube-system", "etcd-node1")


async def test_a_namespace_outside_the_environment_is_refused_at_the_door(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, alertmanager: Server, etcd_pod: str
) -> None:
    bot = await bot_factory(db_url, config=silence_config(kubeconfig, alertmanager.url))
    url = bot.slack.mint_response_url(CHANNEL, user=ALICE)
    body = slash_command_body(
        text=f"silence prod kube-system/{etcd_pod} 2h", user_id=ALICE, response_url=url, channel_id=CHANNEL
    )
    assert (await bot.slack_request(body)).status == 200
    refused = await told(bot, ALICE, "not one of prod's namespaces")
    assert "namespace kube-system is not one of prod's namespaces (shop, payments)" in refused.text
    assert await silences_in(alertmanager) == []


async def test_the_guard_refuses_it_at_preview_and_at_apply_whatever_door_made_the_proposal(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, alertmanager: Server, etcd_pod: str
) -> None:
    bot = await bot_factory(db_url, config=silence_config(kubeconfig, alertmanager.url))
    store, guard, actor = bot.services.store, bot.services.guard, Actor(ALICE)

    async def proposal() -> Any:
        return await proposals.for_workload(
            store,
            environment="prod",
            namespace="kube-system",
            workload=etcd_pod,
            kind="Pod",
            remedy="silence",
            params={"duration": "2h"},
            minutes=15,
            incident_id=None,
        )

    refused = await guard.request(actor, (await proposal()).id)
    assert isinstance(refused, Refused)
    assert "namespace kube-system is not one of prod's namespaces" in refused.reason
    records = await bot.services.audit.list(workload=etcd_pod)
    assert (records[-1].event.action, records[-1].event.outcome) == ("denied", "refused")

    # previewed while kube-system was watched, confirmed after it no longer is: the apply refuses too
    wide = silence_config(kubeconfig, alertmanager.url).model_dump()
    wide["environments"]["prod"]["namespaces"].append("kube-system")
    guard.silencing.config = type(bot.services.config).model_validate(wide)
    previewed = await guard.request(actor, (await proposal()).id)
    assert isinstance(previewed, Previewed), previewed
    guard.silencing.config = bot.services.config
    failed = await guard.confirm(actor, previewed.change.id)
    assert isinstance(failed, Failed)
    assert "namespace kube-system is not one of prod's namespaces" in failed.reason
    assert await silences_in(alertmanager) == []


async def test_the_cli_is_refused_too(
    kubeconfig: Path, tmp_path: Path, alertmanager: Server, monkeypatch: pytest.MonkeyPatch, etcd_pod: str
) -> None:
    config = silence_config(kubeconfig, alertmanager.url).model_dump(mode="json")
    config["access"]["responders"].append("cli:alice")
    config_file = tmp_path / "crashloop.yaml"
    config_file.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "no-secrets"))
    argv = ["--config", str(config_file), "act", "silence", "prod", etcd_pod, "-n", "kube-system", "--yes"]
    done = await asyncio.to_thread(CliRunner().invoke, cli, [*argv, "--as", "alice"], catch_exceptions=False)
    assert done.exit_code == 2, done.output
    assert "namespace kube-system is not one of prod's namespaces" in done.output
    assert await silences_in(alertmanager) == []


def deployment(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name[:63]}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.example.com/shop/app:1.0"}]},
            },
        },
    }


async def silence_request(bot: Any, kind: str, workload: str) -> Any:
    proposal = await proposals.for_workload(
        bot.services.store,
        environment="prod",
        namespace="shop",
        workload=workload,
        kind=kind,
        remedy="silence",
        params={"duration": "2h"},
        minutes=15,
        incident_id=None,
    )
    return await bot.services.guard.request(Actor(ALICE), proposal.id)


async def test_a_long_named_deployments_truncated_pod_names_are_silenced(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, alertmanager: Server, sim: SimCluster
) -> None:
    name = ("reconciliation-" * 5)[:56]  # `<name>-<hash>-` is cut to 58 characters: `<name>-<1 hash char>`
    sim.create_object(deployment(name, 2))
    try:
        bot = await bot_factory(db_url, config=silence_config(kubeconfig, alertmanager.url))
        pods = await eventually(lambda: [p for p in pods_of(sim, "shop", name)])
        assert all(len(p) == 63 for p in pods), pods
        previewed = await silence_request(bot, "Deployment", name)
        assert isinstance(previewed, Previewed), previewed
        done = await bot.services.guard.confirm(Actor(ALICE), previewed.change.id)
        assert not isinstance(done, (Failed, Refused)), done
        [silence] = await silences_in(alertmanager)
        alertname = f"Probe{uuid.uuid4().hex[:8]}"
        await post_alert(alertmanager, alertname, "shop", pods[0])
        state = await eventually(lambda: am_alert_state(alertmanager, alertname))
        assert state["silencedBy"] == [silence["id"]]
    finally:
        sim.delete_object("apps/v1", "deployments", "shop", name)


async def test_a_workload_without_pods_is_refused_rather_than_silencing_nothing(
    bot_factory: BotFactory, kubeconfig: Path, alertmanager: Server, sim: SimCluster
) -> None:
    sim.create_object(deployment("idle-api", 0))
    try:
        bot = await bot_factory(config=silence_config(kubeconfig, alertmanager.url))
        refused = await silence_request(bot, "Deployment", "idle-api")
        assert isinstance(refused, Refused)
        assert "has no pods right now: a silence by pod name would cover nothing" in refused.reason
        assert await silences_in(alertmanager) == []
    finally:
        sim.delete_object("apps/v1", "deployments", "shop", "idle-api")


async def test_a_foreign_pod_appearing_after_the_preview_is_refused_at_apply(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, alertmanager: Server, sim: SimCluster
) -> None:
    bot = await bot_factory(db_url, config=silence_config(kubeconfig, alertmanager.url))
    previewed = await silence_request(bot, "Deployment", "ledger-api")
    assert isinstance(previewed, Previewed), previewed
    stray = "ledger-api-bb-b2c4d"  # a bare pod whose name fits `ledger-api-<hash>-<5>`
    sim.create_object(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": stray, "namespace": "shop"},
            "spec": {"containers": [{"name": "debug", "image": "busybox:1.36"}]},
        }
    )
    try:
        failed = await bot.services.guard.confirm(Actor(ALICE), previewed.change.id)
        assert isinstance(failed, Failed), failed
        assert f"would also silence {stray} (not its pods)" in failed.reason
        assert await silences_in(alertmanager) == []
    finally:
        sim.delete_object("v1", "pods", "shop", stray)
