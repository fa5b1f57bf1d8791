"""Secrets planted in every source the bot reads never leave it in clear: not to Slack, SQL, the CLI nor the logs.

Twelve kinds of secret are planted, each tagged with the source it was planted in, in: the workload's container
args, command and env; its container logs, events and termination message; alert labels and annotations;
CubeAPM's `cubeSampleLog`; Kubernetes API error text (injected faults); set_image / set_env form values; slash
command parameters. The bot is driven through its real edges (signed Slack requests, the real kubernetes client
against the simulated cluster, the CLI, real SQL on SQLite and PostgreSQL), a rollback is previewed, approved,
applied and verified; then every Slack call the stand-in recorded, every HTTP answer of the app, every text
column of every table, every CLI output and every log line is searched for every planted value: none may be found.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli.main import cli
from bot.core.logs import JsonFormatter
from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.devtools.simcluster.scenarios import parse_scenario
from bot.devtools.slackstub.signing import slash_command_body
from bot.store import Store
from bot.store.schema import metadata
from tests.service.conftest import CHANNEL, CLUSTER, Bot, BotFactory, am_alert, am_payload, eventually, pods_of
from tests.service.test_guarded_actions import (
    ALICE,
    BOB,
    audit_actions,
    button,
    change_id,
    click,
    config,
    submit_form,
    told,
)

Kind = Callable[[str], tuple[str, str]]  # tag -> (text planted, the part that must never be seen)

KINDS: dict[str, Kind] = {
    "aws_key_id": lambda t: (v := f"AKIA{t}PLANTED".ljust(20, "0"), v),
    "aws_secret": lambda t: (f"aws_secret_access_key={t}wJalrXUtnFEMIK7MDENGbPxRfi", f"{t}wJalrXUtnFEMIK7MDENGbPxRfi"),
    "jwt": lambda t: (f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.{t}c2lnbmF0dXJlcGxhbnRlZA", f"{t}c2lnbmF0dXJl"),
    "pem": lambda t: (
        f"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA{t}PEMBODYplanted\n-----END RSA PRIVATE KEY-----",
        f"{t}PEMBODYplanted",
    ),
    "slack": lambda t: (v := f"xoxb-{t}1234567-PLANTEDslackTok", v),
    "github": lambda t: (v := f"ghp_{t}PLANTEDgithub0123456789abcdefXYZ", v),
    "url_password": lambda t: (f"postgres://app:{t}UrlPw9x@orders-db:5432/app", f"{t}UrlPw9x"),
    "password_assign": lambda t: (f"password={t}AssignPw7", f"{t}AssignPw7"),
    "bearer": lambda t: (f"Authorization: Bearer {t}BearerTok5abc", f"{t}BearerTok5abc"),
    "api_key": lambda t: (f"api_key={t}ApiKeyPlanted4", f"{t}ApiKeyPlanted4"),
    "stripe": lambda t: (v := f"sk_live_{t}StripePlanted0001", v),
    "google_api_key": lambda t: (v := f"AIza{t}".ljust(39, "x"), v),
}
SOURCES = {  # source -> tag (upper-case letters and digits: every kind's grammar accepts them)
    "args": "A01",
    "command": "C02",
    "env": "E03",
    "logs": "L04",
    "events": "V05",
    "termination": "T06",
    "alert": "R07",
    "cubeapm": "B08",
    "kube_error": "K09",
    "form": "F10",
    "slash": "S11",
}


def planted(source: str) -> list[str]:
    return [kind(SOURCES[source])[0] for kind in KINDS.values()]


NEEDLES = {f"{source}/{name}": kind(tag)[1] for source, tag in SOURCES.items() for name, kind in KINDS.items()}


def leaks(haystack: str) -> list[str]:
    return sorted(where for where, needle in NEEDLES.items() if needle in haystack)


def test_every_kind_is_recognised() -> None:  # the search below would be empty-handed if a needle were not planted
    text = " ".join(planted("args"))
    assert leaks(text) == sorted(f"args/{name}" for name in KINDS)


def _leaky(name: str) -> Any:
    """web-app (a fresh release that panics; a rollback heals it) with every kind planted in each workload source."""
    raw = yaml.safe_load((resources.files("bot.devtools.simcluster") / "scenarios" / "web-app.yaml").read_text())
    raw["name"] = name
    manifest = raw["workload"]["manifest"]
    manifest["metadata"]["name"] = name
    manifest["metadata"]["labels"]["app"] = name
    manifest["spec"]["selector"]["matchLabels"]["app"] = name
    manifest["spec"]["template"]["metadata"]["labels"]["app"] = name
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["/bin/web-app", *planted("command")]
    container["args"] = ["--serve", "--db-password", f"{SOURCES['args']}FlagPw1", *planted("args")]
    env = planted("env")
    container["env"] += [{"name": f"PLANTED_{i}", "value": v} for i, v in enumerate(env)]
    container["env"].append({"name": "DB_PASSWORD", "value": f"{SOURCES['env']}EnvPw2"})
    NEEDLES["args/flag"] = f"{SOURCES['args']}FlagPw1"
    NEEDLES["env/by_name"] = f"{SOURCES['env']}EnvPw2"
    # the healthy revision ran without them: a rollback's diff shows every planted arg and command item go
    raw["workload"]["history"][0]["template"]["spec"]["containers"][0].update(
        {"command": ["/bin/web-app"], "args": ["--serve"]}
    )
    failure = raw["failures"][0]
    failure["logs_previous"] = "\n".join(planted("logs")) + "\n" + failure["logs_previous"]
    failure["last_termination"]["message"] = " ".join(planted("termination"))
    failure["events"] = [
        {
            "type": "Warning",
            "reason": "Planted",
            "message": " ".join(planted("events")),
            "count": 3,
            "first_seen": "10m",
            "last_seen": "1m",
        }
    ]
    return parse_scenario(raw, name)


@pytest.fixture
def sim() -> Iterator[SimCluster]:
    scenarios = [*load_scenarios(["checkout", "report-worker"]), _leaky("leaky-app"), _leaky("leaky-cli")]
    with SimCluster(scenarios, token="sim-token").running() as cluster:
        yield cluster


@pytest.fixture
def kubeconfig(sim: SimCluster, tmp_path: Path) -> Path:
    return Path(sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim"))


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Every log line the bot writes, formatted as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


async def _slack_flow(bot: Bot, answers: list[str]) -> None:
    """An alert and CubeAPM alert with planted labels; an API error; the forms; a slash command; a rollback."""
    pod = pods_of(bot.sim, "shop", "leaky-app")[0]
    alert = am_alert("shop", pod, **{f"planted_{i}": v for i, v in enumerate(planted("alert"))})
    alert["annotations"] = {"description": " ".join(planted("alert")), "summary": planted("alert")[0]}
    assert (await bot.alerts(am_payload(alert))).status == 202
    root = await eventually(
        lambda: next((m for m in bot.roots() if m.metadata["event_payload"]["workload"] == "leaky-app"), None)
    )
    cube = {
        "status": "firing",
        "groupKeyHash": "p1a2n3",
        "cubeSampleLog": "\n".join(planted("cubeapm")),
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "PlantedRestarts",
                    "k8s.namespace.name": "shop",
                    "k8s.pod.name": pods_of(bot.sim, "shop", "report-worker")[0],
                    "k8s.container.name": "app",
                    "k8s.cluster.name": CLUSTER,
                },
                "annotations": {"description": " ".join(planted("cubeapm"))},
                "startsAt": "2026-11-25T10:00:00Z",
            }
        ],
    }
    assert (await bot.alerts(cube, path="/alerts/cubeapm")).status == 202
    worker_root = await eventually(
        lambda: next((m for m in bot.roots() if m.metadata["event_payload"]["workload"] == "report-worker"), None)
    )

    # a form value refused (set_image) and a literal (set_env)
    await click(bot, ALICE, "runbook.set_image", button(worker_root, "runbook.set_image")["value"], worker_root.ts)
    await submit_form(bot, ALICE, {"image": " ".join(planted("form"))})
    bot.slack.views.clear()
    checkout = pods_of(bot.sim, "shop", "checkout")[0]
    await bot.alerts(am_payload(am_alert("shop", checkout)))
    checkout_root = await eventually(
        lambda: next((m for m in bot.roots() if m.metadata["event_payload"]["workload"] == "checkout"), None)
    )
    await click(bot, ALICE, "runbook.set_env", button(checkout_root, "runbook.set_env")["value"], checkout_root.ts)
    await submit_form(bot, ALICE, {"name": "DATABASE_URL", "value": " ".join(planted("form"))})
    await told(bot, ALICE, "Preview")

    # slash command parameters
    for text in (f"set_image prod leaky-app image={planted('slash')[0]}", "triage prod " + " ".join(planted("slash"))):
        url = bot.slack.mint_response_url(CHANNEL, user=ALICE)
        response = await bot.slack_request(
            slash_command_body(text=text, user_id=ALICE, response_url=url, channel_id=CHANNEL)
        )
        answers.append(await response.text())
    await eventually(lambda: len([p for p in bot.slack.response_url_posts]) >= 2)

    # the dry run fails with an API error that echoes what it was sent; then the rollback, approved, applied
    bot.sim.add_fault(
        verb="patch",
        resource="deployments",
        namespace="shop",
        status=422,
        times=1,
        message=" ".join(planted("kube_error")),
    )
    value = button(root, "runbook.rollout_undo")["value"]
    await click(bot, ALICE, "runbook.rollout_undo", value, root.ts)
    await told(bot, ALICE, "dry run failed")
    await click(bot, ALICE, "runbook.rollout_undo", value, root.ts)
    preview = await told(bot, ALICE, "shop/leaky-app")
    assert "--serve" in json.dumps(preview.blocks)  # the diff is shown, args and all — masked
    await click(bot, ALICE, "change.confirm", change_id(preview, "change.confirm"))
    request = await eventually(
        lambda: next((m for m in bot.slack.thread(CHANNEL, root.ts) if "Approve" in json.dumps(m.blocks)), None)
    )
    await click(bot, BOB, "change.approve", change_id(request, "change.approve"))
    await eventually(lambda: any("Recovered" in json.dumps(m.blocks) for m in bot.slack.thread(CHANNEL, root.ts)))
    assert [a[0] for a in await audit_actions(bot, "leaky-app")][-3:] == ["approved", "applied", "verified"]


async def _every_text_column(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        dump: list[str] = []
        for name in names:
            table = metadata.tables.get(name)
            if table is None:
                continue
            rows = (await conn.execute(select(table))).all()
            dump.extend(json.dumps([str(v) for v in row], ensure_ascii=False) for row in rows)
    return "\n".join(dump)


async def _cli(config_file: Path, db_url: str, *args: str) -> Result:
    """The CLI as a person runs it (in a thread: it runs its own event loop)."""
    runner = CliRunner(env={"CRASHLOOP_DATABASE_URL": db_url})
    return await asyncio.to_thread(runner.invoke, cli, ["--config", str(config_file), *args], catch_exceptions=False)


async def test_no_planted_secret_reaches_any_exit(
    bot_factory: BotFactory,
    kubeconfig: Path,
    db_url: str,
    tmp_path: Path,
    logs: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = await bot_factory(db_url, config=config(kubeconfig, approval=True))
    answers: list[str] = []
    await _slack_flow(bot, answers)

    # the CLI, on a database of its own (the bot would otherwise verify the CLI's change itself): triage, a failing
    # then a working rollback of the other workload; then `audit list` on both databases
    cfg = tmp_path / "crashloop.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "environments": {"prod": {"context": "sim", "kubeconfig": str(kubeconfig), "namespaces": ["shop"]}},
                "actions": {"verify_timeout_seconds": 10, "verify_stable_seconds": 0.5, "verify_interval_seconds": 0.2},
            }
        )
    )
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "no-secrets"))
    cli_db = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    cli_out = [
        (await _cli(cfg, cli_db, "triage", "prod", "leaky-cli", "-o", f)).output for f in ("text", "json", "wide")
    ]
    bot.sim.add_fault(
        verb="patch",
        resource="deployments",
        namespace="shop",
        status=500,
        times=1,
        message=" ".join(planted("kube_error")),
    )
    cli_out.append((await _cli(cfg, cli_db, "act", "rollout_undo", "prod", "leaky-cli", "--yes")).output)
    cli_out.append((await _cli(cfg, cli_db, "act", "rollout_undo", "prod", "leaky-cli", "--yes")).output)
    assert "recovered" in cli_out[-1]
    for url, workload in ((cli_db, "leaky-cli"), (db_url, "leaky-app")):
        for fmt in ("text", "wide", "json", "yaml"):
            cli_out.append((await _cli(cfg, url, "audit", "list", "-o", fmt)).output)
        assert workload in cli_out[-1]
        verify = await _cli(cfg, url, "audit", "verify")
        assert verify.exit_code == 0, verify.output  # redacted before hashing: the chain holds

    slack_seen = json.dumps(
        [[c.method, c.args] for c in bot.slack.calls]
        + [(f.content or b"").decode("utf-8", "replace") + str(f.title) for f in bot.slack.files.values()]
        + [[p.url, p.body] for p in bot.slack.response_url_posts]
        + answers,
        ensure_ascii=False,
        default=str,
    )
    cli_store = Store(cli_db)
    try:
        database = await _every_text_column(bot.services.store.engine) + await _every_text_column(cli_store.engine)
    finally:
        await cli_store.close()
    found = {
        "slack": leaks(slack_seen),
        "database": leaks(database),
        "cli": leaks("\n".join(cli_out)),
        "logs": leaks(logs.getvalue()),
    }
    assert found == {"slack": [], "database": [], "cli": [], "logs": []}
    # and the bot did see them: the planted texts were there to be leaked
    assert "leaky-app" in database
    assert "leaky-cli" in database
    assert "Planted" in slack_seen
