"""`crashloop act` when the PATCH's answer is lost after it landed: applied once, verified, never patched twice,
on SQLite and on PostgreSQL; a re-read that cannot settle it says the outcome is unknown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from bot.cli.main import cli
from bot.devtools.simcluster import SimCluster, load_scenarios
from tests.databases import create_pg_database, drop_pg_database


@pytest.fixture
def sim() -> Iterator[SimCluster]:  # these tests change workloads: a cluster of their own
    with SimCluster(load_scenarios(["web-app"]), token="t").running() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def _database(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    if request.param == "postgresql":
        url = asyncio.run(create_pg_database())
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", url)
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "no-secrets"))
    monkeypatch.setenv("USER", "dana")
    yield
    if request.param == "postgresql":
        asyncio.run(drop_pg_database(url))


def _config(tmp_path: Path, sim: SimCluster) -> Path:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim")
    config = {
        "environments": {"prod": {"context": "sim", "kubeconfig": str(kubeconfig), "namespaces": ["shop"]}},
        "triage": {"call_timeout_seconds": 1.0},
        "actions": {"verify_timeout_seconds": 10, "verify_stable_seconds": 0.5, "verify_interval_seconds": 0.2},
    }
    path = tmp_path / "crashloop.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def real_patches(sim: SimCluster) -> list[Any]:
    return [r for r in sim.requests if r.method == "PATCH" and not r.query.get("dryRun")]


@pytest.mark.usefixtures("_database")
@pytest.mark.parametrize(
    "lost",
    [
        pytest.param({"status": 504}, id="504-after-landing"),
        pytest.param({"delay": 2.0}, id="answer-after-the-timeout"),
        pytest.param({"drop": True}, id="connection-dropped"),
    ],
)
def test_a_landed_patch_is_applied_once_and_verified(tmp_path: Path, sim: SimCluster, lost: dict[str, Any]) -> None:
    config = _config(tmp_path, sim)
    sim.add_fault(verb="patch", resource="deployments", name="web-app", land=True, dry_run=False, times=1, **lost)
    result = run(config, "act", "rollout_undo", "prod", "web-app", "--yes")
    assert result.exit_code == 0, result.output
    assert "recovered: " in result.stdout
    assert len(real_patches(sim)) == 1  # nothing patched twice
    audit = json.loads(run(config, "audit", "list", "--workload", "web-app", "--format", "json").output)
    applied = [row for row in audit if row["action"] == "applied"]
    assert len(applied) == 1
    assert applied[0]["outcome"] == "ok"
    assert "the answer to the PATCH was lost" in applied[0]["detail"]
    assert [row["action"] for row in audit].count("verified") == 1
