"""Remedies → patches: the body, the summary and the exact template diff of every remedy, and why one cannot apply.

Plans are applied to hand-made Kubernetes JSON with the simulated apiserver's patch functions (strategic merge and
RFC 6902, as `kubectl` sends them) so that each case also shows what the patch changes — and that it changes
nothing else.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.devtools.simcluster.patching import apply_patch
from bot.remedies.patches import (
    MASK,
    NETCHECK_IMAGE,
    NETCHECK_SCRIPT,
    NetcheckResult,
    PatchPlan,
    PlanError,
    netcheck_pod,
    parse_netcheck_log,
    plan,
    template_diff,
    template_of,
)

JsonObj = dict[str, Any]
UID = "5f0c1c2e-8e4b-4a51-9c47-0d1f3b0e9a11"
STS_UID = "0d7f6c2a-1b3c-4d5e-8f90-123456789abc"
IMAGE = "registry.example.com/shop/web:1.5.0"
OLD_IMAGE = "registry.example.com/shop/web:1.4.2"
OLDER_IMAGE = "registry.example.com/shop/web:1.4.0"
SIDECAR_IMAGE = "registry.example.com/log-shipper:1.2"
SECRET_LITERAL = "s3cr3t-hunter2"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


# --- hand-made objects ---------------------------------------------------------------------------------------


def pod_template(image: str = IMAGE, revision_labels: dict[str, str] | None = None) -> JsonObj:
    return {
        "metadata": {"labels": {"app": "web", **(revision_labels or {})}},
        "spec": {
            "initContainers": [
                {"name": "migrate", "image": "registry.example.com/shop/migrate:2", "resources": {}},
            ],
            "containers": [
                {
                    "name": "app",
                    "image": image,
                    "env": [
                        {"name": "API_TOKEN", "value": SECRET_LITERAL},
                        {"name": "DB_URL", "valueFrom": {"secretKeyRef": {"name": "web-db", "key": "url"}}},
                    ],
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                    "livenessProbe": {
                        "httpGet": {"path": "/healthz", "port": 8080},
                        "initialDelaySeconds": 5,
                        "periodSeconds": 10,
                        "timeoutSeconds": 1,
                        "failureThreshold": 3,
                    },
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
                },
                {"name": "sidecar", "image": "registry.example.com/log-shipper:1.2"},
            ],
        },
    }


def deployment(**spec: Any) -> JsonObj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": UID,
            "annotations": {
                "deployment.kubernetes.io/revision": "6",
                "kubernetes.io/change-cause": "web 1.5.0",
                "team": "shop",
            },
        },
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": pod_template(), **spec},
    }


def replicaset(revision: int, image: str, owner_uid: str = UID, cause: str | None = None) -> JsonObj:
    pod_hash = f"hash{revision}"
    annotations = {
        "deployment.kubernetes.io/revision": str(revision),
        "deployment.kubernetes.io/desired-replicas": "2",
        "deployment.kubernetes.io/max-replicas": "3",
    }
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    return {
        "metadata": {
            "name": f"web-{pod_hash}",
            "namespace": "shop",
            "annotations": annotations,
            "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": owner_uid, "controller": True}],
        },
        "spec": {"replicas": 0, "template": pod_template(image, {"pod-template-hash": pod_hash})},
    }


REPLICASETS = [
    replicaset(4, OLDER_IMAGE, cause="web 1.4.0"),
    replicaset(5, OLD_IMAGE, cause="web 1.4.2"),
    replicaset(6, IMAGE, cause="web 1.5.0"),
    replicaset(9, "registry.example.com/other:9", owner_uid="someone-else"),
]


def statefulset() -> JsonObj:
    template = pod_template()
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "scorer", "namespace": "payments", "uid": STS_UID},
        "spec": {
            "replicas": 2,
            "serviceName": "scorer",
            "selector": {"matchLabels": {"app": "web"}},
            "template": template,
        },
    }


def controller_revision(revision: int, image: str) -> JsonObj:
    template = pod_template(image)
    template["$patch"] = "replace"
    return {
        "metadata": {
            "name": f"scorer-{revision}",
            "namespace": "payments",
            "ownerReferences": [{"kind": "StatefulSet", "name": "scorer", "uid": STS_UID, "controller": True}],
        },
        "revision": revision,
        "data": {"spec": {"template": template}},
    }


CONTROLLER_REVISIONS = [controller_revision(1, OLD_IMAGE), controller_revision(2, IMAGE)]


def containers_patch(list_field: str, name: str, **fragment: Any) -> JsonObj:
    return {"spec": {"template": {"spec": {list_field: [{"name": name, **fragment}]}}}}


def applied(workload: JsonObj, patch: PatchPlan) -> JsonObj:
    """The workload after the patch, as the apiserver would merge it."""
    return apply_patch(patch.content_type, copy.deepcopy(workload), copy.deepcopy(patch.body))


def changes(diff: str) -> list[str]:
    """Removed and added lines of a unified diff, without indentation: `-memory: 256Mi`."""
    return [
        line[0] + line[1:].strip() for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]


# --- every remedy: body, summary, and exactly what changes --------------------------------------------------------


@dataclass(frozen=True)
class Case:
    remedy: str
    params: JsonObj
    body: Any
    summary: str
    changed: list[str]
    workload: JsonObj = field(default_factory=deployment)
    history: list[JsonObj] | None = None
    now: datetime | None = NOW


LIVENESS_HANDLER = {"httpGet": {"path": "/healthz", "port": 8080}}
UNDO_TEMPLATE_5 = pod_template(OLD_IMAGE)
UNDO_ANNOTATIONS_5 = {
    "deployment.kubernetes.io/revision": "6",
    "kubernetes.io/change-cause": "web 1.4.2",
}

CASES = [
    pytest.param(
        Case(
            "bump_memory",
            {"container": "app", "from": "256Mi", "to": "384Mi"},
            containers_patch("containers", "app", resources={"limits": {"memory": "384Mi"}}),
            "app: memory limit 256Mi → 384Mi",
            ["-memory: 256Mi", "+memory: 384Mi"],
        ),
        id="bump_memory",
    ),
    pytest.param(
        Case(
            "bump_memory",
            {"container": "app", "from": "256Mi", "to": "512Mi", "request_to": "512Mi"},
            containers_patch(
                "containers", "app", resources={"limits": {"memory": "512Mi"}, "requests": {"memory": "512Mi"}}
            ),
            "app: memory limit 256Mi → 512Mi, request 128Mi → 512Mi",
            ["-memory: 256Mi", "+memory: 512Mi", "-memory: 128Mi", "+memory: 512Mi"],
        ),
        id="bump_memory-with-request",
    ),
    pytest.param(
        Case(
            "bump_memory",
            {"container": "migrate", "to": "1Gi"},
            containers_patch("initContainers", "migrate", resources={"limits": {"memory": "1Gi"}}),
            "migrate: memory limit none → 1Gi",
            ["-resources: {}", "+resources:", "+limits:", "+memory: 1Gi"],
        ),
        id="bump_memory-init-container",
    ),
    pytest.param(
        Case(
            "patch_probes",
            {
                "container": "app",
                "probes": {
                    "startup": {**LIVENESS_HANDLER, "periodSeconds": 5, "failureThreshold": 30},
                    "liveness": {"timeoutSeconds": 5, "failureThreshold": 3},
                },
                "before": {"liveness": {"timeoutSeconds": 1, "failureThreshold": 3}},
            },
            containers_patch(
                "containers",
                "app",
                startupProbe={**LIVENESS_HANDLER, "periodSeconds": 5, "failureThreshold": 30},
                livenessProbe={"timeoutSeconds": 5},
            ),
            "app: add startupProbe httpGet :8080/healthz periodSeconds 5, failureThreshold 30; "
            "livenessProbe timeoutSeconds 1 → 5",
            [
                "-timeoutSeconds: 1",
                "+timeoutSeconds: 5",
                "+startupProbe:",
                "+failureThreshold: 30",
                "+httpGet:",
                "+path: /healthz",
                "+port: 8080",
                "+periodSeconds: 5",
            ],
        ),
        id="patch_probes-add-startup-relax-liveness",
    ),
    pytest.param(
        Case(
            "patch_probes",
            {"container": "app", "probes": {"readinessProbe": {"tcpSocket": {"port": 8080}, "failureThreshold": 6}}},
            containers_patch(
                "containers",
                "app",
                readinessProbe={"tcpSocket": {"port": 8080}, "failureThreshold": 6, "httpGet": None},
            ),
            "app: readinessProbe handler → tcpSocket :8080, failureThreshold unset → 6",
            [
                "-httpGet:",
                "-path: /ready",
                "+failureThreshold: 6",
                "+periodSeconds: 5",
                "+tcpSocket:",
                "-periodSeconds: 5",
            ],
        ),
        id="patch_probes-new-handler-replaces-old",
    ),
    pytest.param(
        Case(
            "set_env",
            {"container": "app", "name": "LOG_LEVEL", "value": "debug"},
            containers_patch("containers", "app", env=[{"name": "LOG_LEVEL", "value": "debug"}]),
            "app: set env LOG_LEVEL to a literal value",
            ["+- name: LOG_LEVEL", f"+value: {MASK}"],
        ),
        id="set_env-new-literal",
    ),
    pytest.param(
        Case(
            "set_env",
            {"container": "app", "name": "API_TOKEN", "secret": {"name": "web-api", "key": "token"}},
            containers_patch(
                "containers",
                "app",
                env=[
                    {
                        "name": "API_TOKEN",
                        "valueFrom": {"secretKeyRef": {"name": "web-api", "key": "token"}},
                        "value": None,
                    }
                ],
            ),
            "app: set env API_TOKEN from Secret web-api/token (replaces a literal value)",
            [f"-value: {MASK}", "+valueFrom:", "+secretKeyRef:", "+key: token", "+name: web-api"],
        ),
        id="set_env-secret-replaces-literal",
    ),
    pytest.param(
        Case(
            "set_env",
            {"container": "app", "name": "DB_URL", "configmap": {"name": "web-config", "key": "db_url"}},
            containers_patch(
                "containers",
                "app",
                env=[
                    {
                        "name": "DB_URL",
                        "valueFrom": {"configMapKeyRef": {"name": "web-config", "key": "db_url"}, "secretKeyRef": None},
                    }
                ],
            ),
            "app: set env DB_URL from ConfigMap web-config/db_url (replaces Secret web-db/url)",
            ["-secretKeyRef:", "-key: url", "-name: web-db", "+configMapKeyRef:", "+key: db_url", "+name: web-config"],
        ),
        id="set_env-configmap-replaces-secret",
    ),
    pytest.param(
        Case(
            "set_env",
            {"container": "app", "name": "API_TOKEN", "value": "rotated-token"},
            containers_patch("containers", "app", env=[{"name": "API_TOKEN", "value": "rotated-token"}]),
            "app: set env API_TOKEN to a literal value (replaces a literal value)",
            [f"-value: {MASK}", f"+value: {MASK} (changed)"],
        ),
        id="set_env-literal-changes-masked",
    ),
    pytest.param(
        Case(
            "set_image",
            {"container": "app", "image": OLD_IMAGE},
            containers_patch("containers", "app", image=OLD_IMAGE),
            f"app: image {IMAGE} → {OLD_IMAGE}",
            [f"-image: {IMAGE}", f"+image: {OLD_IMAGE}"],
        ),
        id="set_image",
    ),
    pytest.param(
        Case(
            "set_image",
            {"container": "migrate", "image": "registry.example.com/shop/migrate:1"},
            containers_patch("initContainers", "migrate", image="registry.example.com/shop/migrate:1"),
            "migrate: image registry.example.com/shop/migrate:2 → registry.example.com/shop/migrate:1",
            ["-- image: registry.example.com/shop/migrate:2", "+- image: registry.example.com/shop/migrate:1"],
        ),
        id="set_image-init-container",
    ),
    pytest.param(
        Case(
            "service_account",
            {"from": "default", "service_account": "web-sa"},
            {"spec": {"template": {"spec": {"serviceAccountName": "web-sa"}}}},
            "serviceAccountName default → web-sa",
            ["+serviceAccountName: web-sa"],
        ),
        id="service_account",
    ),
    pytest.param(
        Case(
            "service_account",
            {"service_account": "scorer"},
            {"spec": {"template": {"spec": {"serviceAccountName": "scorer"}}}},
            "serviceAccountName default → scorer",
            ["+serviceAccountName: scorer"],
            workload=statefulset(),
        ),
        id="service_account-statefulset",
    ),
    pytest.param(
        Case(
            "rollout_restart",
            {},
            {
                "spec": {
                    "template": {
                        "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T12:00:00Z"}}
                    }
                }
            },
            "restart all pods of Deployment web (restartedAt 2024-05-01T12:00:00Z)",
            ["+annotations:", "+kubectl.kubernetes.io/restartedAt: '2024-05-01T12:00:00Z'"],
        ),
        id="rollout_restart",
    ),
    pytest.param(
        Case(
            "rollout_restart",
            {},
            {
                "spec": {
                    "template": {
                        "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-01T14:00:00+02:00"}}
                    }
                }
            },
            "restart all pods of Deployment web (restartedAt 2024-05-01T14:00:00+02:00)",
            ["+annotations:", "+kubectl.kubernetes.io/restartedAt: '2024-05-01T14:00:00+02:00'"],
            now=datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        ),
        id="rollout_restart-local-time",
    ),
    pytest.param(
        Case(
            "rollout_undo",
            {"to_revision": 5, "images": {"app": OLD_IMAGE}},
            [
                {"op": "replace", "path": "/spec/template", "value": UNDO_TEMPLATE_5},
                {"op": "replace", "path": "/metadata/annotations", "value": UNDO_ANNOTATIONS_5},
            ],
            f"roll Deployment web back to revision 5 (app={OLD_IMAGE}, sidecar=registry.example.com/log-shipper:1.2)",
            [f"-image: {IMAGE}", f"+image: {OLD_IMAGE}"],
            history=REPLICASETS,
        ),
        id="rollout_undo-deployment",
    ),
    pytest.param(
        Case(
            "rollout_undo",
            {},
            [
                {"op": "replace", "path": "/spec/template", "value": UNDO_TEMPLATE_5},
                {"op": "replace", "path": "/metadata/annotations", "value": UNDO_ANNOTATIONS_5},
            ],
            f"roll Deployment web back to revision 5 (app={OLD_IMAGE}, sidecar=registry.example.com/log-shipper:1.2)",
            [f"-image: {IMAGE}", f"+image: {OLD_IMAGE}"],
            history=list(reversed(REPLICASETS)),
        ),
        id="rollout_undo-deployment-previous-by-default",
    ),
    pytest.param(
        Case(
            "rollout_undo",
            {"to_revision": "4"},
            [
                {"op": "replace", "path": "/spec/template", "value": pod_template(OLDER_IMAGE)},
                {
                    "op": "replace",
                    "path": "/metadata/annotations",
                    "value": {"deployment.kubernetes.io/revision": "6", "kubernetes.io/change-cause": "web 1.4.0"},
                },
            ],
            f"roll Deployment web back to revision 4 (app={OLDER_IMAGE}, sidecar=registry.example.com/log-shipper:1.2)",
            [f"-image: {IMAGE}", f"+image: {OLDER_IMAGE}"],
            history=REPLICASETS,
        ),
        id="rollout_undo-deployment-revision-as-text",
    ),
    pytest.param(
        Case(
            "rollout_undo",
            {"to_revision": 1},
            controller_revision(1, OLD_IMAGE)["data"],
            f"roll StatefulSet scorer back to revision 1 (app={OLD_IMAGE}, sidecar={SIDECAR_IMAGE})",
            [f"-image: {IMAGE}", f"+image: {OLD_IMAGE}"],
            workload=statefulset(),
            history=CONTROLLER_REVISIONS,
        ),
        id="rollout_undo-statefulset",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_plan(case: Case) -> None:
    before = copy.deepcopy(case.workload)
    patch = plan(case.remedy, case.params, case.workload, case.history, now=case.now)
    assert patch.body == case.body
    assert patch.summary == case.summary
    assert patch.patch_type == ("json" if isinstance(case.body, list) else "strategic")
    assert case.workload == before, "plan() must not modify the workload"
    after = applied(case.workload, patch)
    assert changes(template_diff(template_of(case.workload), template_of(after))) == case.changed
    untouched = {k: v for k, v in after["spec"].items() if k != "template"}
    assert untouched == {k: v for k, v in case.workload["spec"].items() if k != "template"}


def test_content_types() -> None:
    assert plan("set_image", {"container": "app", "image": OLD_IMAGE}, deployment()).content_type == (
        "application/strategic-merge-patch+json"
    )
    undo = plan("rollout_undo", {"to_revision": 5}, deployment(), REPLICASETS)
    assert undo.content_type == "application/json-patch+json"
    assert PatchPlan("merge", {}, "").content_type == "application/merge-patch+json"


def test_rollout_undo_adds_annotations_when_the_deployment_has_none() -> None:
    workload = deployment()
    del workload["metadata"]["annotations"]
    patch = plan("rollout_undo", {"to_revision": 5}, workload, REPLICASETS)
    assert isinstance(patch.body, list)
    assert patch.body[1] == {
        "op": "add",
        "path": "/metadata/annotations",
        "value": {"kubernetes.io/change-cause": "web 1.4.2"},
    }
    assert applied(workload, patch)["metadata"]["annotations"] == {"kubernetes.io/change-cause": "web 1.4.2"}


def test_rollout_undo_drops_the_pod_template_hash_and_keeps_the_replicaset_intact() -> None:
    history = copy.deepcopy(REPLICASETS)
    patch = plan("rollout_undo", {"to_revision": 5}, deployment(), history)
    assert history == REPLICASETS
    assert isinstance(patch.body, list)
    assert "pod-template-hash" not in patch.body[0]["value"]["metadata"]["labels"]


def test_rollout_restart_defaults_to_now_and_reads_naive_times_as_utc() -> None:
    patch = plan("rollout_restart", {}, deployment(), now=datetime(2024, 5, 1, 12, 0, 0))
    assert "restartedAt 2024-05-01T12:00:00Z" in patch.summary
    before = datetime.now(UTC).replace(microsecond=0)
    stamp = plan("rollout_restart", {}, deployment()).summary.split("restartedAt ")[1].rstrip(")")
    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) >= before


def test_service_account_also_sets_the_deprecated_alias_when_present() -> None:
    workload = deployment()
    workload["spec"]["template"]["spec"]["serviceAccount"] = "default"
    patch = plan("service_account", {"service_account": "web-sa"}, workload)
    assert patch.body == {"spec": {"template": {"spec": {"serviceAccountName": "web-sa", "serviceAccount": "web-sa"}}}}


# --- why a remedy cannot apply ------------------------------------------------------------------------------------


def paused(workload: JsonObj) -> JsonObj:
    workload["spec"]["paused"] = True
    return workload


ERRORS = [
    pytest.param("reboot", {}, deployment(), None, "unknown remedy 'reboot'", id="unknown-remedy"),
    pytest.param("netcheck", {"host": "db", "port": 5432}, deployment(), None, "netcheck_pod", id="netcheck"),
    pytest.param(
        "set_image", {"container": "app", "image": "x"}, {"kind": "Pod"}, None, "cannot patch a Pod", id="pod"
    ),
    pytest.param(
        "set_image",
        {"container": "api", "image": "x"},
        deployment(),
        None,
        "no container 'api'; containers: app, sidecar, migrate",
        id="unknown-container",
    ),
    pytest.param("set_image", {"image": "x"}, deployment(), None, "container is required", id="no-container"),
    pytest.param(
        "bump_memory",
        {"container": "app", "to": "lots"},
        deployment(),
        None,
        "not a Kubernetes quantity",
        id="bad-quantity",
    ),
    pytest.param(
        "bump_memory",
        {"container": "app", "to": "256Mi"},
        deployment(),
        None,
        "memory limit is already 256Mi",
        id="memory-not-raised",
    ),
    pytest.param(
        "bump_memory",
        {"container": "app", "to": "128Mi"},
        deployment(),
        None,
        "memory limit is already 256Mi",
        id="memory-lowered",
    ),
    pytest.param(
        "bump_memory",
        {"container": "app", "to": "384Mi", "request_to": "512Mi"},
        deployment(),
        None,
        "request 512Mi would be above the new limit 384Mi",
        id="request-above-limit",
    ),
    pytest.param(
        "bump_memory",
        {"container": "app", "to": "384Mi", "request_to": "huge"},
        deployment(),
        None,
        "request_to",
        id="bad-request-quantity",
    ),
    pytest.param(
        "patch_probes", {"container": "app", "probes": {}}, deployment(), None, "probes must map", id="no-probes"
    ),
    pytest.param(
        "patch_probes",
        {"container": "app", "probes": {"warmup": {"periodSeconds": 5}}},
        deployment(),
        None,
        "unknown probe 'warmup'",
        id="unknown-probe",
    ),
    pytest.param(
        "patch_probes",
        {"container": "app", "probes": {"startup": {"periodSeconds": 5}}},
        deployment(),
        None,
        "app has no startupProbe: adding one needs exactly one handler",
        id="startup-without-handler",
    ),
    pytest.param(
        "patch_probes",
        {"container": "sidecar", "probes": {"liveness": {"failureThreshold": 5}}},
        deployment(),
        None,
        "sidecar has no livenessProbe",
        id="missing-probe-without-handler",
    ),
    pytest.param(
        "patch_probes",
        {"container": "app", "probes": {"liveness": {"tcpSocket": {"port": 1}, "exec": {"command": ["true"]}}}},
        deployment(),
        None,
        "one handler, got exec, tcpSocket",
        id="two-handlers",
    ),
    pytest.param(
        "patch_probes",
        {"container": "app", "probes": {"liveness": {"periodSeconds": 0}}},
        deployment(),
        None,
        "periodSeconds must be an integer ≥ 1",
        id="probe-period-zero",
    ),
    pytest.param(
        "patch_probes",
        {"container": "app", "probes": {"liveness": {"timeoutSeconds": "5"}}},
        deployment(),
        None,
        "timeoutSeconds must be an integer",
        id="probe-setting-not-int",
    ),
    pytest.param(
        "patch_probes",
        {"container": "app", "probes": {"liveness": {"failureThreshold": 3}}},
        deployment(),
        None,
        "already have these settings",
        id="probes-unchanged",
    ),
    pytest.param(
        "set_env",
        {"container": "app", "name": "X"},
        deployment(),
        None,
        "exactly one of value, secret, configmap (got none)",
        id="env-no-source",
    ),
    pytest.param(
        "set_env",
        {"container": "app", "name": "X", "value": "1", "secret": {"name": "s", "key": "k"}},
        deployment(),
        None,
        "(got value, secret)",
        id="env-two-sources",
    ),
    pytest.param(
        "set_env",
        {"container": "app", "name": "1X=", "value": "1"},
        deployment(),
        None,
        "not a valid environment variable name",
        id="env-bad-name",
    ),
    pytest.param(
        "set_env",
        {"container": "app", "name": "X", "value": 1},
        deployment(),
        None,
        "value must be a string",
        id="env-value-not-text",
    ),
    pytest.param(
        "set_env",
        {"container": "app", "name": "X", "secret": {"name": "s"}},
        deployment(),
        None,
        "key is required",
        id="env-secret-without-key",
    ),
    pytest.param(
        "set_env",
        {"container": "app", "name": "X", "configmap": "cfg"},
        deployment(),
        None,
        "configmap must be {name, key}",
        id="env-configmap-not-a-ref",
    ),
    pytest.param(
        "set_env",
        {"container": "app", "name": "X", "secret": {"name": "Bad_Name", "key": "k"}},
        deployment(),
        None,
        "not a valid secret name",
        id="env-bad-secret-name",
    ),
    pytest.param(
        "set_env",
        {"container": "app", "name": "DB_URL", "secret": {"name": "web-db", "key": "url"}},
        deployment(),
        None,
        "already set from Secret web-db/url",
        id="env-unchanged",
    ),
    pytest.param(
        "set_image", {"container": "app", "image": IMAGE}, deployment(), None, "image is already", id="image-unchanged"
    ),
    pytest.param(
        "set_image",
        {"container": "app", "image": "web 1.0"},
        deployment(),
        None,
        "is not an image reference",
        id="image-with-space",
    ),
    pytest.param(
        "service_account",
        {"service_account": "default"},
        deployment(),
        None,
        "already runs as service account default",
        id="sa-unchanged",
    ),
    pytest.param(
        "service_account",
        {"service_account": "Web_SA"},
        deployment(),
        None,
        "not a valid ServiceAccount name",
        id="sa-bad-name",
    ),
    pytest.param("rollout_restart", {}, paused(deployment()), None, "is paused", id="restart-paused"),
    pytest.param(
        "rollout_undo",
        {"to_revision": 3},
        deployment(),
        REPLICASETS,
        "revision 3 of web not found; revisions: 4, 5, 6",
        id="undo-revision-not-found",
    ),
    pytest.param(
        "rollout_undo",
        {"to_revision": 9},
        deployment(),
        REPLICASETS,
        "revision 9 of web not found",
        id="undo-revision-of-another-deployment",
    ),
    pytest.param(
        "rollout_undo",
        {"to_revision": 6},
        deployment(),
        REPLICASETS,
        "web is already at revision 6",
        id="undo-already-there",
    ),
    pytest.param("rollout_undo", {}, deployment(), REPLICASETS[2:3], "no previous revision", id="undo-no-history"),
    pytest.param(
        "rollout_undo",
        {"to_revision": "six"},
        deployment(),
        REPLICASETS,
        "to_revision must be a positive revision number",
        id="undo-bad-revision",
    ),
    pytest.param(
        "rollout_undo",
        {"to_revision": -1},
        deployment(),
        REPLICASETS,
        "to_revision must be a positive revision number",
        id="undo-negative-revision",
    ),
    pytest.param("rollout_undo", {"to_revision": 5}, paused(deployment()), REPLICASETS, "is paused", id="undo-paused"),
    pytest.param(
        "rollout_undo",
        {"to_revision": 2},
        statefulset(),
        CONTROLLER_REVISIONS,
        "scorer is already at revision 2",
        id="undo-sts-already-there",
    ),
    pytest.param(
        "rollout_undo",
        {"to_revision": 7},
        statefulset(),
        CONTROLLER_REVISIONS,
        "revision 7 of scorer not found; revisions: 1, 2",
        id="undo-sts-not-found",
    ),
]


@pytest.mark.parametrize(("remedy", "params", "workload", "history", "message"), ERRORS)
def test_plan_error(
    remedy: str, params: JsonObj, workload: JsonObj, history: list[JsonObj] | None, message: str
) -> None:
    with pytest.raises(PlanError) as caught:
        plan(remedy, params, workload, history, now=NOW)
    assert message in str(caught.value)


def test_plan_error_is_a_value_error() -> None:
    assert issubclass(PlanError, ValueError)


# --- templates and their diff -------------------------------------------------------------------------------------


def test_template_of_is_a_deep_copy() -> None:
    workload = deployment()
    template = template_of(workload)
    template["spec"]["containers"][0]["image"] = "changed"
    assert workload["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE


def test_template_of_an_object_without_template() -> None:
    with pytest.raises(PlanError, match=r"has no spec\.template"):
        template_of({"kind": "Pod", "metadata": {"name": "p"}, "spec": {}})


def test_diff_of_equal_templates_is_empty() -> None:
    assert template_diff(pod_template(), pod_template()) == ""


def test_diff_masks_literal_env_values_on_both_sides() -> None:
    before = pod_template()
    after = pod_template(OLD_IMAGE)
    after["spec"]["containers"][0]["env"][0]["value"] = "another-secret"
    after["spec"]["initContainers"][0]["env"] = [{"name": "PGPASSWORD", "value": "pg-secret"}]
    diff = template_diff(before, after)
    for literal in (SECRET_LITERAL, "another-secret", "pg-secret"):
        assert literal not in diff
    assert changes(diff) == [
        f"-value: {MASK}",
        f"+value: {MASK} (changed)",
        f"-image: {IMAGE}",
        f"+image: {OLD_IMAGE}",
        "-- image: registry.example.com/shop/migrate:2",
        "+- env:",
        "+- name: PGPASSWORD",
        f"+value: {MASK}",
        "+image: registry.example.com/shop/migrate:2",
    ]


def test_diff_with_an_unchanged_literal_in_context_stays_masked() -> None:
    after = pod_template()
    after["spec"]["containers"][0]["env"][1]["name"] = "DATABASE_URL"
    diff = template_diff(pod_template(), after)
    assert SECRET_LITERAL not in diff
    assert f"\n       value: {MASK}\n" in diff  # a context line
    assert changes(diff) == ["-- name: DB_URL", "+- name: DATABASE_URL"]


def test_diff_is_a_unified_diff_with_sorted_keys() -> None:
    diff = template_diff({"spec": {"b": 1, "a": 1}}, {"spec": {"a": 1, "b": 2}})
    assert diff == "--- before\n+++ after\n@@ -1,3 +1,3 @@\n spec:\n   a: 1\n-  b: 1\n+  b: 2\n"


# --- netcheck -----------------------------------------------------------------------------------------------------


def test_netcheck_pod() -> None:
    pod = netcheck_pod("payments", "orders-db", 5432, name="netcheck-orders-7f3a", owner_workload="orders")
    assert pod["apiVersion"] == "v1"
    assert pod["kind"] == "Pod"
    assert pod["metadata"] == {
        "name": "netcheck-orders-7f3a",
        "namespace": "payments",
        "labels": {
            "app.kubernetes.io/managed-by": "crashloop-bot",
            "crashloop.dev/netcheck": "true",
            "crashloop.dev/target": "orders",
        },
    }
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["activeDeadlineSeconds"] == 30
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["image"] == NETCHECK_IMAGE == "busybox:1.36"
    assert container["command"] == ["sh", "-c", NETCHECK_SCRIPT]
    assert container["env"] == [{"name": "CHECK_HOST", "value": "orders-db"}, {"name": "CHECK_PORT", "value": "5432"}]
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65534,
        "runAsGroup": 65534,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert container["resources"]["limits"] == {"cpu": "100m", "memory": "32Mi"}
    assert "orders-db" not in NETCHECK_SCRIPT
    assert "nslookup" in NETCHECK_SCRIPT
    assert "nc -z -w 3" in NETCHECK_SCRIPT


def test_netcheck_pod_without_port_checks_dns_only() -> None:
    pod = netcheck_pod("shop", "db.example.com.", None, name="nc-1", owner_workload="web")
    assert pod["spec"]["containers"][0]["env"][1] == {"name": "CHECK_PORT", "value": ""}


@pytest.mark.parametrize(
    "host", ["orders-db", "orders-db.payments.svc.cluster.local", "db.example.com.", "10.0.0.5", "fd00::1", "DB-1"]
)
def test_netcheck_pod_accepts_dns_names_and_ips(host: str) -> None:
    pod = netcheck_pod("shop", host, 443, name="nc-1", owner_workload="web")
    assert pod["spec"]["containers"][0]["env"][0] == {"name": "CHECK_HOST", "value": host}


@pytest.mark.parametrize(
    "host",
    [
        "db; rm -rf /",
        "$(id)",
        "`id`",
        "db && id",
        "db|nc attacker 1",
        "db\nid",
        "-e/bin/sh",
        "db:5432",
        "db 5432",
        "'db'",
        "a..b",
        "-db",
        "db-",
        "x" * 64,
        "1.2.3",
        "",
    ],
)
def test_netcheck_pod_rejects_hosts_that_are_not_names_or_ips(host: str) -> None:
    with pytest.raises(PlanError, match=r"not a DNS name or an IP address|host is required"):
        netcheck_pod("shop", host, 5432, name="nc-1", owner_workload="web")


@pytest.mark.parametrize("port", [0, 70000, -1, 65536, True, "5432", 5432.0])
def test_netcheck_pod_rejects_bad_ports(port: Any) -> None:
    with pytest.raises(PlanError, match="port must be 1–65535"):
        netcheck_pod("shop", "db", port, name="nc-1", owner_workload="web")


@pytest.mark.parametrize(
    ("namespace", "name", "owner", "what"),
    [
        ("Shop", "nc-1", "web", "namespace"),
        ("shop", "nc_1", "web", "pod name"),
        ("shop", "nc-1", "web;id", "owner workload"),
        ("shop", "nc-1", "w" * 64, "owner workload"),
    ],
)
def test_netcheck_pod_rejects_bad_names(namespace: str, name: str, owner: str, what: str) -> None:
    with pytest.raises(PlanError, match=f"not a valid {what}"):
        netcheck_pod(namespace, "db", 5432, name=name, owner_workload=owner)


NETCHECK_LOGS = [
    pytest.param(
        "dns orders-db ok 10.96.0.12\ntcp orders-db:5432 ok\n",
        NetcheckResult(True, "10.96.0.12", True, ["dns orders-db ok 10.96.0.12", "tcp orders-db:5432 ok"]),
        id="reachable",
    ),
    pytest.param(
        "dns orders-db ok 10.96.0.12\nnc: timed out\ntcp orders-db:5432 fail\n",
        NetcheckResult(
            True, "10.96.0.12", False, ["dns orders-db ok 10.96.0.12", "nc: timed out", "tcp orders-db:5432 fail"]
        ),
        id="resolves-but-refuses",
    ),
    pytest.param(
        "dns nope fail\nnc: bad address 'nope'\ntcp nope:5432 fail\n",
        NetcheckResult(False, None, False, ["dns nope fail", "nc: bad address 'nope'", "tcp nope:5432 fail"]),
        id="no-such-host",
    ),
    pytest.param(
        "dns 10.0.0.5 ok 10.0.0.5\ntcp 10.0.0.5:6379 ok\n",
        NetcheckResult(True, "10.0.0.5", True, ["dns 10.0.0.5 ok 10.0.0.5", "tcp 10.0.0.5:6379 ok"]),
        id="ip-resolves-to-itself",
    ),
    pytest.param("dns db ok 10.0.0.7\n", NetcheckResult(True, "10.0.0.7", None, ["dns db ok 10.0.0.7"]), id="dns-only"),
    pytest.param(
        "dns db fail\ndns db ok 10.0.0.7\n",
        NetcheckResult(True, "10.0.0.7", None, ["dns db fail", "dns db ok 10.0.0.7"]),
        id="last-line-wins",
    ),
    pytest.param("", NetcheckResult(None, None, None, []), id="empty"),
    pytest.param(
        "dns\ntcp db:1 maybe\ndns db skip\n  \n",
        NetcheckResult(None, None, None, ["dns", "tcp db:1 maybe", "dns db skip"]),
        id="garbage-ignored",
    ),
]


@pytest.mark.parametrize(("text", "expected"), NETCHECK_LOGS)
def test_parse_netcheck_log(text: str, expected: NetcheckResult) -> None:
    assert parse_netcheck_log(text) == expected


# --- the netcheck script itself, with stand-ins for busybox nslookup and nc ----------------------------------------

FAKE_NSLOOKUP = r"""#!/bin/sh
printf 'Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\n'
case "$1" in
  orders-db.payments.svc.cluster.local) printf 'Name:\t%s\nAddress: 10.96.0.12\n\n' "$1"; exit 0 ;;
  api.example.com) printf 'Non-authoritative answer:\nName:\t%s\nAddress: 2001:db8::1\n\n' "$1"
                   printf 'Non-authoritative answer:\nName:\t%s\nAddress: 93.184.216.34\n\n' "$1"; exit 0 ;;
esac
printf "** server can't find %s: NXDOMAIN\n" "$1"
exit 1
"""
FAKE_NC = """#!/bin/sh
echo "$@" >> "$NC_CALLS"
[ "$5" = 5432 ]
"""


@pytest.fixture
def run_script(tmp_path: Path) -> Any:
    if not (shutil.which("sh") and shutil.which("awk")):
        pytest.fail("the netcheck script tests need `sh` and `awk` (Debian: dash, mawk)")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("nslookup", FAKE_NSLOOKUP), ("nc", FAKE_NC)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.96.0.10\nsearch payments.svc.cluster.local svc.cluster.local cluster.local\n")

    def run(host: str, port: str) -> tuple[str, list[str]]:
        env = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "CHECK_HOST": host,
            "CHECK_PORT": port,
            "NETCHECK_RESOLV_CONF": str(resolv),
            "NC_CALLS": str(tmp_path / "nc-calls"),
        }
        result = subprocess.run(["sh", "-c", NETCHECK_SCRIPT], env=env, capture_output=True, text=True, timeout=10)
        assert result.returncode == 0, result.stderr
        calls = tmp_path / "nc-calls"
        return result.stdout, calls.read_text().splitlines() if calls.exists() else []

    return run


@pytest.mark.parametrize(
    ("host", "port", "output", "nc_calls"),
    [
        pytest.param(
            "orders-db",
            "5432",
            "dns orders-db ok 10.96.0.12\ntcp orders-db:5432 ok\n",
            ["-z -w 3 10.96.0.12 5432"],
            id="short-name-through-search-domains",
        ),
        pytest.param(
            "orders-db.payments.svc.cluster.local",
            "6379",
            "dns orders-db.payments.svc.cluster.local ok 10.96.0.12\n"
            "tcp orders-db.payments.svc.cluster.local:6379 fail\n",
            ["-z -w 3 10.96.0.12 6379"],
            id="fqdn-port-closed",
        ),
        pytest.param(
            "api.example.com",
            "5432",
            "dns api.example.com ok 93.184.216.34\ntcp api.example.com:5432 ok\n",
            ["-z -w 3 93.184.216.34 5432"],
            id="prefers-ipv4",
        ),
        pytest.param("nope", "5432", "dns nope fail\ntcp nope:5432 ok\n", ["-z -w 3 nope 5432"], id="dns-fails"),
        pytest.param(
            "10.0.0.5", "5432", "dns 10.0.0.5 ok 10.0.0.5\ntcp 10.0.0.5:5432 ok\n", ["-z -w 3 10.0.0.5 5432"], id="ip"
        ),
        pytest.param("fd00::1", "", "dns fd00::1 ok fd00::1\n", [], id="ipv6-no-port"),
    ],
)
def test_netcheck_script(run_script: Any, host: str, port: str, output: str, nc_calls: list[str]) -> None:
    stdout, calls = run_script(host, port)
    assert stdout == output
    assert calls == nc_calls
    assert parse_netcheck_log(stdout).lines == output.splitlines()


def test_netcheck_script_never_evaluates_the_host(run_script: Any, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    stdout, _ = run_script(f"$(touch {marker})", "5432")
    assert not marker.exists()
    assert stdout.startswith(f"dns $(touch {marker}) fail\n")
