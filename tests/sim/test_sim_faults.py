"""Auth, injected faults and latency, the request log and the admin HTTP API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import urllib3
from kubernetes import client
from kubernetes.client.rest import ApiException
from simview import SimView

from bot.devtools.simcluster import SimCluster

RBAC_DENIAL = (
    'pods "{pod}" is forbidden: User "system:serviceaccount:crashloop:crashloop-bot" cannot get resource '
    '"pods/log" in API group "" in the namespace "shop"'
)


def test_requests_without_the_token_are_401(raw: Callable[..., Any]) -> None:
    response = raw("/api/v1/namespaces", token=None)
    assert response.status == 401
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }
    assert raw("/api/v1/namespaces", token="wrong").status == 401
    assert raw("/api/v1/namespaces").status == 200


def test_the_kubeconfig_carries_the_token(core: client.CoreV1Api, sim: SimCluster) -> None:
    namespaces = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "shop", "payments"} <= namespaces
    assert sim.requests[-1].status == 200


def test_forbidden_fault_is_worded_like_rbac(core: client.CoreV1Api, sim: SimCluster, view: SimView) -> None:
    pod = view.failing_pod("shop", "web-app")["metadata"]["name"]
    sim.add_fault(verb="get", resource="pods/log", namespace="shop", status=403)
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log(pod, "shop", previous=True)
    body = json.loads(caught.value.body)
    assert (caught.value.status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == RBAC_DENIAL.format(pod=pod)
    assert body["details"] == {"name": pod, "kind": "pods"}
    assert core.read_namespaced_pod(pod, "shop").metadata.name == pod  # only pods/log is denied
    assert sim.requests[-2].status == 403


def test_list_denial_names_no_object(core: client.CoreV1Api, sim: SimCluster) -> None:
    sim.add_fault(verb="list", resource="events", status=403)
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_event("payments")
    assert json.loads(caught.value.body)["message"] == (
        'events is forbidden: User "system:serviceaccount:crashloop:crashloop-bot" cannot list resource "events" '
        'in API group "" in the namespace "payments"'
    )


def test_faults_with_times_run_out(apps: client.AppsV1Api, sim: SimCluster) -> None:
    sim.add_fault(verb="patch", resource="deployments", name="catalog", status=409, times=1)
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment("catalog", "shop", {"spec": {"replicas": 2}})
    assert json.loads(caught.value.body)["reason"] == "Conflict"
    assert sim.active_faults() == []
    apps.patch_namespaced_deployment("catalog", "shop", {"spec": {"replicas": 2}})
    assert sim.get_object("apps/v1", "deployments", "shop", "catalog")["spec"]["replicas"] == 2


@pytest.mark.parametrize(("code", "reason"), [(404, "NotFound"), (500, "InternalError"), (503, "ServiceUnavailable")])
def test_status_faults(core: client.CoreV1Api, sim: SimCluster, code: int, reason: str) -> None:
    sim.add_fault(verb="get", resource="secrets", namespace="shop", name="checkout-db", status=code)
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_secret("checkout-db", "shop")
    assert (caught.value.status, json.loads(caught.value.body)["reason"]) == (code, reason)
    sim.clear_faults()
    assert core.read_namespaced_secret("checkout-db", "shop").metadata.name == "checkout-db"


def test_delay_fault_simulates_a_timeout(core: client.CoreV1Api, sim: SimCluster) -> None:
    sim.add_fault(verb="list", resource="pods", namespace="shop", delay=1.0)
    with pytest.raises((urllib3.exceptions.MaxRetryError, urllib3.exceptions.ReadTimeoutError)):
        core.list_namespaced_pod("shop", _request_timeout=0.2)  # the client retries reads, and each times out
    sim.clear_faults()
    assert core.list_namespaced_pod("shop", _request_timeout=2).items


def test_a_delayed_call_that_is_waited_for_succeeds(core: client.CoreV1Api, sim: SimCluster) -> None:
    sim.add_fault(verb="get", resource="namespaces", delay=0.3, times=1)
    started = time.monotonic()
    assert core.read_namespace("payments").metadata.name == "payments"
    assert time.monotonic() - started >= 0.3


def test_latency_is_applied_to_every_api_call(core: client.CoreV1Api, sim: SimCluster) -> None:
    started = time.monotonic()
    for _ in range(4):
        core.read_namespace("shop")
    fast = time.monotonic() - started
    sim.set_latency(0.05)
    started = time.monotonic()
    for _ in range(4):
        core.read_namespace("shop")
    slow = time.monotonic() - started
    assert slow >= 0.2
    assert slow - fast >= 0.18
    assert sim.latency == 0.05


def test_admin_endpoints_skip_latency_and_auth(raw: Callable[..., Any], sim: SimCluster) -> None:
    sim.set_latency(0.5)
    started = time.monotonic()
    response = raw("/_sim/requests", token=None)
    assert response.status == 200
    assert time.monotonic() - started < 0.4


def test_request_log_records_what_reached_the_api(apps: client.AppsV1Api, sim: SimCluster) -> None:
    sim.clear_requests()
    patch = {"spec": {"template": {"spec": {"serviceAccountName": "inventory-sync"}}}}
    apps.patch_namespaced_deployment("inventory-sync", "shop", patch, dry_run="All")
    (entry,) = sim.requests
    assert (entry.method, entry.path, entry.status) == (
        "PATCH",
        "/apis/apps/v1/namespaces/shop/deployments/inventory-sync",
        200,
    )
    assert entry.query == {"dryRun": "All"}
    assert entry.content_type == "application/strategic-merge-patch+json"
    assert entry.body == patch
    assert (entry.verb, entry.resource, entry.namespace, entry.name) == (
        "patch",
        "deployments",
        "shop",
        "inventory-sync",
    )


def test_admin_http_api(raw: Callable[..., Any], core: client.CoreV1Api, sim: SimCluster, view: SimView) -> None:
    fault = raw(
        "/_sim/faults", "POST", token=None, body={"verb": "list", "resource": "pods", "status": 500, "times": 1}
    )
    assert fault.status == 201
    assert fault.json()["status"] == 500
    assert raw("/api/v1/namespaces/shop/pods").status == 500
    assert raw("/api/v1/namespaces/shop/pods").status == 200
    logged = raw("/_sim/requests", token=None).json()
    assert [r["status"] for r in logged if r["path"] == "/api/v1/namespaces/shop/pods"] == [500, 200]
    assert raw("/_sim/latency", "PUT", token=None, body={"seconds": 0.01}).status == 200
    assert sim.latency == 0.01
    raw("/_sim/dependencies", "PUT", token=None, body={"target": "orders-db:5432", "up": True})
    assert all(view.ready(p) for p in view.pods("payments", "orders"))
    assert raw("/_sim/faults", "DELETE", token=None).status == 200
    assert raw("/_sim/requests", "DELETE", token=None).json() == {"cleared": True}
    assert sim.requests == []


# --- lost answers: the call is carried out, then its answer is lost ------------------------------------------------

_IMAGE_PATCH = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "web:lost-answer"}]}}}}


def _image(sim: SimCluster) -> str:
    deployment = sim.get_object("apps/v1", "deployments", "shop", "web-app")
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def _patches(sim: SimCluster) -> list[int]:
    return [r.status for r in sim.requests if r.verb == "patch" and r.name == "web-app"]


def test_a_landed_patch_answered_504_is_in_the_store(apps: client.AppsV1Api, sim: SimCluster) -> None:
    sim.add_fault(verb="patch", resource="deployments", name="web-app", status=504, land=True, times=1)
    with pytest.raises(ApiException) as caught:
        apps.patch_namespaced_deployment("web-app", "shop", _IMAGE_PATCH)
    assert caught.value.status == 504
    assert _image(sim) == "web:lost-answer"
    assert _patches(sim) == [504]


def test_a_landed_patch_answered_too_late_times_out(apps: client.AppsV1Api, sim: SimCluster) -> None:
    sim.add_fault(verb="patch", resource="deployments", name="web-app", delay=1.0, land=True, times=1)
    with pytest.raises((urllib3.exceptions.MaxRetryError, urllib3.exceptions.ReadTimeoutError)):
        apps.patch_namespaced_deployment("web-app", "shop", _IMAGE_PATCH, _request_timeout=0.3)
    assert _image(sim) == "web:lost-answer"  # landed before the answer was held back


def test_a_landed_patch_whose_connection_drops(apps: client.AppsV1Api, sim: SimCluster) -> None:
    sim.add_fault(verb="patch", resource="deployments", name="web-app", drop=True, land=True, times=1)
    with pytest.raises((urllib3.exceptions.HTTPError, ConnectionError)):
        apps.patch_namespaced_deployment("web-app", "shop", _IMAGE_PATCH)
    assert _image(sim) == "web:lost-answer"
    assert _patches(sim) == [0]  # recorded, with no answer sent


def test_a_fault_without_status_delay_or_drop_is_refused(sim: SimCluster) -> None:
    with pytest.raises(ValueError, match="status, a delay or drop"):
        sim.add_fault(verb="patch", land=True)


def test_a_fault_for_real_calls_lets_dry_runs_through(apps: client.AppsV1Api, sim: SimCluster) -> None:
    sim.add_fault(verb="patch", resource="deployments", status=504, land=True, dry_run=False, times=1)
    apps.patch_namespaced_deployment("web-app", "shop", _IMAGE_PATCH, dry_run="All")  # not taken by the fault
    assert _image(sim) != "web:lost-answer"
    with pytest.raises(ApiException):
        apps.patch_namespaced_deployment("web-app", "shop", _IMAGE_PATCH)
    assert _image(sim) == "web:lost-answer"
    assert _patches(sim) == [200, 504]


def test_lost_answer_faults_over_the_admin_api(raw: Callable[..., Any], sim: SimCluster) -> None:
    body = {"verb": "patch", "resource": "deployments", "status": 504, "land": True, "drop": False, "dry_run": False}
    assert raw("/_sim/faults", "POST", token=None, body=body).status == 201
    (fault,) = sim.active_faults()
    assert (fault.land, fault.drop, fault.dry_run, fault.status) == (True, False, False, 504)
