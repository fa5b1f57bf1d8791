"""What an operator sees of a running bot: JSON log lines (listening, one per triage, post, remedy, refused
webhook, with its status and reason), no spurious warnings at start, and /metrics without `_created` series and
with the build's version.

The start-up and refusals run through a real `crashloop serve` process (its stderr read line by line); triage and
posts through the service fixtures in-process.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.core.metrics import Metrics
from bot.devtools.simcluster import SimCluster
from bot.devtools.slackstub import SlackStandIn
from tests.service.conftest import CHANNEL, Bot, am_alert, am_payload, eventually, pods_of

TOKEN = "whk-operating-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _lines(path: Path) -> list[dict[str, Any]]:
    """Every stderr line, each of which must be a JSON object."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def served(sim: SimCluster, kubeconfig: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`crashloop serve` on a free loopback port; yields its URL and the file its stderr goes to."""
    config = tmp_path / "crashloop.yaml"
    environment = {"context": "sim", "kubeconfig": str(kubeconfig), "namespaces": ["shop"], "channel": CHANNEL}
    config.write_text(yaml.safe_dump({"environments": {"prod": environment}}))
    port, stderr = _free_port(), tmp_path / "serve.log"
    with SlackStandIn(channels=[CHANNEL]).running() as slack, stderr.open("wb") as sink:
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-test",  # in the environment, as in a pod: Bolt must not warn about it
            "SLACK_SIGNING_SECRET": "s",
            "CRASHLOOP_WEBHOOK_TOKEN": TOKEN,
            "CRASHLOOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
            "SLACK_API_URL": slack.api_url,
            "CRASHLOOP_SECRETS_DIR": str(tmp_path / "none"),
        }
        command = [sys.executable, "-m", "bot.cli.main", "--config", str(config), "serve", "--host", "127.0.0.1"]
        process = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while "listening on" not in stderr.read_text():
                assert process.poll() is None, stderr.read_text()
                assert time.monotonic() < deadline, stderr.read_text()
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}", stderr
        finally:
            process.terminate()
            process.wait(30)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # loopback only
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_serve_logs_listening_refusals_and_nothing_spurious(served: tuple[str, Path]) -> None:
    url, stderr = served
    assert _post(f"{url}/alerts/alertmanager", b"{}", {"Content-Type": "application/json"}) == 401
    big = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    assert _post(f"{url}/alerts/alertmanager", big, auth) == 413
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:  # loopback only
        metrics = response.read().decode()
    time.sleep(0.3)  # the refusals' log lines are written before the replies; let the file catch up

    lines = _lines(stderr)
    (listening,) = [line for line in lines if line["event"].startswith("listening on")]
    assert listening["event"].startswith(f"listening on {url}")
    assert listening["level"] == "info"
    refusals = [line for line in lines if line.get("reason") and "refused" in line["event"]]
    assert [(r["status"], r["source"]) for r in refusals] == [(401, "alertmanager"), (413, "alertmanager")]
    assert all(r["reason"] for r in refusals)
    started = lines[: lines.index(listening) + 1]
    assert [line for line in started if line["level"] in ("warning", "error", "critical")] == []
    assert "xoxb-test" not in stderr.read_text()

    assert "_created" not in metrics
    build = [line for line in metrics.splitlines() if line.startswith("crashloop_build_info{")]
    assert len(build) == 1
    assert 'version="0.1.0"' in build[0]
    assert build[0].endswith(" 1.0")


async def test_each_triage_and_post_is_one_log_line(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="crashloop.events")
    pod = pods_of(bot.sim, "shop", "ledger-api")[0]
    await bot.alerts(am_payload(am_alert("shop", pod)))
    await eventually(lambda: bot.roots())
    events = await eventually(
        lambda: (
            [r for r in caplog.records if r.name == "crashloop.events" and "chat.postMessage" in r.getMessage()]
            and [r.getMessage() for r in caplog.records if r.name == "crashloop.events"]
        )
    )
    triages = [e for e in events if e.startswith("triage in prod: ok in ")]
    assert len(triages) == 1
    assert "slack chat.postMessage: ok" in events
    assert not any("auth.test" in e or "users.info" in e for e in events), "reads are not posts"


def test_a_remedy_outcome_is_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="crashloop.events")
    metrics = Metrics()
    metrics.actions.labels("bump_memory", "applied").inc()
    assert (
        metrics.registry.get_sample_value("crashloop_actions_total", {"remedy": "bump_memory", "outcome": "applied"})
        == 1
    )
    (record,) = [r for r in caplog.records if r.name == "crashloop.events"]
    assert record.getMessage() == "remedy bump_memory: applied"
    assert record.__dict__["remedy"] == "bump_memory"
