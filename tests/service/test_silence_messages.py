"""What people see of a silence: the root message kept true (set, unsilenced, run out, from any door), terminal
users by name, forged buttons answered plainly, and an unsilence that leaves another silence in force said so.

Signed Slack requests into the bot, the CLI against the same database, the real Alertmanager of Debian's
package (the fixtures of `test_silences`); on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import text

from bot.cli.main import cli
from bot.guard import proposals
from bot.guard.outcomes import Previewed, Verified
from bot.guard.trail import Actor
from tests.e2e.promstack import Server
from tests.service.conftest import CHANNEL, Bot, BotFactory
from tests.service.test_guarded_actions import ALICE, alert_for, click, told
from tests.service.test_silences import alertmanager, button_in, receiver, root_with, silence_config

__all__ = ["alertmanager", "receiver"]  # the fixtures, used by name


async def guarded(
    bot: Bot, remedy: str, params: dict[str, Any], incident_id: int | None, thread: str | None = None
) -> Any:
    proposal = await proposals.for_workload(
        bot.services.store,
        environment="prod",
        namespace="shop",
        workload="ledger-api",
        kind="Deployment",
        remedy=remedy,
        params=params,
        minutes=15,
        incident_id=incident_id,
    )
    previewed = await bot.services.guard.request(Actor(ALICE), proposal.id, channel=CHANNEL, thread_ts=thread)
    assert isinstance(previewed, Previewed), previewed
    done = await bot.services.guard.confirm(Actor(ALICE), previewed.change.id)
    assert isinstance(done, Verified), done
    return done


async def test_a_forged_silence_button_gets_a_plain_answer(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, alertmanager: Server
) -> None:
    bot = await bot_factory(db_url, config=silence_config(kubeconfig, alertmanager.url))
    root = await alert_for(bot, "shop", "ledger-api")
    for forged in ("99999999999999999999999", "٣", "-1"):
        await click(bot, ALICE, "silence.open", forged, root.ts)
        answer = await told(bot, ALICE, f"no incident this bot posted ({forged!r})")
        assert "went wrong" not in answer.text


async def test_the_root_follows_the_silence_without_a_new_triage_and_when_it_runs_out(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, alertmanager: Server
) -> None:
    bot = await bot_factory(db_url, config=silence_config(kubeconfig, alertmanager.url))
    await alert_for(bot, "shop", "ledger-api")
    root = await root_with(bot, "ledger-api", "silence.open")
    incident_id = int(button_in(root, "silence.open")["value"])  # type: ignore[index]
    triaged = (await bot.services.store.get_incident(incident_id)).last_triage_at  # type: ignore[union-attr]

    done = await guarded(bot, "silence", {"duration": "2h"}, incident_id, root.ts)
    silence_id = done.lines[0]
    await root_with(bot, "ledger-api", "silence.unsilence")
    assert (await bot.services.store.get_incident(incident_id)).last_triage_at == triaged  # type: ignore[union-attr]

    # the silence runs out (its end moved to just ahead): the root offers Silence again, nobody clicking anything
    async with bot.services.store.engine.begin() as conn:
        await conn.execute(
            text("UPDATE silences SET ends_at = :t WHERE id = :id"),
            {"t": datetime.now(UTC) + timedelta(seconds=1), "id": silence_id},
        )
    await asyncio.sleep(1.2)
    root = await root_with(bot, "ledger-api", "silence.open")
    assert "Alerts silenced until" not in json.dumps(root.blocks, ensure_ascii=False)


async def test_unsilencing_one_of_two_silences_says_the_other_still_covers_the_workload(
    bot_factory: BotFactory, kubeconfig: Path, db_url: str, alertmanager: Server
) -> None:
    bot = await bot_factory(db_url, config=silence_config(kubeconfig, alertmanager.url))
    short = (await guarded(bot, "silence", {"duration": "1h"}, None)).lines[0]
    long = (await guarded(bot, "silence", {"duration": "3h"}, None)).lines[0]
    done = await guarded(bot, "unsilence", {"silence_id": long}, None)
    assert f"other silences still cover this workload (silence {short} until" in done.detail
    done = await guarded(bot, "unsilence", {"silence_id": short}, None)
    assert done.detail.endswith("its alerts notify again")


async def test_a_silence_from_the_terminal_shows_on_the_root_by_name(
    bot_factory: BotFactory,
    kubeconfig: Path,
    tmp_path: Path,
    alertmanager: Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot = await bot_factory(config=silence_config(kubeconfig, alertmanager.url))
    await alert_for(bot, "shop", "ledger-api")
    await root_with(bot, "ledger-api", "silence.open")
    config = silence_config(kubeconfig, alertmanager.url).model_dump(mode="json")
    config["access"]["responders"].append("cli:alice")
    config_file = tmp_path / "crashloop.yaml"
    config_file.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", bot.db_url)  # the running bot's database
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "no-secrets"))
    argv = ["--config", str(config_file), "act", "silence", "prod", "ledger-api", "--yes", "--as", "alice"]
    done = await asyncio.to_thread(CliRunner().invoke, cli, argv, catch_exceptions=False)
    assert done.exit_code == 0, done.output

    root = await root_with(bot, "ledger-api", "silence.unsilence")  # the bot's sync loop saw the CLI's mark
    shown = json.dumps(root.blocks, ensure_ascii=False)
    assert "by alice (Alertmanager silence" in shown  # as the ownership line names a terminal user
    assert "<@cli:alice>" not in shown


async def test_the_preview_shows_the_amtool_equivalent_with_the_cluster(
    bot_factory: BotFactory, kubeconfig: Path, alertmanager: Server
) -> None:
    bot = await bot_factory(config=silence_config(kubeconfig, alertmanager.url))
    proposal = await proposals.for_workload(
        bot.services.store,
        environment="prod",
        namespace="shop",
        workload="ledger-api",
        kind="Deployment",
        remedy="silence",
        params={"duration": "2h", "comment": "DB_PASSWORD=hunter2-s3cret in the log"},
        minutes=15,
        incident_id=None,
    )
    previewed = await bot.services.guard.request(Actor(ALICE), proposal.id)
    assert isinstance(previewed, Previewed), previewed
    [amtool] = [line for line in (previewed.change.diff or "").splitlines() if line.startswith("amtool silence")]
    assert amtool.startswith("amtool silence add --alertmanager.url=$ALERTMANAGER_URL --duration=2h ")
    assert "'cluster=\"sim-1\"' 'namespace=\"shop\"' 'pod=~\"ledger-api-" in amtool
    assert "hunter2" not in amtool
