"""The StatefulSet controller: pods `<name>-0..N-1`, created in order and updated from the highest ordinal down.

With the default `OrderedReady` policy a pod is created only once its predecessors are Running and Ready, and a
rolling update waits on an unhealthy pod — so a StatefulSet whose pod 0 never became ready stays stuck after its
template is fixed until that pod is deleted, exactly the known upstream behaviour. `Parallel` does not wait.
"""

from __future__ import annotations

from typing import Any

from .context import ClusterContext, owner_reference
from .errors import ApiError
from .pods import create_pod, delete_pod, pods_of
from .revisions import ensure_revision, template_of
from .store import clone, meta

JsonObj = dict[str, Any]

COMPONENT = "statefulset-controller"
REVISION_LABEL = "controller-revision-hash"


def _ordinal(pod: JsonObj) -> int:
    return int(str(meta(pod)["name"]).rsplit("-", 1)[1])


def _new_pod(sts: JsonObj, cr: JsonObj, ordinal: int) -> JsonObj:
    template = template_of(cr)
    name = f"{meta(sts)['name']}-{ordinal}"
    pod_meta = clone(template.get("metadata") or {})
    pod_meta.pop("creationTimestamp", None)
    pod_meta.update(name=name, namespace=meta(sts)["namespace"], ownerReferences=[owner_reference(sts)])
    pod_meta["labels"] = {
        **(pod_meta.get("labels") or {}),
        REVISION_LABEL: meta(cr)["name"],
        "statefulset.kubernetes.io/pod-name": name,
        "apps.kubernetes.io/pod-index": str(ordinal),
    }
    spec = template.get("spec") or {}
    spec.update(hostname=name, subdomain=sts["spec"].get("serviceName", ""))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def _create(ctx: ClusterContext, sts: JsonObj, cr: JsonObj, ordinal: int) -> JsonObj | None:
    name = f"{meta(sts)['name']}-{ordinal}"
    try:
        pod = create_pod(ctx, _new_pod(sts, cr, ordinal))
    except ApiError as err:  # an admission refusal: the controller reports it and retries later
        message = f"create Pod {name} in StatefulSet {meta(sts)['name']} failed error: {err.message}"
        ctx.event(sts, "FailedCreate", message, COMPONENT, "Warning")
        return None
    ctx.event(sts, "SuccessfulCreate", f"create Pod {name} in StatefulSet {meta(sts)['name']} successful", COMPONENT)
    return pod


def _delete(ctx: ClusterContext, sts: JsonObj, pod: JsonObj) -> None:
    delete_pod(ctx, pod)
    message = f"delete Pod {meta(pod)['name']} in StatefulSet {meta(sts)['name']} successful"
    ctx.event(sts, "SuccessfulDelete", message, COMPONENT)


def _sync_pass(ctx: ClusterContext, sts: JsonObj, cr: JsonObj) -> bool:
    """One pass of the controller; True when it changed something (so another pass is due)."""
    wanted = int(sts["spec"].get("replicas", 1))
    ordered = sts["spec"].get("podManagementPolicy", "OrderedReady") != "Parallel"
    pods = {_ordinal(p): p for p in pods_of(ctx, sts)}
    for ordinal in sorted((o for o in pods if o >= wanted), reverse=True):
        _delete(ctx, sts, pods.pop(ordinal))
        return True
    changed = False
    for ordinal in range(wanted):
        if ordinal not in pods:
            created = _create(ctx, sts, cr, ordinal)
            changed = changed or created is not None
            if ordered or created is None:
                return changed
        elif ordered and not ctx.kubelet.is_ready(pods[ordinal]):
            return changed
    return changed or _update_pass(ctx, sts, cr)


def _update_pass(ctx: ClusterContext, sts: JsonObj, cr: JsonObj) -> bool:
    strategy = sts["spec"].get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return False
    partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0))
    pods = {_ordinal(p): p for p in pods_of(ctx, sts)}
    for ordinal in sorted((o for o in pods if o >= partition), reverse=True):
        pod = pods[ordinal]
        if (meta(pod).get("labels") or {}).get(REVISION_LABEL) != meta(cr)["name"]:
            _delete(ctx, sts, pod)
            return True
        if not ctx.kubelet.is_ready(pod):
            return False
    return False


def sync_statefulset(ctx: ClusterContext, sts: JsonObj, revision: int | None = None) -> JsonObj:
    cr = ensure_revision(ctx, sts, revision)
    for _ in range(3 * int(sts["spec"].get("replicas", 1)) + 3):
        if not _sync_pass(ctx, sts, cr):
            break
    return write_status(ctx, sts, cr)


def write_status(ctx: ClusterContext, sts: JsonObj, cr: JsonObj) -> JsonObj:
    st_type = ctx.type("apps", "statefulsets")
    current = ctx.store.get(st_type, meta(sts)["namespace"], meta(sts)["name"])
    if current is None:
        return sts
    pods = pods_of(ctx, current)
    update = meta(cr)["name"]
    updated = [p for p in pods if (meta(p).get("labels") or {}).get(REVISION_LABEL) == update]
    ready = sum(1 for p in pods if ctx.kubelet.is_ready(p))
    previous = (current.get("status") or {}).get("currentRevision") or update
    wanted = int(current["spec"].get("replicas", 1))
    current_rev = update if len(updated) == len(pods) == wanted else previous
    status: JsonObj = {"observedGeneration": meta(current).get("generation", 1), "replicas": len(pods)}
    counts = {
        "readyReplicas": ready,
        "availableReplicas": ready,
        "currentReplicas": sum(1 for p in pods if (meta(p).get("labels") or {}).get(REVISION_LABEL) == current_rev),
        "updatedReplicas": len(updated),
    }
    status.update({k: v for k, v in counts.items() if v})
    status.update(currentRevision=current_rev, updateRevision=update, collisionCount=0)
    if current.get("status") == status:
        return current
    current["status"] = status
    return ctx.store.put(st_type, current)
