"""The defaults the apiserver writes into objects on create and update (`SetDefaults_*`).

They matter beyond looks: the deployment controller compares pod templates, and `kubectl rollout undo` copies a
ReplicaSet's (defaulted) template back into the Deployment, so both sides must be defaulted the same way for
"this template is revision 6 again" to be recognised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JsonObj = dict[str, Any]

_PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}


def _default_probe(probe: JsonObj) -> None:
    for key, value in _PROBE_DEFAULTS.items():
        probe.setdefault(key, value)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("scheme", "HTTP")


def _pull_policy(image: str) -> str:
    last = image.split("@")[0].rsplit("/", 1)[-1]
    tagged = ":" in last or "@" in image
    return "Always" if not tagged or last.endswith(":latest") else "IfNotPresent"


def default_container(container: JsonObj) -> None:
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("imagePullPolicy", _pull_policy(str(container.get("image", ""))))
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(key), dict):
            _default_probe(container[key])
    for env in container.get("env") or []:
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")


def default_pod_spec(spec: JsonObj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if isinstance(container, dict):
            default_container(container)
    if "serviceAccount" in spec and "serviceAccountName" not in spec:
        spec["serviceAccountName"] = spec["serviceAccount"]


def default_template(template: JsonObj) -> None:
    template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    default_pod_spec(template.setdefault("spec", {}))


def _default_deployment(spec: JsonObj) -> None:
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        strategy["type"] = "RollingUpdate"
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _default_statefulset(spec: JsonObj) -> None:
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if strategy.get("type") == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {"partition": 0})
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"})


def _default_daemonset(spec: JsonObj) -> None:
    strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if strategy.get("type") == "RollingUpdate":
        strategy.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
    spec.setdefault("revisionHistoryLimit", 10)


def _default_service(spec: JsonObj) -> None:
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        port.setdefault("targetPort", port.get("port"))


def _default_replicaset(spec: JsonObj) -> None:
    spec.setdefault("replicas", 1)


_WORKLOADS: dict[str, Callable[[JsonObj], None]] = {
    "Deployment": _default_deployment,
    "StatefulSet": _default_statefulset,
    "DaemonSet": _default_daemonset,
    "ReplicaSet": _default_replicaset,
}


def apply_defaults(kind: str, obj: JsonObj) -> None:
    spec = obj.get("spec")
    if kind == "Secret":
        obj.setdefault("type", "Opaque")
    if not isinstance(spec, dict):
        return
    if kind in _WORKLOADS:
        _WORKLOADS[kind](spec)
        if isinstance(spec.get("template"), dict):
            default_template(spec["template"])
    elif kind == "Pod":
        default_pod_spec(spec)
    elif kind == "Service":
        _default_service(spec)
