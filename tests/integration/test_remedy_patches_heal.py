"""The planned patches heal the simulated cluster's workloads, sent by the official `kubernetes` client.

For each scenario the plan is built from the live objects (the workload and its ReplicaSets or ControllerRevisions,
read as raw JSON), sent once with `dryRun=All` — which must change nothing — and once for real; then the workload
must be healed: a new revision whose pods are all Ready with no restarts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.remedies.patches import RESTARTED_AT, PatchPlan, plan, template_diff, template_of

JsonObj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
STATE_TYPES = (
    ("apps/v1", "deployments"),
    ("apps/v1", "statefulsets"),
    ("apps/v1", "replicasets"),
    ("apps/v1", "controllerrevisions"),
    ("v1", "pods"),
)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimCluster]:
    """One sim for the module (it overrides the package's): every test heals a different workload."""
    with SimCluster(load_scenarios(), token="t").running() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def apps(sim: SimCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.AppsV1Api]:
    path = sim.write_kubeconfig(Path(tmp_path_factory.mktemp("kube")) / "kubeconfig", context="sim")
    api_client = config.new_client_from_config(config_file=str(path), context="sim")
    yield client.AppsV1Api(api_client)
    api_client.close()


# --- reading and sending through the official client --------------------------------------------------------


def raw(response: Any) -> JsonObj:
    data: JsonObj = json.loads(response.data)
    return data


def read_workload(apps: client.AppsV1Api, kind: str, namespace: str, name: str) -> tuple[JsonObj, list[JsonObj]]:
    """The workload and its history (ReplicaSets or ControllerRevisions), as raw JSON."""
    if kind == "Deployment":
        workload = raw(apps.read_namespaced_deployment(name, namespace, _preload_content=False))
        history = raw(apps.list_namespaced_replica_set(namespace, _preload_content=False))["items"]
    else:
        workload = raw(apps.read_namespaced_stateful_set(name, namespace, _preload_content=False))
        history = raw(apps.list_namespaced_controller_revision(namespace, _preload_content=False))["items"]
    return workload, history


def send(apps: client.AppsV1Api, workload: JsonObj, patch: PatchPlan, dry_run: bool) -> JsonObj:
    """Patch the workload as the bot would: the client sends a dict as strategic merge and a list as JSON patch."""
    patch_fn: Callable[..., Any] = {
        "Deployment": apps.patch_namespaced_deployment,
        "StatefulSet": apps.patch_namespaced_stateful_set,
    }[workload["kind"]]
    kwargs: JsonObj = {"_preload_content": False}
    if patch.patch_type == "merge":
        kwargs["_content_type"] = patch.content_type
    if dry_run:
        kwargs["dry_run"] = "All"
    meta = workload["metadata"]
    return raw(patch_fn(meta["name"], meta["namespace"], patch.body, **kwargs))


def state(sim: SimCluster, namespace: str) -> set[tuple[str, str, str]]:
    """Every workload, ReplicaSet, revision and pod of the namespace with its resourceVersion."""
    return {
        (plural, obj["metadata"]["name"], obj["metadata"]["resourceVersion"])
        for api_version, plural in STATE_TYPES
        for obj in sim.list_objects(api_version, plural, namespace)
    }


# --- healed? --------------------------------------------------------------------------------------------------


def owned_by(obj: JsonObj, owner: JsonObj) -> bool:
    return any(ref.get("uid") == owner["metadata"]["uid"] for ref in obj["metadata"].get("ownerReferences") or [])


def restarts(pod: JsonObj) -> int:
    statuses = [*(pod["status"].get("initContainerStatuses") or []), *(pod["status"].get("containerStatuses") or [])]
    return sum(int(s.get("restartCount", 0)) for s in statuses)


def is_ready(pod: JsonObj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions") or [])


def assert_pods_healthy(pods: list[JsonObj], replicas: int) -> None:
    assert len(pods) == replicas, [p["metadata"]["name"] for p in pods]
    for pod in pods:
        assert is_ready(pod), (pod["metadata"]["name"], pod["status"])
        assert restarts(pod) == 0, (pod["metadata"]["name"], pod["status"])


def assert_deployment_healed(sim: SimCluster, namespace: str, name: str, revision_before: int) -> JsonObj:
    deployment = sim.get_object("apps/v1", "deployments", namespace, name)
    revision = int(deployment["metadata"]["annotations"][REVISION])
    assert revision > revision_before
    replicasets = [rs for rs in sim.list_objects("apps/v1", "replicasets", namespace) if owned_by(rs, deployment)]
    (current,) = [rs for rs in replicasets if rs["metadata"]["annotations"][REVISION] == str(revision)]
    owned_pods = [
        pod
        for rs in replicasets
        for pod in sim.list_objects("v1", "pods", namespace)
        if owned_by(pod, rs) and pod["metadata"].get("deletionTimestamp") is None
    ]
    assert all(owned_by(pod, current) for pod in owned_pods), "pods of an old revision are left"
    assert_pods_healthy(owned_pods, deployment["spec"]["replicas"])
    status = deployment["status"]
    assert status.get("readyReplicas") == status.get("updatedReplicas") == deployment["spec"]["replicas"]
    return deployment


# --- the scenario runner --------------------------------------------------------------------------------------


def heal(
    sim: SimCluster,
    apps: client.AppsV1Api,
    kind: str,
    namespace: str,
    name: str,
    remedy: str,
    params: JsonObj | Callable[[JsonObj], JsonObj],
) -> tuple[PatchPlan, JsonObj, str]:
    """Plan from the live objects, dry-run (nothing changes), apply; returns the plan, the dry-run answer, its diff."""
    workload, history = read_workload(apps, kind, namespace, name)
    resolved = params(workload) if callable(params) else params
    patch = plan(remedy, resolved, workload, history)

    before = state(sim, namespace)
    sim.clear_requests()
    dry = send(apps, workload, patch, dry_run=True)
    assert state(sim, namespace) == before, "a dry run changed the cluster"
    (request,) = [r for r in sim.requests if r.method == "PATCH"]
    assert request.query.get("dryRun") == "All"
    assert request.content_type == patch.content_type
    assert request.body == patch.body
    diff = template_diff(template_of(workload), template_of(dry))
    assert diff, "the dry run shows no change"

    send(apps, workload, patch, dry_run=False)
    return patch, dry, diff


def changes(diff: str) -> list[str]:
    """The removed and added lines of a unified diff, without their indentation: `-memory: 256Mi`."""
    return [
        line[0] + line[1:].strip() for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]


def deployment_revision(sim: SimCluster, namespace: str, name: str) -> int:
    return int(sim.get_object("apps/v1", "deployments", namespace, name)["metadata"]["annotations"][REVISION])


def container(obj: JsonObj, name: str, list_field: str = "containers") -> JsonObj:
    found: JsonObj = next(c for c in obj["spec"]["template"]["spec"][list_field] if c["name"] == name)
    return found


# --- one test per scenario --------------------------------------------------------------------------------------


def test_ledger_api_heals_with_more_memory(sim: SimCluster, apps: client.AppsV1Api) -> None:
    revision = deployment_revision(sim, "shop", "ledger-api")
    patch, _, diff = heal(
        sim,
        apps,
        "Deployment",
        "shop",
        "ledger-api",
        "bump_memory",
        {"container": "app", "from": "256Mi", "to": "384Mi"},
    )
    assert patch.summary == "app: memory limit 256Mi → 384Mi"
    assert changes(diff) == ["-memory: 256Mi", "+memory: 384Mi"]
    deployment = assert_deployment_healed(sim, "shop", "ledger-api", revision)
    app = container(deployment, "app")
    assert app["resources"]["limits"]["memory"] == "384Mi"
    assert app["resources"]["requests"] == {"cpu": "250m", "memory": "128Mi"}  # untouched
    assert app["resources"]["limits"]["cpu"] == "1"


def test_search_heals_with_a_startup_probe(sim: SimCluster, apps: client.AppsV1Api) -> None:
    revision = deployment_revision(sim, "shop", "search")

    def params(workload: JsonObj) -> JsonObj:
        liveness = container(workload, "search")["livenessProbe"]
        handler = {k: v for k, v in liveness.items() if k in ("httpGet", "tcpSocket", "exec", "grpc")}
        return {
            "container": "search",
            "probes": {"startup": {**handler, "periodSeconds": 5, "failureThreshold": 30}},
            "before": {},
        }

    patch, dry, _ = heal(sim, apps, "Deployment", "shop", "search", "patch_probes", params)
    assert patch.summary.startswith("search: add startupProbe httpGet :8080/healthz")
    assert container(dry, "search")["startupProbe"]["failureThreshold"] == 30
    deployment = assert_deployment_healed(sim, "shop", "search", revision)
    search = container(deployment, "search")
    assert search["startupProbe"]["httpGet"] == search["livenessProbe"]["httpGet"]
    assert search["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert search["livenessProbe"]["initialDelaySeconds"] == 5  # the other probes are untouched


def test_checkout_heals_with_database_url_from_its_secret(sim: SimCluster, apps: client.AppsV1Api) -> None:
    revision = deployment_revision(sim, "shop", "checkout")
    params = {"container": "app", "name": "DATABASE_URL", "secret": {"name": "checkout-db", "key": "url"}}
    patch, _, diff = heal(sim, apps, "Deployment", "shop", "checkout", "set_env", params)
    assert patch.summary == "app: set env DATABASE_URL from Secret checkout-db/url"
    assert changes(diff) == [
        "+env:",
        "+- name: DATABASE_URL",
        "+valueFrom:",
        "+secretKeyRef:",
        "+key: url",
        "+name: checkout-db",
    ]
    deployment = assert_deployment_healed(sim, "shop", "checkout", revision)
    app = container(deployment, "app")
    assert app["env"] == [
        {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "checkout-db", "key": "url"}}}
    ]
    assert app["envFrom"] == [{"configMapRef": {"name": "checkout-config"}}]


def test_report_worker_heals_on_the_previous_image(sim: SimCluster, apps: client.AppsV1Api) -> None:
    revision = deployment_revision(sim, "shop", "report-worker")
    image = "registry.example.com/shop/report-worker:1.7.2"
    patch, _, _ = heal(
        sim, apps, "Deployment", "shop", "report-worker", "set_image", {"container": "worker", "image": image}
    )
    assert patch.summary == f"worker: image registry.example.com/shop/report-worker:1.8.0 → {image}"
    deployment = assert_deployment_healed(sim, "shop", "report-worker", revision)
    assert container(deployment, "worker")["image"] == image


def test_web_app_heals_by_rolling_back_to_revision_6(sim: SimCluster, apps: client.AppsV1Api) -> None:
    revision = deployment_revision(sim, "shop", "web-app")
    rs6 = next(
        rs
        for rs in sim.list_objects("apps/v1", "replicasets", "shop")
        if rs["metadata"]["name"].startswith("web-app-") and rs["metadata"]["annotations"][REVISION] == "6"
    )
    params = {"to_revision": 6, "images": {"app": "registry.example.com/shop/web-app:2.3.1"}}
    patch, _, diff = heal(sim, apps, "Deployment", "shop", "web-app", "rollout_undo", params)
    assert patch.patch_type == "json"
    assert isinstance(patch.body, list)
    assert [(op["op"], op["path"]) for op in patch.body] == [
        ("replace", "/spec/template"),
        ("replace", "/metadata/annotations"),
    ]
    assert changes(diff) == [
        "-image: registry.example.com/shop/web-app:2.4.0",
        "+image: registry.example.com/shop/web-app:2.3.1",
    ]
    deployment = assert_deployment_healed(sim, "shop", "web-app", revision)
    assert container(deployment, "app")["image"] == "registry.example.com/shop/web-app:2.3.1"
    assert "pod-template-hash" not in deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["metadata"]["annotations"]["kubernetes.io/change-cause"] == "deploy web-app 2.3.1 (pipeline 1791)"
    # the old ReplicaSet came back as the new revision, as the deployment controller does on an undo
    rs = sim.get_object("apps/v1", "replicasets", "shop", rs6["metadata"]["name"])
    assert rs["metadata"]["annotations"][REVISION] == deployment["metadata"]["annotations"][REVISION]


def test_inventory_sync_heals_with_its_service_account(sim: SimCluster, apps: client.AppsV1Api) -> None:
    revision = deployment_revision(sim, "shop", "inventory-sync")
    params = {"from": "default", "service_account": "inventory-sync"}
    patch, _, diff = heal(sim, apps, "Deployment", "shop", "inventory-sync", "service_account", params)
    assert patch.summary == "serviceAccountName default → inventory-sync"
    assert changes(diff) == ["+serviceAccountName: inventory-sync"]
    deployment = assert_deployment_healed(sim, "shop", "inventory-sync", revision)
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "inventory-sync"


def test_fraud_scorer_statefulset_heals_with_its_service_account(sim: SimCluster, apps: client.AppsV1Api) -> None:
    before = sim.get_object("apps/v1", "statefulsets", "payments", "fraud-scorer")
    params = {"from": "default", "service_account": "fraud-scorer"}
    heal(sim, apps, "StatefulSet", "payments", "fraud-scorer", "service_account", params)
    sts = sim.get_object("apps/v1", "statefulsets", "payments", "fraud-scorer")
    status = sts["status"]
    assert status["updateRevision"] != before["status"]["updateRevision"]
    assert status["currentRevision"] == status["updateRevision"]
    assert status.get("readyReplicas") == sts["spec"]["replicas"]
    pods = [p for p in sim.list_objects("v1", "pods", "payments") if owned_by(p, sts)]
    assert {p["metadata"]["labels"]["controller-revision-hash"] for p in pods} == {status["updateRevision"]}
    assert all(p["spec"]["serviceAccountName"] == "fraud-scorer" for p in pods)
    assert_pods_healthy(pods, sts["spec"]["replicas"])


def test_rollout_restart_replaces_every_pod(sim: SimCluster, apps: client.AppsV1Api) -> None:
    revision = deployment_revision(sim, "shop", "catalog")
    old_pods = {
        p["metadata"]["uid"] for p in sim.list_objects("v1", "pods", "shop") if "catalog" in p["metadata"]["name"]
    }
    patch, _, diff = heal(sim, apps, "Deployment", "shop", "catalog", "rollout_restart", {})
    (added_annotations, added_stamp) = changes(diff)
    assert added_annotations == "+annotations:"
    assert added_stamp.startswith(f"+{RESTARTED_AT}: ")
    deployment = assert_deployment_healed(sim, "shop", "catalog", revision)
    stamp = deployment["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    assert stamp in patch.summary
    new_pods = {
        p["metadata"]["uid"] for p in sim.list_objects("v1", "pods", "shop") if "catalog" in p["metadata"]["name"]
    }
    assert new_pods
    assert not new_pods & old_pods
