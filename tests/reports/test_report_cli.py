"""`crashloop report hotspots --post` from a terminal: posted to the Slack stand-in, or one clear line and exit 1.

The restart data comes from one sweep of the real sampler over the simulated cluster, stored in a real database;
the command runs in-process through click, with settings from the environment as in production.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from bot.cli.main import cli
from bot.core.config import load_config
from bot.devtools.slackstub import SlackStandIn
from bot.reports.sampler import RestartSampler
from bot.store import Store
from bot.store.migrate import upgrade
from bot.store.report_rows import ReportStore
from bot.triage.run import Triager
from tests.reports.conftest import CHANNEL, ENV, is_png

TOKEN = "xoxb-test"


def write_config(path: Path, kubeconfig: Path, channel: str = CHANNEL) -> Path:
    env = {"context": "sim", "kubeconfig": str(kubeconfig), "namespaces": ["shop", "payments"], "channel": channel}
    path.write_text(yaml.safe_dump({"environments": {ENV: env}}))
    return path


def sample_once(config_path: Path, db_url: str) -> None:
    async def sweep() -> None:
        store, config = Store(db_url), load_config(config_path)
        triager = Triager(config)
        try:
            await upgrade(store.engine)
            assert await RestartSampler(config=config, triager=triager, store=ReportStore(store.engine)).sample(ENV)
        finally:
            triager.close()
            await store.close()

    asyncio.run(sweep())


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Settings as the CLI reads them: a database of this test, no token, no secrets directory."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", db_url)
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "no-secrets"))
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_API_URL", raising=False)
    return db_url


def post(config: Path) -> Result:
    args = ["--config", str(config), "report", "hotspots", ENV, "--post"]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_post_without_a_token_says_what_to_set(env: str, kubeconfig: Path, tmp_path: Path) -> None:
    result = post(write_config(tmp_path / "crashloop.yaml", kubeconfig))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "crashloop: --post needs a Slack bot token: set SLACK_BOT_TOKEN "
        "(and SLACK_API_URL when the bot does not talk to slack.com)"
    ]


def test_post_to_an_unreachable_slack_fails_in_one_line_before_building_anything(
    env: str, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api/"
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_API_URL", url)
    result = post(write_config(tmp_path / "crashloop.yaml", kubeconfig))
    assert result.exit_code == 1
    [line] = result.output.splitlines()
    assert line.startswith(f"crashloop: --post: Slack at {url} did not accept the bot (")
    assert line.endswith("set SLACK_BOT_TOKEN (and SLACK_API_URL when the bot does not talk to slack.com)")
    assert not (tmp_path / "cli.db").exists()  # nothing was built, no proposal was stored


def test_post_with_a_wrong_token_names_the_error(
    env: str, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SlackStandIn(channels=[CHANNEL]).running() as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-revoked")
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        result = post(write_config(tmp_path / "crashloop.yaml", kubeconfig))
        assert result.exit_code == 1
        [line] = result.output.splitlines()
        assert "did not accept the bot (invalid_auth)" in line
        assert slack.channel_messages(CHANNEL) == []


def test_post_to_a_channel_the_bot_cannot_use_says_so(
    env: str, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "crashloop.yaml", kubeconfig, channel="C0NOWHERE")
    sample_once(config, env)
    with SlackStandIn(channels=[CHANNEL]).running() as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        result = post(config)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "crashloop: --post: posting to C0NOWHERE failed (channel_not_found): "
        "invite the bot to C0NOWHERE, or set environments.prod.channel"
    ]


def test_post_after_one_sweep_posts_the_partial_report_and_its_chart(
    env: str, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "crashloop.yaml", kubeconfig)
    sample_once(config, env)
    with SlackStandIn(channels=[CHANNEL]).running() as slack:
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        result = post(config)
        assert result.exit_code == 0, result.output
        [message] = slack.channel_messages(CHANNEL)
        [chart] = slack.files.values()
    assert result.output.strip() == f"{ENV}: posted to {CHANNEL} (message {message.ts}, chart {chart.id})"
    assert "sampling since" in str(message.blocks)
    assert "report-worker" in str(message.blocks)
    assert "No workload restarted" not in str(message.blocks)
    assert is_png(chart.content)
    assert chart.thread_ts == message.ts
