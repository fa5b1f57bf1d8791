"""Reads: lists with selectors, representations (metadata only, Table), and the shapes the kubelet writes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from simview import SimView

PARTIAL = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
PARTIAL_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def names(items: list[Any]) -> list[str]:
    return sorted(i.metadata.name for i in items)


def test_label_selector_equality_lists_one_app(core: client.CoreV1Api) -> None:
    pods = core.list_namespaced_pod("shop", label_selector="app=web-app").items
    assert len(pods) == 3
    assert all(p.metadata.name.startswith("web-app-") for p in pods)


@pytest.mark.parametrize(
    ("selector", "apps"),
    [
        ("app in (web-app,catalog),app!=catalog", {"web-app"}),
        ("app==catalog", {"catalog"}),
        ("app notin (web-app,catalog,checkout,search,ledger-api,report-worker)", {"inventory-sync"}),
        ("app,!pod-template-hash", set()),
        ("app.kubernetes.io/part-of", {"web-app"}),
    ],
)
def test_label_selector_operators(core: client.CoreV1Api, selector: str, apps: set[str]) -> None:
    pods = core.list_namespaced_pod("shop", label_selector=selector).items
    assert {p.metadata.labels["app"] for p in pods} == apps


def test_field_selector_across_namespaces(core: client.CoreV1Api) -> None:
    pending = core.list_pod_for_all_namespaces(field_selector="status.phase=Pending").items
    assert {p.metadata.namespace for p in pending} == {"payments"}
    assert {p.metadata.labels["app"] for p in pending} == {"fraud-scorer", "payments-gateway"}


def test_field_selectors_on_name_namespace_and_node(core: client.CoreV1Api) -> None:
    pod = core.list_namespaced_pod("shop", label_selector="app=catalog").items[0]
    by_name = core.list_namespaced_pod("shop", field_selector=f"metadata.name={pod.metadata.name}").items
    assert names(by_name) == [pod.metadata.name]
    on_node = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={pod.spec.node_name}").items
    assert pod.metadata.name in names(on_node)
    assert all(p.spec.node_name == pod.spec.node_name for p in on_node)
    others = core.list_pod_for_all_namespaces(field_selector="metadata.namespace!=shop").items
    assert {p.metadata.namespace for p in others} == {"payments"}


def test_unsupported_field_selector_is_rejected_like_the_apiserver(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_pod("shop", field_selector="spec.containers=app")
    assert caught.value.status == 400
    assert json.loads(caught.value.body)["message"] == "field label not supported: spec.containers"


def test_lists_carry_kind_and_resource_version(core: client.CoreV1Api) -> None:
    response = core.list_namespaced_pod("shop", _preload_content=False)
    body = json.loads(response.data)
    assert body["kind"] == "PodList"
    assert body["apiVersion"] == "v1"
    assert int(body["metadata"]["resourceVersion"]) > 1000


def test_events_by_involved_object(core: client.CoreV1Api, view: SimView) -> None:
    pod = view.failing_pod("shop", "web-app")
    uid = pod["metadata"]["uid"]
    selector = f"involvedObject.kind=Pod,involvedObject.name={pod['metadata']['name']},involvedObject.uid={uid}"
    events = core.list_namespaced_event("shop", field_selector=selector).items
    reasons = {e.reason: e for e in events}
    assert {"Scheduled", "Pulling", "Pulled", "Created", "Started", "BackOff"} <= set(reasons)
    backoff = reasons["BackOff"]
    assert backoff.type == "Warning"
    assert backoff.count > 5
    assert backoff.message == (f"Back-off restarting failed container app in pod {pod['metadata']['name']}_shop({uid})")
    assert backoff.involved_object.field_path == "spec.containers{app}"
    assert backoff.source.component == "kubelet"
    assert reasons["Scheduled"].event_time is not None
    assert reasons["Scheduled"].last_timestamp is None


def test_events_by_reason_and_type(core: client.CoreV1Api) -> None:
    events = core.list_namespaced_event("shop", field_selector="reason=Unhealthy,type=Warning").items
    messages = {e.message.split(":")[0] for e in events}
    assert messages == {"Liveness probe failed", "Readiness probe failed"}


def test_metadata_only_read_of_a_secret_carries_no_data(raw: Callable[..., Any]) -> None:
    response = raw("/api/v1/namespaces/shop/secrets/checkout-db", headers={"Accept": PARTIAL})
    body = response.json()
    assert response.status == 200
    assert body["kind"] == "PartialObjectMetadata"
    assert body["apiVersion"] == "meta.k8s.io/v1"
    assert body["metadata"]["name"] == "checkout-db"
    assert "data" not in body
    assert "s3cr3t" not in response.text


def test_metadata_only_read_through_the_official_client(core: client.CoreV1Api) -> None:
    response = core.read_namespaced_secret("checkout-db", "shop", _preload_content=False, _headers={"Accept": PARTIAL})
    body = json.loads(response.data)
    assert set(body) == {"kind", "apiVersion", "metadata"}


def test_metadata_only_list(raw: Callable[..., Any]) -> None:
    body = raw("/api/v1/namespaces/payments/secrets", headers={"Accept": PARTIAL_LIST}).json()
    assert body["kind"] == "PartialObjectMetadataList"
    assert {i["metadata"]["name"] for i in body["items"]} == {
        "orders-db-credentials",
        "model-registry-token",
    }
    assert all(set(i) == {"kind", "apiVersion", "metadata"} for i in body["items"])


def test_a_missing_secret_is_404_in_metadata_form_too(raw: Callable[..., Any]) -> None:
    response = raw("/api/v1/namespaces/payments/secrets/gateway-secrets", headers={"Accept": PARTIAL})
    assert response.status == 404
    assert response.json()["message"] == 'secrets "gateway-secrets" not found'


def test_table_rows_read_like_kubectl_get(raw: Callable[..., Any], view: SimView) -> None:
    table = raw("/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb-app", headers={"Accept": TABLE}).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"][:5]] == ["Name", "Ready", "Status", "Restarts", "Age"]
    failing = view.failing_pod("shop", "web-app")["metadata"]["name"]
    row = next(r["cells"] for r in table["rows"] if r["cells"][0] == failing)
    assert row[1:3] == ["0/1", "CrashLoopBackOff"]
    assert re.fullmatch(r"5 \(\d+s ago\)", row[3])
    assert re.fullmatch(r"4m(\d+s)?", row[4])


def test_failing_pod_status_is_shaped_like_the_kubelets(view: SimView) -> None:
    pod = view.failing_pod("shop", "web-app")
    status = pod["status"]
    app = view.status(pod, "app")
    assert status["phase"] == "Running"
    assert status["qosClass"] == "Burstable"
    assert status["podIP"].startswith("10.244.")
    assert status["hostIP"].startswith("10.0.1.")
    assert app["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert app["state"]["waiting"]["message"].startswith("back-off ")
    terminated = app["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (2, "Error")
    assert terminated["finishedAt"] > terminated["startedAt"]
    assert (app["ready"], app["started"], app["restartCount"]) == (False, False, 5)
    assert app["imageID"].startswith("registry.example.com/shop/web-app@sha256:")
    assert app["containerID"].startswith("containerd://")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "ContainersNotReady",
        "containers with unready status: [app]",
    )


def test_official_client_deserialises_pods_and_deployments(core: client.CoreV1Api, apps: client.AppsV1Api) -> None:
    pod = core.list_namespaced_pod("payments", label_selector="app=fraud-scorer").items[0]
    init = pod.status.init_container_statuses[0]
    assert init.state.waiting.reason == "CrashLoopBackOff"
    assert init.last_state.terminated.exit_code == 1
    assert pod.status.container_statuses[0].state.waiting.reason == "PodInitializing"
    deployment = apps.read_namespaced_deployment("web-app", "shop")
    assert deployment.metadata.annotations["deployment.kubernetes.io/revision"] == "7"
    assert deployment.status.updated_replicas == 1
    assert deployment.status.ready_replicas == 2


def test_deployment_history_is_real_replicasets(apps: client.AppsV1Api) -> None:
    deployment = apps.read_namespaced_deployment("web-app", "shop")
    replicasets = apps.list_namespaced_replica_set("shop", label_selector="app=web-app").items
    revisions = {rs.metadata.annotations["deployment.kubernetes.io/revision"]: rs for rs in replicasets}
    assert set(revisions) == {"6", "7"}
    assert revisions["6"].spec.template.spec.containers[0].image.endswith(":2.3.1")
    assert revisions["7"].spec.template.spec.containers[0].image.endswith(":2.4.0")
    for rs in replicasets:
        owner = rs.metadata.owner_references[0]
        assert (owner.kind, owner.name, owner.uid, owner.controller) == (
            "Deployment",
            "web-app",
            deployment.metadata.uid,
            True,
        )
        hash_label = rs.metadata.labels["pod-template-hash"]
        assert rs.metadata.name == f"web-app-{hash_label}"
    ages = {r: rs.metadata.creation_timestamp for r, rs in revisions.items()}
    assert (ages["7"] - ages["6"]).days == 5  # six days minus four minutes


def test_statefulset_history_is_controller_revisions(apps: client.AppsV1Api) -> None:
    revisions = apps.list_namespaced_controller_revision("payments").items
    assert len(revisions) == 1
    revision = revisions[0]
    assert revision.revision == 1
    assert revision.metadata.owner_references[0].name == "fraud-scorer"
    assert revision.data["spec"]["template"]["spec"]["initContainers"][0]["name"] == "fetch-model"
    sts = apps.read_namespaced_stateful_set("fraud-scorer", "payments")
    assert sts.status.current_revision == sts.status.update_revision == revision.metadata.name
    assert sts.status.ready_replicas is None  # omitted when zero, as the apiserver does
