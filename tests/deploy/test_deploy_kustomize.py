"""The kustomize overlays render, validate against the Kubernetes schemas, and hold the security properties.

Rendering uses the real `kubectl kustomize`; validation uses kubernetes-validate's bundled JSON schemas (offline)
in strict mode, so a misspelt field fails as it would at `kubectl apply --validate=strict`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from bot.cli.main import cli
from bot.core.config import load_config
from tests.deploy.deploytools import (
    DEPLOY,
    NAMESPACE,
    REPO,
    SERVICE_ACCOUNT,
    KubeObject,
    find,
    load_all,
    one,
    overlay,
    walk,
)

# The API versions the manifests must be valid for: the oldest supported minor and kubectl's own.
KUBERNETES_VERSIONS = ("1.30", "1.32")
SECRET_KEYS = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "CRASHLOOP_WEBHOOK_TOKEN", "CRASHLOOP_AUDIT_KEY"}
SECRETS_DIR = "/var/run/secrets/crashloop"
CONFIG_PATH = "/etc/crashloop/crashloop.yaml"


def _deployment(rendered: tuple[KubeObject, ...]) -> KubeObject:
    return one(rendered, "Deployment", "crashloop-bot")


def _pod(rendered: tuple[KubeObject, ...]) -> dict[str, Any]:
    spec: dict[str, Any] = _deployment(rendered)["spec"]["template"]["spec"]
    return spec


def _container(rendered: tuple[KubeObject, ...]) -> dict[str, Any]:
    containers = _pod(rendered)["containers"]
    assert [c["name"] for c in containers] == ["bot"]
    container: dict[str, Any] = containers[0]
    return container


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _volume(pod: dict[str, Any], name: str) -> dict[str, Any]:
    volumes = [v for v in pod["volumes"] if v["name"] == name]
    assert len(volumes) == 1, f"volume {name!r}"
    volume: dict[str, Any] = volumes[0]
    return volume


def _mount(container: dict[str, Any], path: str) -> dict[str, Any]:
    mounts = [m for m in container["volumeMounts"] if m["mountPath"] == path]
    assert len(mounts) == 1, f"a volume mounted at {path}"
    mount: dict[str, Any] = mounts[0]
    return mount


# --- rendering and schemas ------------------------------------------------------------------------------------


def test_overlay_renders_the_expected_objects(overlay_name: str, rendered: tuple[KubeObject, ...]) -> None:
    kinds = sorted({o["kind"] for o in rendered})
    expected = {
        "Namespace",
        "ServiceAccount",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ConfigMap",
        "NetworkPolicy",
        "ClusterRole",
        "ClusterRoleBinding",
        "RoleBinding",
        "Role",  # `get secrets`, one per environment namespace (and the Lease in `ha`)
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    expected |= {"PersistentVolumeClaim"} if overlay_name == "single" else set()
    assert set(kinds) == expected


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_validates_against_the_kubernetes_schema(
    rendered: tuple[KubeObject, ...], version: str
) -> None:
    errors = []
    for obj in rendered:
        what = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{what}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:  # a CRD in an overlay would need its own check
            errors.append(f"{what}: {exc.message}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("path", ["examples/ingress.yaml", "base/secret.example.yaml"])
def test_examples_outside_the_overlays_validate_too(path: str) -> None:
    for obj in load_all(DEPLOY / path):
        kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[0], strict=True)


def test_strict_validation_catches_a_misspelt_field() -> None:
    """Guards the guard: strict mode rejects unknown fields (as `kubectl apply --validate=strict` does)."""
    deployment = overlay("single")
    obj = yaml.safe_load(yaml.safe_dump(_deployment(deployment)))
    obj["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[0], strict=True)


def test_the_bots_own_objects_live_in_its_namespace(rendered: tuple[KubeObject, ...]) -> None:
    cluster_scoped = {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    in_workload_namespaces = {"crashloop-bot-actions", "crashloop-bot-secret-refs"}  # checked in test_deploy_rbac
    for obj in rendered:
        if obj["kind"] in cluster_scoped:
            assert "namespace" not in obj["metadata"]
        elif obj["kind"] in {"Role", "RoleBinding"} and obj["metadata"]["name"] in in_workload_namespaces:
            continue
        else:
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{obj['kind']}/{obj['metadata']['name']}"


def test_the_namespace_enforces_the_restricted_pod_security_standard(rendered: tuple[KubeObject, ...]) -> None:
    labels = one(rendered, "Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


# --- the Deployment -------------------------------------------------------------------------------------------


def test_deployment_runs_with_the_restricted_security_context(rendered: tuple[KubeObject, ...]) -> None:
    pod, container = _pod(rendered), _container(rendered)
    assert pod["serviceAccountName"] == SERVICE_ACCOUNT
    assert pod.get("hostNetwork") is not True
    assert pod.get("hostPID") is not True
    assert pod.get("hostIPC") is not True
    pod_sc = pod["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert pod_sc["runAsUser"] == 10001
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 10001
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc.get("privileged", False) is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    # The read-only root filesystem needs a writable /tmp.
    assert "emptyDir" in _volume(pod, _mount(container, "/tmp")["name"])


def test_deployment_probes_resources_and_port(rendered: tuple[KubeObject, ...]) -> None:
    container = _container(rendered)
    assert container["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]
    # The routes the probes use exist in the application.
    routes = (REPO / "handlers" / "health.py").read_text(encoding="utf-8")
    assert 'web.get("/healthz"' in routes
    assert 'web.get("/readyz"' in routes


def test_deployment_command_is_accepted_by_the_cli(rendered: tuple[KubeObject, ...]) -> None:
    """`crashloop --config … serve …` parses: --config belongs to the group, so it must come before `serve`."""
    container = _container(rendered)
    assert container["command"] == ["crashloop"]
    args = container["args"]
    assert args[:3] == ["--config", CONFIG_PATH, "serve"]
    assert args[args.index("--port") + 1] == "3000"
    result = CliRunner().invoke(cli, [*args, "--help"], obj={})
    assert result.exit_code == 0, result.output
    assert "Run the bot" in result.output


def test_deployment_image_is_the_placeholder_and_pinned(rendered: tuple[KubeObject, ...]) -> None:
    image = _container(rendered)["image"]
    assert re.fullmatch(r"ghcr\.io/example/crashloop-bot:\d+\.\d+\.\d+", image), image


def test_secrets_are_referenced_and_mounted_as_files_never_inlined(
    overlay_name: str, rendered: tuple[KubeObject, ...]
) -> None:
    assert not find(rendered, "Secret"), "no Secret may be rendered: the operator creates crashloop-bot"
    pod, container = _pod(rendered), _container(rendered)
    env = _env(container)
    assert env["CRASHLOOP_SECRETS_DIR"]["value"] == SECRETS_DIR
    secret = _volume(pod, _mount(container, SECRETS_DIR)["name"])["secret"]
    assert secret["secretName"] == "crashloop-bot"
    keys = {item["key"] for item in secret["items"]}
    assert {item["path"] for item in secret["items"]} == keys  # files named like the variables (bot/core/settings.py)
    expected = SECRET_KEYS | ({"CRASHLOOP_DATABASE_URL"} if overlay_name == "ha" else set())
    assert keys == expected
    assert _mount(container, SECRETS_DIR)["readOnly"] is True
    # No credential-looking variable carries a literal value.
    for name, item in env.items():
        if re.search(r"TOKEN|SECRET|PASSWORD", name) and name != "CRASHLOOP_SECRETS_DIR":
            assert "value" not in item, f"{name} has a literal value"


def test_nothing_rendered_looks_like_a_credential(rendered: tuple[KubeObject, ...]) -> None:
    credential = re.compile(r"xox[abposr]-[A-Za-z0-9-]{6,}|xapp-[A-Za-z0-9-]{6,}|://[^/\s:@]+:[^/\s@]+@")
    for path, value in walk(list(rendered)):
        if isinstance(value, str):
            assert not credential.search(value), f"{path} looks like a credential"


def test_the_secret_example_is_not_rendered_and_holds_only_placeholders() -> None:
    for kustomization in DEPLOY.rglob("kustomization.yaml"):
        text = kustomization.read_text(encoding="utf-8")
        listed = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
        assert not any("secret.example" in line for line in listed), kustomization
    (secret,) = load_all(DEPLOY / "base" / "secret.example.yaml")
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == "crashloop-bot"
    assert set(secret["stringData"]) >= SECRET_KEYS
    for key, value in secret["stringData"].items():
        assert "REPLACE-ME" in value, f"{key} must be a placeholder"


def test_config_map_carries_the_committed_config_and_it_is_valid(rendered: tuple[KubeObject, ...]) -> None:
    pod, container = _pod(rendered), _container(rendered)
    config_map_name = _volume(pod, _mount(container, "/etc/crashloop")["name"])["configMap"]["name"]
    config_map = one(rendered, "ConfigMap", config_map_name)
    assert config_map_name.startswith("crashloop-config-")  # the content hash rolls the pods on a change
    source = DEPLOY / "base" / "crashloop.yaml"
    assert config_map["data"]["crashloop.yaml"] == source.read_text(encoding="utf-8")
    assert _env(container)["CRASHLOOP_CONFIG"]["value"] == CONFIG_PATH
    config = load_config(source)  # the bot's own validation: unknown keys are errors
    for env in config.environments.values():
        assert env.context is None, "in the cluster, environments use the in-cluster config"
        assert env.kubeconfig is None, "in the cluster, environments use the in-cluster config"


def test_config_check_accepts_the_committed_config() -> None:
    config = str(DEPLOY / "base" / "crashloop.yaml")
    result = CliRunner().invoke(cli, ["--config", config, "config", "check", "--offline"], obj={})
    assert result.exit_code == 0, result.output


def test_service_exposes_port_3000_to_the_bots_pods(rendered: tuple[KubeObject, ...]) -> None:
    service = one(rendered, "Service", "crashloop-bot")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [{"name": "http", "port": 3000, "targetPort": "http", "protocol": "TCP"}]
    pod_labels = _deployment(rendered)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_network_policy_allows_only_port_3000_in_and_the_needed_ports_out(
    overlay_name: str, rendered: tuple[KubeObject, ...]
) -> None:
    policy = one(rendered, "NetworkPolicy", "crashloop-bot")["spec"]
    pod_labels = _deployment(rendered)["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    ingress_ports = {(p["protocol"], p["port"]) for rule in policy["ingress"] for p in rule["ports"]}
    assert ingress_ports == {("TCP", 3000)}
    assert all(rule.get("ports") for rule in policy["ingress"]), "every ingress rule is limited to a port"
    egress_ports = {(p["protocol"], p["port"]) for rule in policy["egress"] for p in rule["ports"]}
    expected = {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 6443)}
    expected |= {("TCP", 5432)} if overlay_name == "ha" else set()
    assert egress_ports == expected
    assert all(rule.get("ports") for rule in policy["egress"]), "every egress rule is limited to ports"


# --- the overlays ---------------------------------------------------------------------------------------------


def test_single_runs_one_replica_on_sqlite_on_a_volume() -> None:
    rendered = overlay("single")
    deployment = _deployment(rendered)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}  # never two pods on one SQLite file
    container, pod = _container(rendered), _pod(rendered)
    url = _env(container)["CRASHLOOP_DATABASE_URL"]["value"]
    match = re.fullmatch(r"sqlite\+aiosqlite:///(/.+)", url)
    assert match, url
    directory = str(Path(match[1]).parent)
    claim = _volume(pod, _mount(container, directory)["name"])["persistentVolumeClaim"]["claimName"]
    pvc = one(rendered, "PersistentVolumeClaim", claim)
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    pdb = one(rendered, "PodDisruptionBudget", "crashloop-bot")["spec"]
    assert pdb.get("maxUnavailable") == 1
    assert "minAvailable" not in pdb


def test_ha_runs_several_spread_replicas_on_postgresql_from_the_secret() -> None:
    rendered = overlay("ha")
    deployment = _deployment(rendered)
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod, container = _pod(rendered), _container(rendered)
    assert "CRASHLOOP_DATABASE_URL" not in _env(container), "an env value would override the Secret's file"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert any(t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname" for t in anti)
    for term in anti:
        assert term["podAffinityTerm"]["labelSelector"]["matchLabels"].items() <= labels.items()
    spread = pod["topologySpreadConstraints"]
    assert any(c["topologyKey"] == "topology.kubernetes.io/zone" for c in spread)
    for constraint in spread:
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()
    pdb = one(rendered, "PodDisruptionBudget", "crashloop-bot")["spec"]
    assert pdb.get("minAvailable") == 1
    assert "maxUnavailable" not in pdb
    assert not find(rendered, "PersistentVolumeClaim")


def test_pdb_selects_the_bots_pods(rendered: tuple[KubeObject, ...]) -> None:
    pdb = one(rendered, "PodDisruptionBudget", "crashloop-bot")["spec"]
    pod_labels = _deployment(rendered)["spec"]["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
