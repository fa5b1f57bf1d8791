"""`crashloop triage` end to end: the real kubernetes client against the simulated cluster, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bot.cli.main import cli
from bot.devtools.simcluster import SimCluster
from tests.integration.conftest import write_config


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def triage_json(config: Path, *args: str) -> dict[str, Any]:
    result = run(config, "triage", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def remedy(data: dict[str, Any], remedy_id: str) -> dict[str, Any]:
    found = [r for r in data["remedies"] if r["id"] == remedy_id]
    assert found, f"no {remedy_id} in {[r['id'] for r in data['remedies']]}"
    return found[0]


@pytest.mark.parametrize(
    ("workload", "namespace", "branch", "container", "first_remedy"),
    [
        ("web-app", "shop", "app_env", "app", "rollout_undo"),
        ("ledger-api", "shop", "resources", "app", "bump_memory"),
        ("search", "shop", "probes", "search", "patch_probes"),
        ("checkout", "shop", "app_env", "app", "rollout_undo"),  # 1.14.0 dropped the variable 25 minutes ago
        ("inventory-sync", "shop", "rbac_mounts", None, "service_account"),
        ("report-worker", "shop", "image_config", None, "set_image"),
        ("payments-gateway", "payments", "image_config", None, None),
        ("orders", "payments", "networking_deps", "app", "netcheck"),
        ("fraud-scorer", "payments", "rbac_mounts", "fetch-model", "service_account"),
    ],
)
def test_every_scenario_lands_in_its_branch(
    config_file: Path, workload: str, namespace: str, branch: str, container: str | None, first_remedy: str | None
) -> None:
    data = triage_json(config_file, "prod", workload)
    assert data["namespace"] == namespace
    assert data["workload"] == workload
    assert data["branch"] == branch, data["reasons"]
    assert data["pod"]
    assert data["pod"].startswith(workload)
    if container:
        assert data["container"] == container
    assert data["reasons"]
    assert all(r["text"] for r in data["reasons"])
    assert data["success_criteria"]
    if first_remedy:
        assert data["remedies"][0]["id"] == first_remedy


def test_oom_is_resources_with_a_capped_bump(config_file: Path) -> None:
    data = triage_json(config_file, "prod", "ledger-api")
    assert (data["reason"], data["exit_code"]) == ("OOMKilled", 137)
    assert data["restarts"] >= 14
    assert remedy(data, "bump_memory")["params"] == {"container": "app", "from": "256Mi", "to": "384Mi"}
    assert any("OOMKilled" in (r["quote"] or "") for r in data["reasons"])


def test_exit_137_after_a_liveness_kill_is_probes_not_oom(config_file: Path) -> None:
    data = triage_json(config_file, "prod", "search")
    assert data["exit_code"] == 137
    assert data["reason"] != "OOMKilled"
    assert "bump_memory" not in [r["id"] for r in data["remedies"]]
    probes = remedy(data, "patch_probes")["params"]["probes"]
    assert probes["startup"]["httpGet"]["path"] == "/healthz"
    assert any("liveness" in (r["quote"] or "").lower() for r in data["reasons"])


def test_fresh_release_offers_rollback_to_the_previous_revision_first(config_file: Path) -> None:
    data = triage_json(config_file, "prod", "web-app")
    undo = data["remedies"][0]
    assert undo["id"] == "rollout_undo"
    assert undo["params"]["to_revision"] == 6
    assert undo["params"]["images"]["app"].endswith(":2.3.1")
    assert any(r["source"] == "rollout" and "revision 7" in r["text"] for r in data["reasons"])
    assert data["rollout"]["current"]["number"] == 7
    changes = data["rollout"]["changes"]
    assert any(c["field"] == "image" and c["after"].endswith(":2.4.0") for c in changes)
    assert any("panic" in line for line in data["logs"]["lines"])
    assert data["logs"]["previous"] is True


def test_missing_env_var_after_a_refactor(config_file: Path) -> None:
    data = triage_json(config_file, "prod", "checkout")
    assert remedy(data, "set_env")["params"] == {"container": "app", "name": "DATABASE_URL"}
    changes = {c["field"]: c for c in data["rollout"]["changes"]}
    assert changes["env DATABASE_URL"]["after"] == "unset"
    assert "checkout-db" in changes["env DATABASE_URL"]["before"]


def test_missing_secret_is_config_and_named(config_file: Path) -> None:
    data = triage_json(config_file, "prod", "payments-gateway")
    assert data["reason"] == "CreateContainerConfigError"
    assert "gateway-secrets" in data["summary"]
    refs = {(r["kind"], r["name"]): r["exists"] for r in data["references"]}
    assert refs[("Secret", "gateway-secrets")] is False
    assert "create Secret payments/gateway-secrets" in data["next_step"]


def test_image_start_error(config_file: Path) -> None:
    data = triage_json(config_file, "prod", "report-worker")
    assert data["exit_code"] == 128
    assert remedy(data, "set_image")["params"]["image"].endswith(":1.7.2")
    assert any("exec format error" in (r["quote"] or "") for r in data["reasons"])


def test_forbidden_in_logs_is_rbac_with_a_proposal(config_file: Path) -> None:
    data = triage_json(config_file, "prod", "inventory-sync")
    params = remedy(data, "service_account")["params"]
    assert params["service_account"] == "inventory-sync"
    assert params["missing"] == {"verb": "list", "resource": "configmaps", "apiGroup": ""}
    assert "kind: RoleBinding" in params["rbac_yaml"]


def test_dependency_host_and_port_come_from_the_logs(config_file: Path) -> None:
    data = triage_json(config_file, "prod", "orders")
    assert remedy(data, "netcheck")["params"] == {"host": "orders-db", "port": 5432}
    containers = {c["name"] for p in data["pods"] for c in p["containers"]}
    assert "log-shipper" not in containers  # the healthy sidecar is left out


def test_statefulset_init_container(config_file: Path) -> None:
    data = triage_json(config_file, "prod", "fraud-scorer")
    assert data["kind"] == "StatefulSet"
    focus = [
        c for p in data["pods"] if p["name"] == data["pod"] for c in p["containers"] if c["name"] == data["container"]
    ]
    assert focus
    assert focus[0]["init"] is True
    assert data["rollout"]
    assert data["rollout"]["current"]


def test_healthy_workload_has_no_branch(config_file: Path) -> None:
    data = triage_json(config_file, "prod", "catalog")
    assert data["branch"] is None
    assert data["remedies"] == []
    assert "healthy" in data["summary"]


def test_pod_name_resolves_to_its_deployment(config_file: Path, sim: SimCluster) -> None:
    pods = [
        p["metadata"]["name"]
        for p in sim.list_objects("v1", "pods", "shop")
        if p["metadata"]["name"].startswith("ledger-api-")
    ]
    data = triage_json(config_file, "prod", pods[-1])
    assert (data["kind"], data["workload"], data["pod"]) == ("Deployment", "ledger-api", pods[-1])


def test_explicit_namespace_and_pod_option(config_file: Path, sim: SimCluster) -> None:
    pods = [
        p["metadata"]["name"]
        for p in sim.list_objects("v1", "pods", "payments")
        if p["metadata"]["name"].startswith("orders-")
    ]
    data = triage_json(config_file, "prod", "orders", "-n", "payments", "--pod", pods[0])
    assert data["pod"] == pods[0]


def test_unknown_workload_exits_2_and_lists_what_exists(config_file: Path) -> None:
    result = run(config_file, "triage", "prod", "no-such-app")
    assert result.exit_code == 2
    assert "no-such-app" in result.output
    assert "ledger-api (Deployment)" in result.output
    assert "fraud-scorer (StatefulSet)" in result.output


def test_unknown_environment_exits_2(config_file: Path) -> None:
    result = run(config_file, "triage", "staging", "web-app")
    assert result.exit_code == 2
    assert "unknown environment 'staging'" in result.output
    assert "prod" in result.output


def test_forbidden_logs_are_named_and_triage_completes(config_file: Path, sim: SimCluster) -> None:
    sim.add_fault(verb="get", resource="pods/log", namespace="shop", status=403)
    result = run(config_file, "triage", "prod", "ledger-api")
    assert result.exit_code == 0, result.output
    assert "COULD NOT READ" in result.output
    assert "403 Forbidden" in result.output
    assert "Resources" in result.output  # classified from the status alone


def test_a_timeout_is_recorded_not_fatal(kubeconfig: Path, sim: SimCluster, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", kubeconfig, call_timeout_seconds=0.5)
    sim.add_fault(verb="list", resource="events", namespace="shop", delay=3.0)
    data = triage_json(config, "prod", "search", "-n", "shop")
    assert any(f["status"] == "timeout" and f["what"].startswith("events") for f in data["read_failures"])
    assert data["branch"] is not None


def test_text_output_reads_as_a_report(config_file: Path) -> None:
    result = run(config_file, "triage", "prod", "ledger-api")
    assert result.exit_code == 0
    out = result.output
    for heading in ("CRASHING", "WHY", "NEXT STEP", "EVENTS", "ROLLOUT"):
        assert heading in out
    assert "kubectl set resources deployment/ledger-api -n shop -c app --limits=memory=384Mi" in out


def test_config_check(config_file: Path) -> None:
    result = run(config_file, "config", "check")
    assert result.exit_code == 0
    assert "prod: context sim; namespaces shop, payments" in result.output


def test_invalid_config_names_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "environments:\n  prod:\n    namespaces: [shop]\n    require_aproval: true\nlimits:\n  max_memory: lots\n"
    )
    result = run(bad, "config", "check")
    assert result.exit_code == 2
    assert "environments.prod.require_aproval: unknown key" in result.output
    assert "limits.max_memory" in result.output


def test_report_hotspots_prints_the_report(config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRASHLOOP_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    result = run(config_file, "report", "hotspots", "prod", "--days", "7")
    assert result.exit_code == 0, result.output
    assert "Restart hotspots · prod" in result.output
    assert "No restart data yet in prod" in result.output  # an empty database: nothing sampled yet
    assert run(config_file, "report", "hotspots", "staging").exit_code == 2


def test_forbidden_shows_the_rbac_yaml_in_text_and_json(config_file: Path) -> None:
    # issue 9, class 11: the Role + RoleBinding granting exactly the missing verb, shown for review, never applied
    data = triage_json(config_file, "prod", "inventory-sync")
    assert data["proposal"]
    assert "kind: RoleBinding" in data["proposal"] or "kind: ClusterRoleBinding" in data["proposal"]
    assert remedy(data, "service_account")["params"]["rbac_yaml"] == data["proposal"]

    text = run(config_file, "triage", "prod", "inventory-sync").output
    assert "PROPOSED RBAC (review it; the bot never applies it)" in text
    assert data["proposal"].splitlines()[1] in text


def test_config_check_lists_the_operators_signatures(kubeconfig: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "crashloop.yaml",
        kubeconfig,
        signatures=[
            {
                "id": "ledger-lock",
                "pattern": r"LEDGER-LOCK-(?P<code>\d+)",
                "branch": "app_env",
                "meaning": "ledger lock {code}",
            }
        ],
    )
    result = run(config, "config", "check")
    assert result.exit_code == 0, result.output
    assert "1 operator signature(s)" in result.output
    assert "ledger-lock: app_env (no remedy)" in result.output

    broken = write_config(
        tmp_path / "broken.yaml",
        kubeconfig,
        signatures=[{"id": "x", "pattern": "(?P<a>", "branch": "app_env", "meaning": "broken"}],
    )
    failed = CliRunner().invoke(cli, ["--config", str(broken), "config", "check"])
    assert failed.exit_code == 2
    assert "not a valid regex" in failed.output


def test_restarts_has_one_meaning_the_focus_containers_and_workload_restarts_the_sum(config_file: Path) -> None:
    data = triage_json(config_file, "prod", "ledger-api")  # two crash-looping pods: the two numbers differ
    counts = {(p["name"], c["name"]): c["restart_count"] for p in data["pods"] for c in p["containers"]}
    assert data["restarts"] == counts[(data["pod"], data["container"])]
    assert data["workload_restarts"] == sum(counts.values())
    assert data["workload_restarts"] > data["restarts"]
    assert f"{data['restarts']} restarts" in data["summary"] or any(
        f"{data['restarts']} restarts" in r["text"] for r in data["reasons"]
    )
    text = run(config_file, "triage", "prod", "ledger-api")
    assert f"container {data['container']}  state " in text.output
    assert f"restarts {data['restarts']}\n" in text.output
    assert f"workload restarts: {data['workload_restarts']}" in text.output
