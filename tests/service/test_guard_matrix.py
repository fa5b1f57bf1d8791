"""Every door against every rule: the same refusal, and no write reaching the API, on SQLite and PostgreSQL.

Doors: a button (and its form), the slash command, `crashloop act`. Rules: role, read-only, each parameter
limit, approval, self-approval, one change per workload, stale, expired, replay. Each case drives the door as a
person would — signed requests into the running app, the CLI against the same database — and then reads the
simulated cluster's request log: no PATCH, POST, PUT or DELETE arrived that was not a dry run. Where a rule
cannot arise at a door, the matrix says why (`NOT_AT_DOOR`) instead of pretending.
"""

from __future__ import annotations

import abc
import asyncio
import json
import shlex
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import text

from bot.cli.main import cli
from bot.core.config import Config
from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.devtools.slackstub.signing import block_actions_body, slash_command_body, view_submission_body
from bot.guard import proposals
from bot.remedies.params import default_params
from tests.service.conftest import CHANNEL, CLUSTER, Bot, BotFactory, eventually

ALICE, BOB, CAROL = "U0ONCALL1", "U0ONCALL2", "U0VIEWER1"
CLI_USERS = {ALICE: "alice", BOB: "bob", CAROL: "carol"}
WRITES = ("PATCH", "POST", "PUT", "DELETE")

# Rules that cannot arise at a door, and why: the matrix lists them so a gap is a decision, not an accident.
NOT_AT_DOOR = {
    ("cli", "self_approval"): "the terminal cannot carry an approval: it is refused at the approval rule first",
    ("cli", "expired"): "the terminal proposes, previews and confirms in one run; nothing waits long enough",
    ("cli", "replay"): "a terminal run is not replayed; a second run is a new request (the one-change rule)",
    ("cli", "stale"): "the terminal triages right before it asks; a change between preview and apply is refused "
    "by the resourceVersion precondition (tests/service/test_guarded_actions.py, 409)",
    ("button", "probes"): "the button carries the probe settings the triage proposed; its form asks for none",
}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimCluster]:  # shared: no case writes to it (that is the point), each clears its log first
    with SimCluster(load_scenarios(), token="sim-token").running() as cluster:
        yield cluster


@pytest.fixture
def kubeconfig(sim: SimCluster, tmp_path: Path) -> Path:
    return Path(sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim"))


def writes(sim: SimCluster) -> list[Any]:
    return [r for r in sim.requests if r.method in WRITES and not r.query.get("dryRun")]


def make_config(sim: SimCluster, tmp_path: Path, *, read_only: bool = False, approval: bool = False) -> Config:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim")
    return Config.model_validate(
        {
            "environments": {
                "prod": {
                    "context": "sim",
                    "kubeconfig": str(kubeconfig),
                    "namespaces": ["shop", "payments"],
                    "channel": CHANNEL,
                    "cluster_label": CLUSTER,
                    "require_approval": approval,
                }
            },
            "access": {"responders": [ALICE, "S0SRE0001", "cli:alice", "cli:bob"], "viewers": [CAROL, "cli:carol"]},
            "limits": {"max_memory": "4Gi", "read_only": read_only},
            "actions": {"verify_timeout_seconds": 4, "verify_stable_seconds": 0.3, "verify_interval_seconds": 0.2},
        }
    )


@dataclass
class Attempt:
    """What a door showed the person: the refusal (or preview) text, and the change id of a preview."""

    text: str
    change_id: str | None = None


class Door(abc.ABC):
    name = ""

    def __init__(self, bot: Bot, config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bot, self.config_file, self.monkeypatch = bot, config_file, monkeypatch
        monkeypatch.setenv("CRASHLOOP_DATABASE_URL", bot.db_url)  # the terminal shares the bot's database
        monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(config_file.parent / "no-secrets"))

    @abc.abstractmethod
    async def request(self, user: str, remedy: str, workload: str, params: dict[str, str]) -> Attempt:
        """Ask for `remedy` on `workload` with `params` as `user`, the way this door asks."""

    async def step(self, user: str, action: str, change_id: str) -> str:
        seen = self._seen(user)  # counted before the click: a fast answer arrives before `click` returns
        await click(self.bot, user, f"change.{action}", change_id)
        return await told(self.bot, user, after=seen)

    def _seen(self, user: str) -> int:
        return len(self.bot.slack.ephemerals(CHANNEL, user))


class Button(Door):
    name = "button"

    async def request(self, user: str, remedy: str, workload: str, params: dict[str, str]) -> Attempt:
        proposal = await propose(self.bot, remedy, workload, {})
        return await self.click_proposal(user, remedy, proposal, params)

    async def click_proposal(self, user: str, remedy: str, proposal: str, params: dict[str, str]) -> Attempt:
        seen, views = self._seen(user), len(self.bot.slack.views)
        await click(self.bot, user, f"runbook.{remedy}", proposal)
        if remedy in ("bump_memory", "set_env", "set_image", "service_account", "netcheck"):
            opened = await eventually(
                lambda: len(self.bot.slack.views) > views or len(self.bot.slack.ephemerals(CHANNEL, user)) > seen
            )
            if opened and len(self.bot.slack.views) > views:
                view = list(self.bot.slack.views.values())[-1]
                state = {k: {k: {"type": "plain_text_input", "value": v}} for k, v in params.items()}
                body = view_submission_body("remedy.form", view.private_metadata, state, user)
                response = await self.bot.slack_request(body)
                assert response.status == 200
                ack = await response.text()
                if ack:  # the guard's refusal, shown next to the field: the person corrects it in place
                    errors = json.loads(ack).get("errors") or {}
                    return Attempt(" ".join(errors.values()))
        return _attempt(await told_message(self.bot, user, after=seen))


class Slash(Door):
    name = "slash"

    async def request(self, user: str, remedy: str, workload: str, params: dict[str, str]) -> Attempt:
        words = " ".join(shlex.quote(f"{k}={v}") for k, v in params.items())
        seen = self._seen(user)
        url = self.bot.slack.mint_response_url(CHANNEL, user=user)
        body = slash_command_body(
            text=f"{remedy} prod {workload} {words}".strip(), user_id=user, response_url=url, channel_id=CHANNEL
        )
        assert (await self.bot.slack_request(body)).status == 200
        return _attempt(await told_message(self.bot, user, after=seen))


class Terminal(Door):
    name = "cli"

    async def request(self, user: str, remedy: str, workload: str, params: dict[str, str]) -> Attempt:
        args = ["--config", str(self.config_file), "act", remedy, "prod", workload, "--yes", "--no-verify"]
        args += ["--as", CLI_USERS[user]]
        for key, value in params.items():
            args += ["--param", f"{key}={value}"]
        result = await asyncio.to_thread(CliRunner().invoke, cli, args, catch_exceptions=False)
        return Attempt(f"exit {result.exit_code}: {result.output}")


DOORS: dict[str, type[Door]] = {"button": Button, "slash": Slash, "cli": Terminal}


async def click(bot: Bot, user: str, action_id: str, value: str) -> None:
    url = bot.slack.mint_response_url(CHANNEL, user=user)
    body = block_actions_body(
        action_id, value, user_id=user, channel_id=CHANNEL, response_url=url, trigger_id="1334.7384.8088930838d"
    )
    assert (await bot.slack_request(body)).status == 200


async def told_message(bot: Bot, user: str, *, after: int) -> Any:
    """The first answer after the `after`th (the note that a clicked message's buttons went dead is not one)."""

    def answer() -> Any:
        new = bot.slack.ephemerals(CHANNEL, user)[after:]
        return next((e for e in new if not str(e.text).startswith("This change is ")), None)

    return await eventually(answer, within=30.0)  # the machine may be busy: a refusal is fast, a wait is not


async def told(bot: Bot, user: str, *, after: int) -> str:
    message = await told_message(bot, user, after=after)
    return str(message.text) + json.dumps(message.blocks or [])


def _attempt(message: Any) -> Attempt:
    change = None
    for block in message.blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == "change.confirm":
                change = str(element["value"])
    return Attempt(str(message.text) + json.dumps(message.blocks or []), change)


async def propose(bot: Bot, remedy: str, workload: str, params: dict[str, Any]) -> str:
    """What the incident queue does at triage time: a stored proposal a button carries the id of."""
    services = bot.services
    result = await services.triager.triage("prod", workload)
    found = next((r for r in result.finding.remedies if str(r.id) == remedy), None)
    base = found.params if found else default_params(result.evidence, remedy)
    row = await proposals.propose(services.store, result.evidence, remedy, {**base, **params}, minutes=15)
    return row.id


# --- the rules ---------------------------------------------------------------------------------------------

PARAMETER_CASES: dict[str, tuple[str, str, dict[str, str], str]] = {  # rule: remedy, workload, params, refusal
    "memory_max": ("bump_memory", "ledger-api", {"to": "9Gi"}, "9Gi: 4Gi is the most this environment allows"),
    "memory_below_use": ("bump_memory", "ledger-api", {"to": "128Mi"}, "below the container's current 256Mi"),
    "probes": (
        "patch_probes",
        "search",
        {"probes": json.dumps({"liveness": {"periodSeconds": 1000}})},
        "periodSeconds=1000: allowed 1–300",
    ),
    "env_name": (
        "set_env",
        "checkout",
        {"name": "1BAD-NAME", "secret": "checkout-db/url"},
        "not a valid variable name",
    ),
    "image": (
        "set_image",
        "report-worker",
        {"image": "registry.example.com/Shop/App:1.0"},
        "is not an image reference",
    ),
    "service_account": (
        "service_account",
        "inventory-sync",
        {"service_account": "ghost"},
        "service account 'ghost' does not exist",
    ),
    "netcheck_host": ("netcheck", "orders", {"host": "bad_host!"}, "is not a DNS name or an IP address"),
    "netcheck_port": ("netcheck", "orders", {"host": "orders-db", "port": "70000"}, "not a number from 1 to 65535"),
}

Case = Callable[[Door, Bot, SimCluster, Path], Awaitable[str]]


async def role(door: Door, bot: Bot, sim: SimCluster, tmp: Path) -> str:
    return (await door.request(CAROL, "rollout_restart", "web-app", {})).text


async def read_only(door: Door, bot: Bot, sim: SimCluster, tmp: Path) -> str:
    proposal = await propose(bot, "rollout_restart", "web-app", {})  # a button from before the switch
    switched = make_config(sim, tmp, read_only=True)
    bot.services.guard.config = switched  # the kill switch, as a config reload sets it
    door.config_file.write_text(yaml.safe_dump(switched.model_dump(mode="json")))
    if isinstance(door, Button):
        return (await door.click_proposal(ALICE, "rollout_restart", proposal, {})).text
    return (await door.request(ALICE, "rollout_restart", "web-app", {})).text


async def approval(door: Door, bot: Bot, sim: SimCluster, tmp: Path) -> str:
    attempt = await door.request(ALICE, "rollout_restart", "web-app", {})
    if attempt.change_id is None:
        return attempt.text
    return await door.step(ALICE, "confirm", attempt.change_id)  # sent for approval; nothing applied


async def self_approval(door: Door, bot: Bot, sim: SimCluster, tmp: Path) -> str:
    attempt = await door.request(ALICE, "rollout_restart", "web-app", {})
    assert attempt.change_id, attempt.text
    await door.step(ALICE, "confirm", attempt.change_id)
    return await door.step(ALICE, "approve", attempt.change_id)


async def one_change(door: Door, bot: Bot, sim: SimCluster, tmp: Path) -> str:
    first = await Slash(bot, door.config_file, door.monkeypatch).request(BOB, "rollout_restart", "web-app", {})
    assert first.change_id, first.text  # bob's change is previewed: the workload is taken
    return (await door.request(ALICE, "rollout_undo", "web-app", {})).text


async def stale(door: Door, bot: Bot, sim: SimCluster, tmp: Path) -> str:
    if isinstance(door, Button):
        proposal = await propose(bot, "rollout_restart", "web-app", {})
        _touch(sim, tmp)
        return (await door.click_proposal(ALICE, "rollout_restart", proposal, {})).text
    attempt = await door.request(ALICE, "rollout_restart", "web-app", {})
    assert attempt.change_id, attempt.text
    _touch(sim, tmp)  # someone changes the workload between the preview and the confirmation
    return await door.step(ALICE, "confirm", attempt.change_id)


async def expired(door: Door, bot: Bot, sim: SimCluster, tmp: Path) -> str:
    if isinstance(door, Button):
        proposal = await propose(bot, "rollout_restart", "web-app", {})
        await _expire(bot, "proposals", proposal)
        return (await door.click_proposal(ALICE, "rollout_restart", proposal, {})).text
    attempt = await door.request(ALICE, "rollout_restart", "web-app", {})
    assert attempt.change_id, attempt.text
    await _expire(bot, "changes", attempt.change_id)
    return await door.step(ALICE, "confirm", attempt.change_id)


async def replay(door: Door, bot: Bot, sim: SimCluster, tmp: Path) -> str:
    if isinstance(door, Button):
        proposal = await propose(bot, "rollout_restart", "web-app", {})
        first = await door.click_proposal(ALICE, "rollout_restart", proposal, {})
        assert first.change_id, first.text
        return (await door.click_proposal(ALICE, "rollout_restart", proposal, {})).text
    attempt = await door.request(ALICE, "rollout_restart", "web-app", {})
    assert attempt.change_id, attempt.text
    await door.step(ALICE, "confirm", attempt.change_id)  # awaiting approval
    return await door.step(ALICE, "confirm", attempt.change_id)  # the same click again


def _touch(sim: SimCluster, tmp: Path) -> None:
    from kubernetes import client
    from kubernetes import config as kconfig

    api = kconfig.new_client_from_config(config_file=str(tmp / "kubeconfig"), context="sim")
    body = {"spec": {"template": {"metadata": {"annotations": {"touched": str(time.time())}}}}}
    client.AppsV1Api(api).patch_namespaced_deployment("web-app", "shop", body)
    api.close()
    sim.clear_requests()  # that write was someone else's: only the bot's count


async def _expire(bot: Bot, table: str, row_id: str) -> None:
    async with bot.services.store.engine.begin() as conn:
        await conn.execute(
            text(f"UPDATE {table} SET expires_at = '2020-01-01 00:00:00' WHERE id = :id"), {"id": row_id}
        )


RULES: dict[str, tuple[Case, str, bool]] = {  # rule: case, the refusal every door shows, approval required
    "role": (role, "responders only", False),
    "read_only": (read_only, "read-only mode (limits.read_only)", False),
    "approval": (approval, "approval", True),
    "self_approval": (self_approval, "self-approval is not allowed", True),
    "one_change": (one_change, "one change per workload at a time", False),
    "stale": (stale, "changed since the", False),
    "expired": (expired, "expired at", False),
    "replay": (replay, "already", True),
}
CASES = [(door, rule) for door in DOORS for rule in RULES if (door, rule) not in NOT_AT_DOOR]


async def door_for(
    door_name: str, make_bot: BotFactory, db_url: str, sim: SimCluster, tmp: Path, mp: pytest.MonkeyPatch, **cfg: bool
) -> tuple[Door, Bot]:
    """A running bot with `cfg` on `db_url`, the config file the terminal reads, and the door to it."""
    config = make_config(sim, tmp, **cfg)
    config_file = tmp / "crashloop.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    bot = await make_bot(db_url, config=config)
    return DOORS[door_name](bot, config_file, mp), bot


async def denied_details(bot: Bot) -> list[str]:
    return [r.event.detail or "" for r in await bot.services.audit.list(limit=500) if r.event.action == "denied"]


@pytest.mark.parametrize(("door_name", "rule"), CASES, ids=[f"{d}-{r}" for d, r in CASES])
async def test_every_door_refuses_every_rule_and_nothing_is_written(
    db_url: str,
    bot_factory: BotFactory,
    sim: SimCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    door_name: str,
    rule: str,
) -> None:
    case, expected, needs_approval = RULES[rule]
    door, bot = await door_for(door_name, bot_factory, db_url, sim, tmp_path, monkeypatch, approval=needs_approval)
    sim.clear_requests()
    shown = await case(door, bot, sim, tmp_path)
    if door_name == "cli" and rule == "approval":
        expected = "requires a second responder's approval"
    assert expected in shown, shown
    if door_name == "cli":
        assert shown.startswith("exit 2"), shown  # refused: the same exit code for every rule
    assert writes(sim) == []
    if rule != "approval" or door_name == "cli":  # at Slack doors approval is a wait, not a refusal
        assert any(expected in d for d in await denied_details(bot))  # audited


@pytest.mark.parametrize("door_name", list(DOORS))
async def test_every_door_refuses_each_parameter_limit_and_nothing_is_written(
    db_url: str,
    bot_factory: BotFactory,
    sim: SimCluster,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    door_name: str,
) -> None:
    door, bot = await door_for(door_name, bot_factory, db_url, sim, tmp_path, monkeypatch)
    sim.clear_requests()
    for rule, (remedy, workload, params, expected) in PARAMETER_CASES.items():
        if (door_name, rule) in NOT_AT_DOOR:
            continue
        shown = (await door.request(ALICE, remedy, workload, params)).text
        assert expected in shown, f"{rule}: {shown}"
        if door_name == "cli":
            assert shown.startswith("exit 2"), f"{rule}: {shown}"
        assert writes(sim) == [], rule
        assert any(expected in d for d in await denied_details(bot)), f"{rule}: not audited"


async def test_a_refused_value_does_not_use_the_proposal_up(
    bot_factory: BotFactory, sim: SimCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(sim, tmp_path)
    config_file = tmp_path / "crashloop.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    bot = await bot_factory(config=config)
    door = Button(bot, config_file, monkeypatch)
    proposal = await propose(bot, "bump_memory", "ledger-api", {})
    refused = await door.click_proposal(ALICE, "bump_memory", proposal, {"to": "9Gi"})
    assert "4Gi is the most this environment allows" in refused.text
    corrected = await door.click_proposal(ALICE, "bump_memory", proposal, {"to": "512Mi"})  # the same button
    assert corrected.change_id, corrected.text
    assert "already requested" not in corrected.text
    assert writes(sim) == []
