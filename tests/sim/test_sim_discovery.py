"""Discovery, as the official client and kubectl read it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubernetes import client


def test_version_is_a_real_looking_v1_32(api_client: client.ApiClient) -> None:
    info = client.VersionApi(api_client).get_code()
    assert (info.major, info.minor) == ("1", "32")
    assert info.git_version.startswith("v1.32.")


def test_named_groups_are_listed_with_preferred_versions(api_client: client.ApiClient) -> None:
    groups = {g.name: g.preferred_version.group_version for g in client.ApisApi(api_client).get_api_versions().groups}
    assert groups == {"apps": "apps/v1", "coordination.k8s.io": "coordination.k8s.io/v1"}


def test_core_resources_carry_kinds_short_names_and_subresources(core: client.CoreV1Api) -> None:
    resources = {r.name: r for r in core.get_api_resources().resources}
    assert resources["pods"].kind == "Pod"
    assert resources["pods"].short_names == ["po"]
    assert resources["pods"].namespaced is True
    assert resources["pods/log"].verbs == ["get"]
    assert resources["namespaces"].namespaced is False
    assert resources["configmaps"].short_names == ["cm"]
    assert {"secrets", "serviceaccounts", "services", "events"} <= set(resources)


def test_apps_resources_include_scale_subresources(apps: client.AppsV1Api) -> None:
    resources = {r.name: r for r in apps.get_api_resources().resources}
    assert resources["deployments"].short_names == ["deploy"]
    assert "patch" in resources["deployments"].verbs
    scale = resources["deployments/scale"]
    assert (scale.group, scale.version, scale.kind) == ("autoscaling", "v1", "Scale")
    assert {"replicasets", "statefulsets", "daemonsets", "controllerrevisions"} <= set(resources)


def test_coordination_group_serves_leases(raw: Callable[..., Any]) -> None:
    body = raw("/apis/coordination.k8s.io/v1").json()
    assert body["kind"] == "APIResourceList"
    assert [r["name"] for r in body["resources"]] == ["leases"]


def test_unknown_paths_are_status_404(raw: Callable[..., Any]) -> None:
    response = raw("/apis/batch/v1/namespaces/shop/jobs")
    assert response.status == 404
    assert response.json()["reason"] == "NotFound"


def test_kubectl_api_resources_uses_discovery(kubectl: Callable[..., Any]) -> None:
    out = kubectl("api-resources", "--api-group=apps").stdout
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert lines["deployments"][1:4] == ["deploy", "apps/v1", "true"]
    assert lines["statefulsets"][-1] == "StatefulSet"


def test_openapi_v3_declares_server_side_field_validation(raw: Callable[..., Any]) -> None:
    root = raw("/openapi/v3").json()
    url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
    document = raw(url).json()
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert patch["parameters"][0]["name"] == "fieldValidation"
