"""`crashloop act` goes through the guard: read-only mode refuses it, it acts as cli:<user>, and it says what it
waits for while the pods recover."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from bot.cli.main import cli
from bot.devtools.simcluster import SimCluster, load_scenarios


@pytest.fixture
def sim() -> Iterator[SimCluster]:  # these tests change workloads: a cluster of their own
    with SimCluster(load_scenarios(["web-app", "ledger-api"]), token="t").running() as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "no-secrets"))
    monkeypatch.setenv("USER", "dana")


def _config(tmp_path: Path, sim: SimCluster, **limits: object) -> Path:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim")
    config = {
        "environments": {"prod": {"context": "sim", "kubeconfig": str(kubeconfig), "namespaces": ["shop"]}},
        "limits": {"max_memory": "4Gi", **limits},
        "actions": {"verify_timeout_seconds": 10, "verify_stable_seconds": 0.5, "verify_interval_seconds": 0.2},
    }
    path = tmp_path / "crashloop.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def writes(sim: SimCluster) -> list[object]:
    return [r for r in sim.requests if r.method in ("PATCH", "POST", "PUT", "DELETE") and not r.query.get("dryRun")]


def test_read_only_mode_refuses_the_terminal_too(tmp_path: Path, sim: SimCluster) -> None:
    config = _config(tmp_path, sim, read_only=True)
    before = sim.get_object("apps/v1", "deployments", "shop", "ledger-api")["metadata"]["generation"]
    result = run(config, "act", "bump_memory", "prod", "ledger-api", "--yes")
    assert result.exit_code == 2, result.output
    assert "read-only mode (limits.read_only)" in result.stderr
    assert writes(sim) == []
    assert sim.get_object("apps/v1", "deployments", "shop", "ledger-api")["metadata"]["generation"] == before
    audit = json.loads(run(config, "audit", "list", "--workload", "ledger-api", "--format", "json").output)
    assert [(row["action"], row["actor"]) for row in audit] == [("denied", "cli:dana")]


def test_a_value_over_the_limit_is_refused_with_the_limit(tmp_path: Path, sim: SimCluster) -> None:
    config = _config(tmp_path, sim)
    result = run(config, "act", "bump_memory", "prod", "ledger-api", "--param", "to=9Gi", "--yes", "--as", "erin")
    assert result.exit_code == 2
    assert "9Gi: 4Gi is the most this environment allows" in result.stderr
    assert writes(sim) == []
    audit = json.loads(run(config, "audit", "list", "--workload", "ledger-api", "--format", "json").output)
    assert [(row["action"], row["actor"]) for row in audit] == [("denied", "cli:erin")]


def test_it_says_what_it_waits_for_while_the_pods_recover(tmp_path: Path, sim: SimCluster) -> None:
    config = _config(tmp_path, sim)
    result = run(config, "act", "rollout_undo", "prod", "web-app", "--yes")
    assert result.exit_code == 0, result.output
    progress = [line for line in result.stderr.splitlines() if line.startswith("… waiting for the pods")]
    assert progress
    assert "pods ready" in progress[-1]
    assert "recovered: " in result.stdout
    assert len([w for w in writes(sim) if getattr(w, "method", "") == "PATCH"]) == 1
    again = run(config, "act", "rollout_undo", "prod", "web-app", "--yes")  # the change ended: not held
    assert "one change per workload" not in again.output
