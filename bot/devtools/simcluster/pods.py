"""Creating and deleting pods the way the apiserver and its admission plugins do.

Pods get the ServiceAccount admission treatment (a missing ServiceAccount is a 403; the
`kube-api-access-xxxxx` token volume is mounted), the defaults, a node, and are then handed to the kubelet.
Every pod — from a controller or from a client — goes through here, so both behave alike.
"""

from __future__ import annotations

from typing import Any

from .context import ClusterContext, controller_uid
from .defaults import default_pod_spec
from .errors import admission_forbidden
from .runtime import WorkloadRef
from .store import clone, meta

JsonObj = dict[str, Any]

SA_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
_TOLERATIONS = [
    {"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    for t in ("not-ready", "unreachable")
]


def _token_volume(name: str) -> JsonObj:
    return {
        "name": name,
        "projected": {
            "defaultMode": 420,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ],
        },
    }


def _admit_service_account(ctx: ClusterContext, pod: JsonObj) -> None:
    spec, m = pod["spec"], meta(pod)
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = spec["serviceAccount"] = account
    namespace = str(m.get("namespace"))
    if not ctx.store.exists(ctx.type("", "serviceaccounts"), namespace, account):
        why = f'error looking up service account {namespace}/{account}: serviceaccount "{account}" not found'
        raise admission_forbidden("", "pods", str(m.get("name") or m.get("generateName")), why)
    if spec.get("automountServiceAccountToken") is False:
        return
    volume = f"kube-api-access-{ctx.ids.suffix()}"
    spec.setdefault("volumes", []).append(_token_volume(volume))
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        mount = {"name": volume, "readOnly": True, "mountPath": SA_MOUNT_PATH}
        container.setdefault("volumeMounts", []).append(mount)


def prepare_pod(ctx: ClusterContext, pod: JsonObj) -> JsonObj:
    """Admission and defaults for a new pod (raises 403 like the ServiceAccount admission plugin)."""
    pod = clone(pod)
    spec = pod.setdefault("spec", {})
    default_pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    spec.setdefault("tolerations", clone(_TOLERATIONS))
    _admit_service_account(ctx, pod)  # mutating admission runs before the name is generated
    m = meta(pod)
    if not m.get("name") and m.get("generateName"):
        m["name"] = ctx.ids.generated_name(str(m["generateName"]))
    ctx.kubelet.place(pod)
    pod.pop("status", None)
    return pod


def workload_of(ctx: ClusterContext, pod: JsonObj) -> WorkloadRef | None:
    """The top-level controller of a pod (ReplicaSet -> Deployment), as the kubelet's profiles are keyed."""
    namespace = str(meta(pod).get("namespace"))
    for ref in meta(pod).get("ownerReferences") or []:
        if not ref.get("controller"):
            continue
        if ref.get("kind") == "ReplicaSet":
            rs = ctx.store.get(ctx.type("apps", "replicasets"), namespace, str(ref.get("name")))
            for owner in meta(rs).get("ownerReferences") or [] if rs else []:
                if owner.get("controller") and owner.get("kind") == "Deployment":
                    return WorkloadRef(namespace, "Deployment", str(owner.get("name")))
        return WorkloadRef(namespace, str(ref.get("kind")), str(ref.get("name")))
    return None


def create_pod(ctx: ClusterContext, pod: JsonObj) -> JsonObj:
    """Admit, store and start a pod; returns the stored pod."""
    prepared = prepare_pod(ctx, pod)
    stored = ctx.store.insert(ctx.type("", "pods"), prepared)
    ctx.kubelet.admit(stored, workload_of(ctx, stored))
    return ctx.store.put(ctx.type("", "pods"), stored)  # the kubelet's first status update


def delete_pod(ctx: ClusterContext, pod: JsonObj) -> JsonObj | None:
    m = meta(pod)
    removed = ctx.store.remove(ctx.type("", "pods"), str(m.get("namespace")), str(m.get("name")))
    if removed is not None:
        ctx.kubelet.forget(removed)
    return removed


def pods_of(ctx: ClusterContext, owner: JsonObj) -> list[JsonObj]:
    uid = meta(owner).get("uid")
    return ctx.store.list(ctx.type("", "pods"), str(meta(owner).get("namespace")), lambda p: controller_uid(p) == uid)
