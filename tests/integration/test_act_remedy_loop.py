"""`crashloop act` and remedy loops: the terminal cannot ask a second responder, so a repeat is refused (exit 2) in
the same words the Slack preview uses, audited, and counted by the weekly report as a loop prevented.

The simulated ledger-api leaks (tests/leaks.py): a bump to 384Mi is applied and it is OOMKilled again at 384Mi.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from bot.cli.main import cli
from bot.devtools.simcluster import SimCluster
from tests.leaks import leaking_ledger_api


@pytest.fixture
def sim() -> Iterator[SimCluster]:
    with SimCluster(leaking_ledger_api(), token="t").running() as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("CRASHLOOP_SECRETS_DIR", str(tmp_path / "no-secrets"))
    monkeypatch.setenv("USER", "dana")


def _config(tmp_path: Path, sim: SimCluster, repeat_days: int | None = None) -> Path:
    """The config file; `guard.remedy_repeat_days` only when given (the default is 7 days)."""
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim")
    config: dict[str, object] = {
        "environments": {"prod": {"context": "sim", "kubeconfig": str(kubeconfig), "namespaces": ["shop"]}},
    }
    if repeat_days is not None:
        config["guard"] = {"remedy_repeat_days": repeat_days}
    path = tmp_path / "crashloop.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def memory_limit(sim: SimCluster) -> str:
    deployment = sim.get_object("apps/v1", "deployments", "shop", "ledger-api")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"])


def test_the_terminal_refuses_a_remedy_loop_and_the_report_counts_it(tmp_path: Path, sim: SimCluster) -> None:
    config = _config(tmp_path, sim)  # the default: 7 days
    first = run(config, "act", "bump_memory", "prod", "ledger-api", "--yes", "--no-verify")
    assert first.exit_code == 0, first.output
    assert memory_limit(sim) == "384Mi"

    again = run(config, "act", "bump_memory", "prod", "ledger-api", "--yes", "--no-verify", "--as", "erin")
    assert again.exit_code == 2, again.output
    assert "refused: remedy loop: Bump memory was applied to shop/ledger-api by dana (" in again.stderr
    assert "app: memory limit 256Mi → 384Mi; it is OOMKilled again at 384Mi." in again.stderr
    assert "The same remedy again needs a second responder's approval, which this door cannot ask for" in again.stderr
    assert "Next branch — App & env: more memory did not hold, so suspect a leak" in again.stderr
    assert memory_limit(sim) == "384Mi"

    audit = json.loads(run(config, "audit", "list", "--workload", "ledger-api", "--format", "json").output)
    denied = [row for row in audit if row["action"] == "denied"]
    assert [(row["actor"], row["detail"].split(":")[0]) for row in denied] == [("cli:erin", "remedy loop")]

    report = run(config, "report", "hotspots", "prod")
    assert report.exit_code == 0, report.output
    assert "Remedy loops (the same remedy again soon after it was applied): 1 stopped for approval: 1 prevented" in (
        report.output
    )


def test_with_the_guard_off_the_terminal_bumps_again(tmp_path: Path, sim: SimCluster) -> None:
    config = _config(tmp_path, sim, repeat_days=0)
    assert run(config, "act", "bump_memory", "prod", "ledger-api", "--yes", "--no-verify").exit_code == 0
    again = run(config, "act", "bump_memory", "prod", "ledger-api", "--yes", "--no-verify")
    assert again.exit_code == 0, again.output
    assert "remedy loop" not in again.output
    assert memory_limit(sim) == "576Mi"
