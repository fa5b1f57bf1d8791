"""Each scenario's failing state, and the remedy that heals it applied through the official client."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from simview import SimView

from bot.devtools.simcluster import SimCluster, load_scenarios, scenario_names

REVISION = "deployment.kubernetes.io/revision"


def container_patch(name: str, **fields: Any) -> dict[str, Any]:
    return {"spec": {"template": {"spec": {"containers": [{"name": name, **fields}]}}}}


def assert_healed(view: SimView, namespace: str, app: str, container: str, count: int) -> list[dict[str, Any]]:
    pods = view.pods(namespace, app)
    assert len(pods) == count
    for pod in pods:
        assert view.ready(pod), pod["metadata"]["name"]
        status = view.status(pod, container)
        assert status["state"]["running"]["startedAt"]
        assert pod["status"]["phase"] == "Running"
    return pods


def current_revision(sim: SimCluster, namespace: str, name: str) -> int:
    return int(sim.get_object("apps/v1", "deployments", namespace, name)["metadata"]["annotations"][REVISION])


def test_every_scenario_file_loads() -> None:
    assert scenario_names() == [
        "catalog",
        "checkout",
        "fraud-scorer",
        "inventory-sync",
        "ledger-api",
        "orders",
        "payments-gateway",
        "report-worker",
        "search",
        "web-app",
    ]
    assert all(s.description for s in load_scenarios())


@pytest.mark.parametrize(
    ("namespace", "app", "container", "waiting", "terminated", "exit_code", "restarts"),
    [
        ("shop", "web-app", "app", "CrashLoopBackOff", "Error", 2, 5),
        ("shop", "ledger-api", "app", "CrashLoopBackOff", "OOMKilled", 137, 14),
        ("shop", "search", "search", "CrashLoopBackOff", "Error", 137, 14),
        ("shop", "checkout", "app", "CrashLoopBackOff", "Error", 1, 9),
        ("shop", "inventory-sync", "sync", "CrashLoopBackOff", "Error", 1, 11),
        ("shop", "report-worker", "worker", "CrashLoopBackOff", "StartError", 128, 571),
        ("payments", "orders", "app", "CrashLoopBackOff", "Error", 1, 8),
        ("payments", "fraud-scorer", "fetch-model", "CrashLoopBackOff", "Error", 1, 9),
    ],
)
def test_crash_looping_scenarios(
    view: SimView,
    namespace: str,
    app: str,
    container: str,
    waiting: str,
    terminated: str,
    exit_code: int,
    restarts: int,
) -> None:
    status = view.status(view.failing_pod(namespace, app), container)
    assert status["state"]["waiting"]["reason"] == waiting
    last = status["lastState"]["terminated"]
    assert (last["reason"], last["exitCode"]) == (terminated, exit_code)
    assert status["restartCount"] == restarts


def test_start_error_details(view: SimView) -> None:
    last = view.status(view.failing_pod("shop", "report-worker"), "worker")["lastState"]["terminated"]
    assert last["startedAt"] == "1970-01-01T00:00:00Z"
    assert last["message"].endswith('exec: "/app/worker": exec format error: unknown')


def test_create_container_config_error(view: SimView) -> None:
    for pod in view.pods("payments", "payments-gateway"):
        status = view.status(pod, "gateway")
        assert status["state"]["waiting"] == {
            "reason": "CreateContainerConfigError",
            "message": 'secret "gateway-secrets" not found',
        }
        assert (status["restartCount"], status["lastState"], pod["status"]["phase"]) == (0, {}, "Pending")
        failed = [e for e in view.events_for("payments", pod["metadata"]["name"]) if e["reason"] == "Failed"]
        assert [(e["message"], e["count"]) for e in failed] == [('Error: secret "gateway-secrets" not found', 58)]


def test_sidecar_of_a_failing_pod_is_fine(view: SimView) -> None:
    pod = view.failing_pod("payments", "orders")
    sidecar = view.status(pod, "log-shipper")
    assert (sidecar["ready"], sidecar["restartCount"], list(sidecar["state"])) == (True, 0, ["running"])


def test_search_probe_events(view: SimView) -> None:
    pod = view.failing_pod("shop", "search")
    events = {(e["reason"], e["message"].split(":")[0]): e for e in view.events_for("shop", pod["metadata"]["name"])}
    liveness = events[("Unhealthy", "Liveness probe failed")]
    assert liveness["count"] >= 45
    assert f'Get "http://{pod["status"]["podIP"]}:8080/healthz": context deadline exceeded' in liveness["message"]
    killing = events[("Killing", "Container search failed liveness probe, will be restarted")]
    assert killing["type"] == "Normal"


def test_fresh_release_rollout_is_stuck_with_old_pods_serving(sim: SimCluster, view: SimView) -> None:
    deployment = sim.get_object("apps/v1", "deployments", "shop", "web-app")
    assert deployment["status"]["updatedReplicas"] == 1
    assert deployment["status"]["availableReplicas"] == 2
    progressing = next(c for c in deployment["status"]["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "ReplicaSetUpdated"
    old = [p for p in view.pods("shop", "web-app") if view.ready(p)]
    assert [view.status(p, "app")["image"] for p in old] == ["registry.example.com/shop/web-app:2.3.1"] * 2


def test_web_app_heals_with_the_previous_image(apps: client.AppsV1Api, sim: SimCluster, view: SimView) -> None:
    apps.patch_namespaced_deployment(
        "web-app", "shop", container_patch("app", image="registry.example.com/shop/web-app:2.3.1")
    )
    pods = assert_healed(view, "shop", "web-app", "app", 2)
    assert current_revision(sim, "shop", "web-app") == 8
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == {
        rs["metadata"]["labels"]["pod-template-hash"]
        for rs in view.replicasets("shop", "web-app")
        if rs["metadata"]["annotations"][REVISION] == "8"
    }


def test_ledger_api_heals_with_more_memory(apps: client.AppsV1Api, sim: SimCluster, view: SimView) -> None:
    apps.patch_namespaced_deployment(
        "ledger-api", "shop", container_patch("app", resources={"limits": {"memory": "384Mi"}})
    )
    pods = assert_healed(view, "shop", "ledger-api", "app", 2)
    assert all(view.status(p, "app")["restartCount"] == 0 for p in pods)
    assert current_revision(sim, "shop", "ledger-api") == 13
    deployment = sim.get_object("apps/v1", "deployments", "shop", "ledger-api")
    assert {c["type"]: c["status"] for c in deployment["status"]["conditions"]} == {
        "Available": "True",
        "Progressing": "True",
    }


def test_ledger_api_with_too_little_memory_still_fails(apps: client.AppsV1Api, view: SimView) -> None:
    apps.patch_namespaced_deployment(
        "ledger-api", "shop", container_patch("app", resources={"limits": {"memory": "320Mi"}})
    )
    failing = [p for p in view.pods("shop", "ledger-api") if not view.ready(p)]
    assert failing
    assert view.status(failing[-1], "app")["lastState"]["terminated"]["reason"] == "OOMKilled"


def test_search_heals_with_a_startup_budget(apps: client.AppsV1Api, view: SimView) -> None:
    probe = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5, "failureThreshold": 12}
    apps.patch_namespaced_deployment("search", "shop", container_patch("search", startupProbe=probe))
    pods = assert_healed(view, "shop", "search", "search", 1)
    assert pods[0]["spec"]["containers"][0]["startupProbe"]["failureThreshold"] == 12


def test_search_with_a_budget_still_short_of_45s_fails(apps: client.AppsV1Api, view: SimView) -> None:
    apps.patch_namespaced_deployment(
        "search", "shop", container_patch("search", livenessProbe={"initialDelaySeconds": 14})
    )
    assert any(not view.ready(p) for p in view.pods("shop", "search"))  # 14 + 3 x 10 = 44 s < 45 s


def test_checkout_heals_when_database_url_comes_from_the_secret(apps: client.AppsV1Api, view: SimView) -> None:
    env = [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "checkout-db", "key": "url"}}}]
    apps.patch_namespaced_deployment("checkout", "shop", container_patch("app", env=env))
    assert_healed(view, "shop", "checkout", "app", 2)


def test_checkout_secret_reference_to_a_missing_key_is_a_config_error(apps: client.AppsV1Api, view: SimView) -> None:
    env = [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "checkout-db", "key": "dsn"}}}]
    apps.patch_namespaced_deployment("checkout", "shop", container_patch("app", env=env))
    waiting = [view.status(p, "app")["state"].get("waiting") for p in view.pods("shop", "checkout")]
    assert {
        "reason": "CreateContainerConfigError",
        "message": "couldn't find key dsn in Secret shop/checkout-db",
    } in waiting


def test_checkout_heals_in_place_when_the_configmap_gains_the_key(core: client.CoreV1Api, view: SimView) -> None:
    before = {p["metadata"]["name"] for p in view.pods("shop", "checkout")}
    core.patch_namespaced_config_map("checkout-config", "shop", {"data": {"DATABASE_URL": "postgresql://db/checkout"}})
    pods = assert_healed(view, "shop", "checkout", "app", 2)  # the rollout went on: the old pod is gone
    assert {p["metadata"]["name"] for p in pods} < before
    assert {rs["spec"]["replicas"] for rs in view.replicasets("shop", "checkout")} == {0, 2}


def test_inventory_sync_heals_with_its_service_account(apps: client.AppsV1Api, view: SimView) -> None:
    apps.patch_namespaced_deployment(
        "inventory-sync", "shop", {"spec": {"template": {"spec": {"serviceAccountName": "inventory-sync"}}}}
    )
    pods = assert_healed(view, "shop", "inventory-sync", "sync", 1)
    assert pods[0]["spec"]["serviceAccountName"] == "inventory-sync"


def test_a_missing_service_account_blocks_pod_creation(apps: client.AppsV1Api, sim: SimCluster, view: SimView) -> None:
    apps.patch_namespaced_deployment(
        "inventory-sync", "shop", {"spec": {"template": {"spec": {"serviceAccountName": "nope"}}}}
    )
    new = next(
        rs for rs in view.replicasets("shop", "inventory-sync") if rs["metadata"]["annotations"][REVISION] == "2"
    )
    assert new["status"]["replicas"] == 0
    assert new["status"]["conditions"][0]["reason"] == "FailedCreate"
    failed = [e for e in view.events_for("shop", new["metadata"]["name"]) if e["reason"] == "FailedCreate"]
    assert failed[0]["message"] == (
        f'Error creating: pods "{new["metadata"]["name"]}-" is forbidden: error looking up service account '
        'shop/nope: serviceaccount "nope" not found'
    )


def test_report_worker_heals_with_the_previous_image(apps: client.AppsV1Api, sim: SimCluster, view: SimView) -> None:
    apps.patch_namespaced_deployment(
        "report-worker", "shop", container_patch("worker", image="registry.example.com/shop/report-worker:1.7.2")
    )
    assert_healed(view, "shop", "report-worker", "worker", 2)
    assert current_revision(sim, "shop", "report-worker") == 4


def test_payments_gateway_heals_in_place_when_the_secret_appears(core: client.CoreV1Api, view: SimView) -> None:
    before = {p["metadata"]["name"] for p in view.pods("payments", "payments-gateway")}
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="gateway-secrets"), string_data={"API_KEY": "x"})
    core.create_namespaced_secret("payments", secret)
    pods = assert_healed(view, "payments", "payments-gateway", "gateway", 2)
    assert {p["metadata"]["name"] for p in pods} == before
    assert all(view.status(p, "gateway")["restartCount"] == 0 for p in pods)
    core.delete_namespaced_secret("gateway-secrets", "payments")
    assert all(view.ready(p) for p in view.pods("payments", "payments-gateway"))  # running containers keep going


def test_orders_heals_when_its_database_is_back(sim: SimCluster, view: SimView) -> None:
    failing = view.failing_pod("payments", "orders")
    restarts = view.status(failing, "app")["restartCount"]
    sim.set_dependency("orders-db:5432", up=True)
    pods = assert_healed(view, "payments", "orders", "app", 2)
    healed = next(p for p in pods if p["metadata"]["name"] == failing["metadata"]["name"])
    assert view.status(healed, "app")["restartCount"] == restarts + 1
    assert view.status(healed, "app")["lastState"]["terminated"]["exitCode"] == 1
    sim.set_dependency("orders-db:5432", up=False)
    assert not any(view.ready(p) for p in view.pods("payments", "orders"))


def test_fraud_scorer_heals_with_its_service_account(apps: client.AppsV1Api, sim: SimCluster, view: SimView) -> None:
    apps.patch_namespaced_stateful_set(
        "fraud-scorer", "payments", {"spec": {"template": {"spec": {"serviceAccountName": "fraud-scorer"}}}}
    )
    pods = assert_healed(view, "payments", "fraud-scorer", "scorer", 2)
    assert sorted(p["metadata"]["name"] for p in pods) == ["fraud-scorer-0", "fraud-scorer-1"]
    init = view.status(pods[0], "fetch-model")
    assert init["state"]["terminated"]["reason"] == "Completed"
    sts = sim.get_object("apps/v1", "statefulsets", "payments", "fraud-scorer")
    assert sts["status"]["readyReplicas"] == 2
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    revisions = apps.list_namespaced_controller_revision("payments").items
    assert sorted(r.revision for r in revisions) == [1, 2]
    assert {p["metadata"]["labels"]["controller-revision-hash"] for p in pods} == {sts["status"]["updateRevision"]}


def test_catalog_is_healthy(sim: SimCluster, view: SimView) -> None:
    pods = assert_healed(view, "shop", "catalog", "app", 3)
    assert all(view.status(p, "app")["restartCount"] == 0 for p in pods)
    assert sim.get_object("apps/v1", "deployments", "shop", "catalog")["status"]["readyReplicas"] == 3


def test_namespaces_and_default_service_accounts(sim: SimCluster) -> None:
    for namespace in ("shop", "payments", "default"):
        assert sim.get_object("v1", "namespaces", None, namespace)["status"]["phase"] == "Active"
        assert sim.get_object("v1", "serviceaccounts", namespace, "default")["metadata"]["name"] == "default"
