"""`crashloop act …` and `crashloop db upgrade`: the remedies from a terminal, audited; the schema on demand."""

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


def _config(tmp_path: Path, sim: SimCluster, *, approval: bool = False) -> Path:
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim")
    config = {
        "environments": {
            "prod": {
                "context": "sim",
                "kubeconfig": str(kubeconfig),
                "namespaces": ["shop"],
                "require_approval": approval,
            }
        },
        "actions": {"verify_timeout_seconds": 10, "verify_stable_seconds": 0.5, "verify_interval_seconds": 0.2},
    }
    path = tmp_path / "crashloop.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(config: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], input=input, catch_exceptions=False)


@pytest.fixture(autouse=True)
def _database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "no-secrets"))


def test_act_previews_applies_verifies_and_audits(tmp_path: Path, sim: SimCluster) -> None:
    config = _config(tmp_path, sim)
    result = run(config, "act", "rollout_undo", "prod", "web-app", "--yes")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()  # the diff was shown before applying
    assert any(line.startswith("-") and "image: registry.example.com/shop/web-app:2.4.0" in line for line in lines)
    assert any(line.startswith("+") and "image: registry.example.com/shop/web-app:2.3.1" in line for line in lines)
    assert "recovered: " in result.output
    image = sim.get_object("apps/v1", "deployments", "shop", "web-app")["spec"]["template"]["spec"]["containers"][0][
        "image"
    ]
    assert image.endswith(":2.3.1")
    audit = run(config, "audit", "list", "--workload", "web-app", "--format", "json")
    actions = [(row["action"], row["actor"]) for row in json.loads(audit.output)]
    assert [a for a, _ in actions] == ["requested", "previewed", "applied", "verified"]
    assert all(actor.startswith("cli:") for _, actor in actions)
    assert run(config, "audit", "verify").exit_code == 0


def test_act_declined_at_the_prompt_changes_nothing(tmp_path: Path, sim: SimCluster) -> None:
    config = _config(tmp_path, sim)
    before = sim.get_object("apps/v1", "deployments", "shop", "ledger-api")["metadata"]["generation"]
    result = run(config, "act", "bump_memory", "prod", "ledger-api", input="n\n")
    assert result.exit_code == 0, result.output
    assert "memory limit 256Mi → 384Mi" in result.output
    assert "nothing applied" in result.output
    assert sim.get_object("apps/v1", "deployments", "shop", "ledger-api")["metadata"]["generation"] == before


def test_act_refuses_where_approval_is_required_and_literal_arguments(tmp_path: Path, sim: SimCluster) -> None:
    config = _config(tmp_path, sim, approval=True)
    result = run(config, "act", "bump_memory", "prod", "ledger-api", "--yes")
    assert result.exit_code == 2
    assert "requires a second responder's approval" in result.output
    result = run(config, "act", "set_env", "prod", "ledger-api", "--param", "name=X", "--param", "value=hunter2")
    assert result.exit_code == 2
    assert "--secret-value" in result.output


def test_db_upgrade(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "database at revision 0006" in result.output
