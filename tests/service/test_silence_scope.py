"""Silences reach only what the bot watches: the environment's namespaces, the workload's own pods.

The real Alertmanager of Debian's package (the fixtures of `test_silences`), the simulated cluster, signed Slack
requests and the CLI: a namespace outside the environment is refused at the door and again by the guard, at
preview and at apply, and nothing reaches Alertmanager.
"""

from __future__ import annotations

import asyncio
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
from tests.service.conftest import CHANNEL, BotFactory
from tests.service.test_guarded_actions import ALICE, told
from tests.service.test_silences import alertmanager, receiver, silence_config, silences_in

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
