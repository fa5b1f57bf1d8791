"""`triage.check_secrets: false`: the triage never calls `get secrets` and says the references were not checked.

Why the option exists: `get secrets` is granted only in the environments' namespaces (deploy/rbac/secret-refs/),
and an operator may drop even that; the triage must then not depend on it, nor pretend a Secret is missing.
Driven through the real CLI and `kubernetes` client against the simulated cluster, whose request log shows what
reached the API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from bot.cli.main import cli
from bot.devtools.simcluster import SimCluster
from tests.integration.conftest import write_config


def _triage(config: Path, sim: SimCluster) -> dict[str, Any]:
    sim.clear_requests()
    result = CliRunner().invoke(
        cli, ["--config", str(config), "triage", "prod", "payments-gateway", "--format", "json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def _secret_reads(sim: SimCluster) -> list[str]:
    return [r.path for r in sim.requests if r.resource == "secrets"]


def test_with_the_check_on_the_missing_secret_is_read_and_named(
    kubeconfig: Path, sim: SimCluster, tmp_path: Path
) -> None:
    data = _triage(write_config(tmp_path / "c.yaml", kubeconfig), sim)
    assert _secret_reads(sim) == ["/api/v1/namespaces/payments/secrets/gateway-secrets"]
    refs = {(r["kind"], r["name"]): r["exists"] for r in data["references"]}
    assert refs[("Secret", "gateway-secrets")] is False


def test_with_the_check_off_no_secret_is_read_and_the_triage_says_so(
    kubeconfig: Path, sim: SimCluster, tmp_path: Path
) -> None:
    data = _triage(write_config(tmp_path / "c.yaml", kubeconfig, check_secrets=False), sim)
    assert _secret_reads(sim) == []
    refs = {(r["kind"], r["name"]): r["exists"] for r in data["references"]}
    assert refs[("Secret", "gateway-secrets")] is None, "unknown, not missing: nothing was asked"
    skipped = [f for f in data["read_failures"] if f["what"] == "get secret payments/gateway-secrets"]
    assert [f["status"] for f in skipped] == ["not checked: triage.check_secrets is false"]
    # ConfigMaps are still checked: only Secrets are switched off.
    assert all(r["exists"] is not None for r in data["references"] if r["kind"] == "ConfigMap")
