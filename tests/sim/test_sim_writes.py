"""Writes: the three patch types, dry runs, optimistic concurrency, validation and Status errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from simview import SimView

from bot.devtools.simcluster import SimCluster


def status_of(caught: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body = json.loads(caught.value.body)
    assert body["kind"] == "Status"
    assert body["status"] == "Failure"
    assert body["code"] == caught.value.status
    return dict(body)


def last_request(sim: SimCluster, method: str) -> Any:
    return [r for r in sim.requests if r.method == method][-1]


def test_strategic_merge_patch_merges_containers_by_name(
    apps: client.AppsV1Api, sim: SimCluster, view: SimView
) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sync", "env": [{"name": "X", "value": "1"}]}]}}}}
    apps.patch_namespaced_deployment("inventory-sync", "shop", patch)
    recorded = last_request(sim, "PATCH")
    assert recorded.content_type == "application/strategic-merge-patch+json"
    assert recorded.body == patch
    container = sim.get_object("apps/v1", "deployments", "shop", "inventory-sync")["spec"]["template"]["spec"][
        "containers"
    ][0]
    assert container["image"] == "registry.example.com/shop/inventory-sync:0.9.3"  # merged, not replaced
    assert container["env"] == [{"name": "X", "value": "1"}]
    assert len(view.replicasets("shop", "inventory-sync")) == 2


def test_strategic_merge_delete_directive_removes_one_env_var(apps: client.AppsV1Api, sim: SimCluster) -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"name": "app", "env": [{"name": "LISTEN_ADDR", "$patch": "delete"}]}]}
            }
        }
    }
    apps.patch_namespaced_deployment("web-app", "shop", patch)
    env = sim.get_object("apps/v1", "deployments", "shop", "web-app")["spec"]["template"]["spec"]["containers"][0][
        "env"
    ]
    assert [e["name"] for e in env] == ["CATALOG_URL"]


def test_json_patch_goes_through_jsonpatch(apps: client.AppsV1Api, sim: SimCluster) -> None:
    ops = [
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/image",
            "value": "registry.example.com/shop/web-app:2.3.1",
        }
    ]
    apps.patch_namespaced_deployment("web-app", "shop", ops)
    recorded = last_request(sim, "PATCH")
    assert recorded.content_type == "application/json-patch+json"
    assert recorded.body == ops
    deployment = sim.get_object("apps/v1", "deployments", "shop", "web-app")
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "8"


def test_failing_json_patch_is_422(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment("web-app", "shop", [{"op": "remove", "path": "/spec/nope"}])
    status = status_of(caught)
    assert (status["code"], status["reason"]) == (422, "Invalid")


def test_merge_patch_removes_keys_with_null(apps: client.AppsV1Api, sim: SimCluster) -> None:
    apps.patch_namespaced_deployment(
        "web-app",
        "shop",
        {"metadata": {"labels": {"app.kubernetes.io/part-of": None, "team": "storefront"}}},
        _content_type="application/merge-patch+json",
    )
    assert last_request(sim, "PATCH").content_type == "application/merge-patch+json"
    labels = sim.get_object("apps/v1", "deployments", "shop", "web-app")["metadata"]["labels"]
    assert labels == {"app": "web-app", "team": "storefront"}


def test_apply_patches_are_unsupported(raw: Callable[..., Any]) -> None:
    response = raw(
        "/apis/apps/v1/namespaces/shop/deployments/web-app?fieldManager=bot",
        "PATCH",
        headers={"Content-Type": "application/apply-patch+yaml"},
        body={"spec": {}},
    )
    assert response.status == 415
    assert response.json()["reason"] == "UnsupportedMediaType"


def test_dry_run_patch_validates_answers_and_persists_nothing(
    apps: client.AppsV1Api, core: client.CoreV1Api, sim: SimCluster, view: SimView
) -> None:
    before = sim.get_object("apps/v1", "deployments", "shop", "ledger-api")
    list_rv = core.list_namespaced_pod("shop", _preload_content=False)
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "512Mi"}}}]}}}
    }
    answer = apps.patch_namespaced_deployment("ledger-api", "shop", patch, dry_run="All")
    assert answer.spec.template.spec.containers[0].resources.limits["memory"] == "512Mi"
    assert answer.metadata.resource_version == before["metadata"]["resourceVersion"]
    after = sim.get_object("apps/v1", "deployments", "shop", "ledger-api")
    assert after == before
    assert len(view.replicasets("shop", "ledger-api")) == 2
    assert not any(view.ready(p) for p in view.pods("shop", "ledger-api"))
    rv_before = json.loads(list_rv.data)["metadata"]["resourceVersion"]
    rv_after = json.loads(core.list_namespaced_pod("shop", _preload_content=False).data)["metadata"]["resourceVersion"]
    assert rv_after == rv_before


def test_dry_run_rejects_what_a_real_write_would(apps: client.AppsV1Api) -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "app", "resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "384Mi"}}}
                    ]
                }
            }
        }
    }
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment("ledger-api", "shop", patch, dry_run="All")
    status = status_of(caught)
    assert status["reason"] == "Invalid"
    assert status["message"] == (
        'Deployment.apps "ledger-api" is invalid: spec.template.spec.containers[0].resources.requests: '
        'Invalid value: "1Gi": must be less than or equal to memory limit of 384Mi'
    )
    assert status["details"]["causes"][0]["field"] == "spec.template.spec.containers[0].resources.requests"


def test_dry_run_create_and_delete(core: client.CoreV1Api, sim: SimCluster) -> None:
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="gateway-secrets"), string_data={"K": "v"})
    created = core.create_namespaced_secret("payments", secret, dry_run="All")
    assert created.metadata.uid
    assert sim.find_object("v1", "secrets", "payments", "gateway-secrets") is None
    core.delete_namespaced_secret("checkout-db", "shop", dry_run="All")
    assert sim.find_object("v1", "secrets", "shop", "checkout-db") is not None


def test_stale_resource_version_is_a_conflict(apps: client.AppsV1Api) -> None:
    deployment = apps.read_namespaced_deployment("catalog", "shop")
    apps.patch_namespaced_deployment("catalog", "shop", {"metadata": {"annotations": {"owner": "team-a"}}})
    deployment.spec.replicas = 4
    with pytest.raises(ApiException) as caught:
        apps.replace_namespaced_deployment("catalog", "shop", deployment)
    status = status_of(caught)
    assert (status["code"], status["reason"]) == (409, "Conflict")
    assert status["message"] == (
        'Operation cannot be fulfilled on deployments.apps "catalog": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert status["details"] == {"name": "catalog", "group": "apps", "kind": "deployments"}


def test_patch_carrying_a_stale_resource_version_is_a_conflict(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment(
            "catalog", "shop", {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 1}}
        )
    assert caught.value.status == 409


def test_replace_with_current_version_bumps_generation(apps: client.AppsV1Api, view: SimView) -> None:
    deployment = apps.read_namespaced_deployment("catalog", "shop")
    generation = deployment.metadata.generation
    deployment.spec.replicas = 4
    replaced = apps.replace_namespaced_deployment("catalog", "shop", deployment)
    assert replaced.metadata.generation == generation + 1
    assert int(replaced.metadata.resource_version) > int(deployment.metadata.resource_version)
    assert len(view.pods("shop", "catalog")) == 4
    assert apps.read_namespaced_deployment("catalog", "shop").status.observed_generation == generation + 1


def test_not_found_and_already_exists(apps: client.AppsV1Api, core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("nope", "shop")
    status = status_of(missing)
    assert (status["reason"], status["message"]) == ("NotFound", 'deployments.apps "nope" not found')
    assert status["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}
    with pytest.raises(ApiException) as exists:
        core.create_namespaced_service_account(
            "shop", client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default"))
        )
    status = status_of(exists)
    assert (status["code"], status["reason"], status["message"]) == (
        409,
        "AlreadyExists",
        'serviceaccounts "default" already exists',
    )


def test_create_in_a_missing_namespace(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("nope", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x")))
    assert status_of(caught)["message"] == 'namespaces "nope" not found'


def test_string_data_is_stored_as_base64_data(core: client.CoreV1Api, sim: SimCluster) -> None:
    core.create_namespaced_secret(
        "payments", client.V1Secret(metadata=client.V1ObjectMeta(name="s1"), string_data={"token": "abc"})
    )
    stored = sim.get_object("v1", "secrets", "payments", "s1")
    assert stored["data"] == {"token": base64.b64encode(b"abc").decode()}
    assert "stringData" not in stored
    assert stored["type"] == "Opaque"


def test_deleting_a_pod_makes_its_replicaset_replace_it(core: client.CoreV1Api, view: SimView) -> None:
    victim = view.pods("shop", "catalog")[0]["metadata"]["name"]
    deleted = core.delete_namespaced_pod(victim, "shop")
    assert deleted.metadata.deletion_timestamp is not None
    names = [p["metadata"]["name"] for p in view.pods("shop", "catalog")]
    assert victim not in names
    assert len(names) == 3
    events = view.events_for("shop", view.replicasets("shop", "catalog")[0]["metadata"]["name"])
    assert any(e["reason"] == "SuccessfulCreate" and e["message"].startswith("Created pod: ") for e in events)


def test_deleting_a_deployment_collects_its_replicasets_and_pods(apps: client.AppsV1Api, view: SimView) -> None:
    status = apps.delete_namespaced_deployment("checkout", "shop")
    assert (status["kind"], status["status"], status["details"]["kind"]) == ("Status", "Success", "deployments")
    assert view.replicasets("shop", "checkout") == []
    assert view.pods("shop", "checkout") == []


def test_scale_subresource(apps: client.AppsV1Api, view: SimView) -> None:
    scale = apps.read_namespaced_deployment_scale("catalog", "shop")
    assert (scale.spec.replicas, scale.status.selector) == (3, "app=catalog")
    apps.patch_namespaced_deployment_scale("catalog", "shop", {"spec": {"replicas": 1}})
    assert len(view.pods("shop", "catalog")) == 1


def test_pod_updates_may_only_change_images(core: client.CoreV1Api, view: SimView) -> None:
    pod = view.pods("shop", "catalog")[0]["metadata"]["name"]
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_pod(
            pod, "shop", {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "1Gi"}}}]}}
        )
    assert "pod updates may not change fields other than" in status_of(caught)["message"]


def test_invalid_names_and_missing_images(apps: client.AppsV1Api) -> None:
    body = {
        "metadata": {"name": "Bad_Name"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "c"}}, "spec": {"containers": [{"name": "x"}]}},
        },
    }
    with pytest.raises(ApiException) as caught:
        apps.create_namespaced_deployment("shop", body)
    causes = {c["field"]: c["reason"] for c in status_of(caught)["details"]["causes"]}
    assert causes == {
        "metadata.name": "FieldValueInvalid",
        "spec.template.metadata.labels": "FieldValueInvalid",
        "spec.template.spec.containers[0].image": "FieldValueRequired",
    }


def test_leases_support_leader_election(api_client: client.ApiClient) -> None:
    coordination = client.CoordinationV1Api(api_client)
    body = {"metadata": {"name": "crashloop-bot"}, "spec": {"holderIdentity": "bot-0", "leaseDurationSeconds": 15}}
    created = coordination.create_namespaced_lease("default", body)
    assert created.spec.holder_identity == "bot-0"
    created.spec.holder_identity = "bot-1"
    renewed = coordination.replace_namespaced_lease("crashloop-bot", "default", created)
    assert renewed.spec.holder_identity == "bot-1"
    created.spec.holder_identity = "bot-2"  # still carries the old resourceVersion: someone else renewed first
    with pytest.raises(ApiException) as caught:
        coordination.replace_namespaced_lease("crashloop-bot", "default", created)
    assert caught.value.status == 409
