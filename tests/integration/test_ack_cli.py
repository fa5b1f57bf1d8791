"""`crashloop ack`: "I'm on it" from a terminal, as cli:<user> — the same rule and audit rows as the Slack button."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import text

from bot.cli.main import cli
from bot.core.settings import load_settings
from bot.store import Store
from bot.store.audit import audit_log_for
from bot.store.migrate import upgrade


def _config(tmp_path: Path, access: dict[str, Any] | None = None) -> Path:
    config: dict[str, Any] = {"environments": {"prod": {"context": "sim", "namespaces": ["shop"]}}}
    if access:
        config["access"] = access
    path = tmp_path / "crashloop.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", url)
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "no-secrets"))

    async def open_one() -> None:
        store = Store(url)
        await upgrade(store.engine)
        await store.open_incident("prod", "shop", "web-app", "Deployment")
        await store.close()

    asyncio.run(open_one())
    return url


def rows(url: str) -> list[tuple[str, str, str]]:
    async def read() -> list[tuple[str, str, str]]:
        store = Store(url)
        try:
            audit = audit_log_for(store.engine, load_settings())
            assert (await audit.verify()).ok
            return [(r.event.action, r.event.outcome, r.event.actor_id) for r in await audit.list()]
        finally:
            await store.close()

    return asyncio.run(read())


def owner(url: str) -> tuple[str | None, bool]:
    async def read() -> tuple[str | None, bool]:
        store = Store(url)
        try:
            [incident] = await store.list_incidents()
            return incident.owner_id, bool(incident.needs_sync)
        finally:
            await store.close()

    return asyncio.run(read())


def test_ack_then_take_over_from_the_terminal(tmp_path: Path, database: str) -> None:
    config = _config(tmp_path)  # no cli: principal listed: the operator's kubeconfig decides
    result = run(config, "ack", "prod", "shop", "web-app", "--as", "ana")
    assert result.exit_code == 0, result.output
    assert "you own shop/web-app now" in result.output
    assert owner(database) == ("cli:ana", True)  # marked for the bot to update the root message

    result = run(config, "ack", "prod", "shop", "web-app", "--as", "bo")
    assert result.exit_code == 2
    assert "ana owns shop/web-app since " in result.output
    assert "--take-over" in result.output
    assert owner(database)[0] == "cli:ana"

    result = run(config, "ack", "prod", "shop", "web-app", "--as", "bo", "--take-over")
    assert result.exit_code == 0, result.output
    assert "taken over from ana" in result.output
    assert owner(database)[0] == "cli:bo"
    assert rows(database) == [("acknowledged", "ok", "cli:ana"), ("taken_over", "ok", "cli:bo")]


def test_ack_is_refused_to_a_viewer_and_for_an_unknown_incident(tmp_path: Path, database: str) -> None:
    config = _config(tmp_path, {"responders": ["cli:ana"], "viewers": ["cli:carol"]})
    result = run(config, "ack", "prod", "shop", "web-app", "--as", "carol")
    assert result.exit_code == 2
    assert "owning an incident takes the responder role: user cli:carol is listed as a viewer" in result.output
    result = run(config, "ack", "prod", "shop", "no-such-app", "--as", "ana")
    assert result.exit_code == 2
    assert "no open incident for shop/no-such-app in environment prod" in result.output
    assert owner(database)[0] is None
    assert rows(database) == [("denied", "refused", "cli:carol")]


def test_nothing_is_owned_when_the_audit_row_cannot_be_written(
    tmp_path: Path, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRASHLOOP_AUDIT_KEY")  # the audit log refuses to append without its key
    result = run(_config(tmp_path), "ack", "prod", "shop", "web-app", "--as", "ana")
    assert result.exit_code == 2
    assert "not owned: the audit log cannot be written" in result.output
    assert "CRASHLOOP_AUDIT_KEY" in result.output
    assert owner(database)[0] is None  # given back: no ownership without its audit row


def test_nothing_is_owned_when_the_database_refuses_the_audit_row(tmp_path: Path, database: str) -> None:
    async def refuse_audit_rows() -> None:
        store = Store(database)
        async with store.engine.begin() as conn:
            await conn.execute(
                text("CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit down'); END")
            )
        await store.close()

    asyncio.run(refuse_audit_rows())
    result = run(_config(tmp_path), "ack", "prod", "shop", "web-app", "--as", "ana")
    assert result.exit_code == 2
    assert "not owned: the database refused to record it" in result.output
    assert owner(database)[0] is None  # given back: no ownership without its audit row


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+aiosqlite:///{tmp}/not-a-database",  # a file that is not a SQLite database
        "postgresql+asyncpg://postgres@127.0.0.1:1/test",  # a server that is not there
    ],
)
@pytest.mark.parametrize("command", [("ack", "prod", "shop", "web-app"), ("act", "rollout_restart", "prod", "web-app")])
def test_an_unreachable_database_is_one_clear_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, command: tuple[str, ...]
) -> None:
    (tmp_path / "not-a-database").write_bytes(b"\x00garbage, not a database\n" * 100)
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", url.format(tmp=tmp_path))
    monkeypatch.setenv("CRASHLOOP_AUDIT_KEY", "unreachable-db-audit-key-0123456789abcdef")
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "no-secrets"))
    result = CliRunner().invoke(cli, ["--config", str(_config(tmp_path)), *command, "--as", "ana"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1, result.output
    [line] = result.output.splitlines()
    assert line.startswith("crashloop: the database cannot be used: ")
    assert "Traceback" not in result.output
