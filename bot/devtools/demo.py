"""`crashloop demo` (`make demo`): the bot's whole loop on a simulated cluster, with no cluster or credentials.

It starts the simulated kube-apiserver with every scenario, the local Slack Web API stand-in, and the bot itself
(SQLite in a temporary directory); prints the triage of every scenario; then sends sample alerts the way
Alertmanager and CubeAPM do (including a repeat and a storm), runs a slash command, and prints the incident
channel as a person would read it in Slack.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from bot.app import AppOptions, build_app
from bot.cli.render_text import render
from bot.core.config import Access, Actions, Config, Environment
from bot.core.settings import Settings
from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.devtools.slackstub import SlackStandIn
from bot.devtools.slackstub.signing import (
    FORM_CONTENT_TYPE,
    block_actions_body,
    sign,
    slash_command_body,
    view_submission_body,
)
from bot.incidents.queue import WorkerSettings
from bot.triage.run import Triager
from runbooks.model import BRANCH_TITLES

CHANNEL = "C0INCIDENTS"
WEBHOOK_TOKEN = "demo-webhook-token"
SIGNING_SECRET = "demo-signing-secret"
RULE = "─" * 100


def run_demo(scenarios: list[str] | None, workdir: Path | None) -> None:
    with ExitStack() as stack:
        base = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crashloop-demo-")))
        base.mkdir(parents=True, exist_ok=True)
        loaded = load_scenarios(scenarios)
        sim = stack.enter_context(SimCluster(loaded, token="demo-token").running())
        kubeconfig = sim.write_kubeconfig(base / "kubeconfig", context="sim")
        config = _config(kubeconfig)
        targets = [(s.namespace, s.manifest["metadata"]["name"]) for s in loaded]
        asyncio.run(_print_triages(config, targets))
        slack = stack.enter_context(_slack())
        asyncio.run(_full_loop(config, slack, sim, base, targets))
        print(f"\n{RULE}\nSLACK #incidents, as the on-call engineer sees it\n{RULE}")
        print(slack.render_channel(CHANNEL))
        print(f"\n(files kept in {base})" if workdir else "")


def _config(kubeconfig: Path) -> Config:
    prod = Environment(
        context="sim",
        kubeconfig=str(kubeconfig),
        namespaces=["shop", "payments"],
        channel=CHANNEL,
        cluster_label="sim-1",
        require_approval=True,
    )
    return Config(
        environments={"prod": prod},
        access=Access(responders=["U0ONCALL1", "S0SRE0001"], viewers=["U0VIEWER1"]),
        actions=Actions(verify_timeout_seconds=30, verify_stable_seconds=1, verify_interval_seconds=0.5),
    )


@contextmanager
def _slack() -> Iterator[SlackStandIn]:
    users = {"U0ONCALL1": "alice", "U0ONCALL2": "bob", "U0VIEWER1": "carol"}
    with SlackStandIn(
        users=users, usergroups={"S0SRE0001": ["U0ONCALL2"]}, channels={CHANNEL: "incidents"}
    ).running() as stub:
        yield stub


async def _print_triages(config: Config, targets: list[tuple[str, str]]) -> None:
    triager = Triager(config)
    try:
        results = [await triager.triage("prod", name, namespace=ns) for ns, name in targets]
    finally:
        triager.close()
    print(f"{RULE}\nTRIAGE OF EVERY SCENARIO (`crashloop triage prod WORKLOAD`)\n{RULE}")
    for r in results:
        branch = BRANCH_TITLES[r.finding.branch] if r.finding.branch else "healthy"
        step = r.finding.remedies[0].title if r.finding.remedies else (r.finding.next_step or "-")
        print(
            f"  {r.evidence.workload.name:<18} {branch:<18} {r.finding.confidence:>4.0%}  {r.seconds:5.2f}s  → {step}"
        )
    for r in results:
        print(f"\n{RULE}\n{render(r)}")


async def _full_loop(
    config: Config, slack: SlackStandIn, sim: SimCluster, base: Path, targets: list[tuple[str, str]]
) -> None:
    settings = Settings(
        slack_bot_token=SecretStr("xoxb-test"),
        slack_signing_secret=SecretStr(SIGNING_SECRET),
        crashloop_webhook_token=SecretStr(WEBHOOK_TOKEN),
        crashloop_audit_key=SecretStr(secrets.token_hex(32)),  # a throwaway key: the demo's log is thrown away too
        crashloop_database_url=SecretStr(f"sqlite+aiosqlite:///{base / 'crashloop.db'}"),
        slack_api_url=slack.api_url,
    )
    app = build_app(config, settings, AppOptions(slack_min_interval=0.0, worker=WorkerSettings(poll_seconds=0.2)))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}"
    print(f"\n{RULE}\nTHE BOT (serving on {url}): alerts in, one thread per workload, a slash command\n{RULE}")
    try:
        async with aiohttp.ClientSession() as http:
            await _send_alerts(http, url, sim, targets)
            await _wait_for_roots(slack, expected=3)
            await _slash_command(http, url, slack)
            if "ledger-api" in {name for _, name in targets}:
                await _guarded_bump(http, url, slack)
    finally:
        await runner.cleanup()


def _pods(sim: SimCluster, namespace: str, workload: str) -> list[str]:
    return sorted(
        p["metadata"]["name"]
        for p in sim.list_objects("v1", "pods", namespace)
        if p["metadata"]["name"].startswith(f"{workload}-")
    )


def _am_alert(namespace: str, pod: str, alertname: str, fingerprint: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": alertname, "namespace": namespace, "pod": pod, "container": "app", "cluster": "sim-1"},
        "annotations": {"description": f"Pod {namespace}/{pod} is in CrashLoopBackOff"},
        "startsAt": "2026-11-25T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint,
    }


async def _send_alerts(http: aiohttp.ClientSession, url: str, sim: SimCluster, targets: list[tuple[str, str]]) -> None:
    headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    names = {name for _, name in targets}
    batches: list[tuple[str, dict[str, Any]]] = []
    if "ledger-api" in names:
        pod = _pods(sim, "shop", "ledger-api")[0]
        alert = _am_alert("shop", pod, "PodCrashLoopBackOff", "demo-ledger-1")
        batches.append(("alertmanager", {"version": "4", "status": "firing", "alerts": [alert]}))
        batches.append(("alertmanager", {"version": "4", "status": "firing", "alerts": [alert]}))  # HA twin
        again = _am_alert("shop", pod, "HighContainerRestartRate", "demo-ledger-2")
        batches.append(("alertmanager", {"version": "4", "status": "firing", "alerts": [again]}))
    if "web-app" in names:
        pods = _pods(sim, "shop", "web-app")
        storm = [_am_alert("shop", pods[i % len(pods)], "PodCrashLoopBackOff", f"demo-web-{i}") for i in range(25)]
        batches.append(("alertmanager", {"version": "4", "status": "firing", "alerts": storm}))
    if "orders" in names:
        pod = _pods(sim, "payments", "orders")[0]
        cube = {
            "status": "firing",
            "cubeSampleLog": 'psycopg2.OperationalError: connection to server at "orders-db" failed',
            "alerts": [
                {
                    "status": "firing",
                    "startsAt": "2026-11-25T10:00:00Z",
                    "labels": {
                        "alertname": "DependencyRelatedRestarts",
                        "k8s.namespace.name": "payments",
                        "k8s.pod.name": pod,
                        "k8s.container.name": "app",
                        "k8s.cluster.name": "sim-1",
                    },
                }
            ],
        }
        batches.append(("cubeapm", cube))
    for source, body in batches:
        async with http.post(f"{url}/alerts/{source}", json=body, headers=headers) as response:
            answer = await response.text()
            print(f"  POST /alerts/{source:<12} {len(body['alerts']):>3} alert(s) → {response.status} {answer}")


async def _poll(done: Callable[[], bool], within: float) -> None:
    for _ in range(int(within / 0.1)):
        if done():
            return
        await asyncio.sleep(0.1)


async def _wait_for_roots(slack: SlackStandIn, expected: int, within: float = 20.0) -> None:
    await _poll(lambda: len(slack.channel_messages(CHANNEL)) >= expected, within)
    await asyncio.sleep(1.0)  # let updates and thread replies land


async def _slash_command(http: aiohttp.ClientSession, url: str, slack: SlackStandIn) -> None:
    response_url = slack.mint_response_url(CHANNEL, user="U0VIEWER1")
    body = slash_command_body(text="status prod", user_id="U0VIEWER1", response_url=response_url, channel_id=CHANNEL)
    headers = {**sign(SIGNING_SECRET, body), "Content-Type": FORM_CONTENT_TYPE}
    async with http.post(f"{url}/slack/events", data=body, headers=headers) as response:
        print(f"  /crashloop status prod (signed, by carol) → {response.status}")
    await _poll(lambda: any(p.url == response_url for p in slack.response_url_posts), 10)


async def _signed(http: aiohttp.ClientSession, url: str, body: str) -> int:
    headers = {**sign(SIGNING_SECRET, body), "Content-Type": FORM_CONTENT_TYPE}
    async with http.post(f"{url}/slack/events", data=body, headers=headers) as response:
        return response.status


def _button(blocks: list[dict[str, Any]], action_id: str) -> str | None:
    for block in blocks:
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return str(element.get("value"))
    return None


async def _guarded_bump(http: aiohttp.ClientSession, url: str, slack: SlackStandIn) -> None:
    """alice asks for Bump memory, sees the dry-run diff, confirms; bob approves; the bot verifies recovery."""
    root = next(
        m
        for m in slack.channel_messages(CHANNEL)
        if (m.metadata or {}).get("event_payload", {}).get("workload") == "ledger-api"
    )
    proposal = _button(root.blocks or [], "runbook.bump_memory")
    if proposal is None:
        return
    body = block_actions_body(
        "runbook.bump_memory",
        proposal,
        user_id="U0ONCALL1",
        channel_id=CHANNEL,
        message_ts=root.ts,
        response_url=slack.mint_response_url(CHANNEL, user="U0ONCALL1"),
        trigger_id="demo.trigger",
    )
    print(f"  alice clicks [ Bump memory ] → {await _signed(http, url, body)}")
    await _poll(lambda: bool(slack.views), 10)
    view = next(iter(slack.views.values()))
    state = {"to": {"to": {"type": "plain_text_input", "value": "384Mi"}}}
    print(
        f"  alice submits the form (384Mi) → "
        f"{await _signed(http, url, view_submission_body('remedy.form', view.private_metadata, state, 'U0ONCALL1'))}"
    )
    await _poll(lambda: any("Preview" in e.text for e in slack.ephemerals(CHANNEL, "U0ONCALL1")), 10)
    preview = next(e for e in slack.ephemerals(CHANNEL, "U0ONCALL1") if "Preview" in e.text)
    change = _button(preview.blocks or [], "change.confirm") or ""
    confirm = block_actions_body(
        "change.confirm",
        change,
        user_id="U0ONCALL1",
        channel_id=CHANNEL,
        response_url=slack.mint_response_url(CHANNEL, user="U0ONCALL1"),
    )
    print(f"  alice confirms the previewed change → {await _signed(http, url, confirm)}")
    await _poll(lambda: any(_button(m.blocks or [], "change.approve") for m in slack.thread(CHANNEL, root.ts)), 10)
    approve = block_actions_body(
        "change.approve",
        change,
        user_id="U0ONCALL2",
        channel_id=CHANNEL,
        response_url=slack.mint_response_url(CHANNEL, user="U0ONCALL2"),
    )
    print(f"  bob (in @sre) approves → {await _signed(http, url, approve)}")
    await _poll(lambda: any("Recovered" in json.dumps(m.blocks) for m in slack.thread(CHANNEL, root.ts)), 40)
    await asyncio.sleep(3.0)  # the re-triage after recovery updates the root message (at most every 2 s)
