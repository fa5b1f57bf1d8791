"""The DaemonSet controller: one pod per node, replaced node by node when the template changes.

Pods are `<name>-<5 chars>`, pinned to their node by node affinity, labelled with the template's
`controller-revision-hash`. A rolling update replaces one pod at a time and stops at a new pod that is not ready
(maxUnavailable 1), so a bad template leaves the other nodes on the old one.
"""

from __future__ import annotations

from typing import Any

from .context import ClusterContext, owner_reference
from .errors import ApiError
from .kubelet import NODES
from .pods import create_pod, delete_pod, pods_of
from .revisions import HASH_LABEL, ensure_revision, template_of
from .store import clone, meta

JsonObj = dict[str, Any]

COMPONENT = "daemonset-controller"
REVISION_LABEL = "controller-revision-hash"


def _new_pod(ds: JsonObj, cr: JsonObj, node: str) -> JsonObj:
    template = template_of(cr)
    pod_meta = clone(template.get("metadata") or {})
    pod_meta.pop("creationTimestamp", None)
    pod_meta.update(
        generateName=f"{meta(ds)['name']}-", namespace=meta(ds)["namespace"], ownerReferences=[owner_reference(ds)]
    )
    pod_meta["labels"] = {
        **(pod_meta.get("labels") or {}),
        REVISION_LABEL: meta(cr)["labels"][HASH_LABEL],
        "pod-template-generation": str(meta(ds).get("generation", 1)),
    }
    spec = template.get("spec") or {}
    term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
    spec["affinity"] = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
    }
    spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def _node_of(pod: JsonObj) -> str:
    return str(pod["spec"].get("nodeName"))


def _create_missing(ctx: ClusterContext, ds: JsonObj, cr: JsonObj) -> bool:
    """One pod on every node that has none; True when one was created."""
    present = {_node_of(p) for p in pods_of(ctx, ds)}
    changed = False
    for node in NODES:
        if node.name in present:
            continue
        try:
            pod = create_pod(ctx, _new_pod(ds, cr, node.name))
        except ApiError as err:  # admission refusal, reported as the controller does
            ctx.event(ds, "FailedCreate", f"Error creating: {err.message}", COMPONENT, "Warning")
            return changed
        ctx.event(ds, "SuccessfulCreate", f"Created pod: {meta(pod)['name']}", COMPONENT)
        changed = True
    return changed


def _replace_one(ctx: ClusterContext, ds: JsonObj, cr: JsonObj) -> bool:
    """Rolling update with maxUnavailable 1: replace the first outdated pod unless a pod is not ready."""
    wanted_hash = meta(cr)["labels"][HASH_LABEL]
    for pod in sorted(pods_of(ctx, ds), key=_node_of):
        if (meta(pod).get("labels") or {}).get(REVISION_LABEL) != wanted_hash:
            delete_pod(ctx, pod)
            ctx.event(ds, "SuccessfulDelete", f"Deleted pod: {meta(pod)['name']}", COMPONENT)
            return True
        if not ctx.kubelet.is_ready(pod):
            return False
    return False


def sync_daemonset(ctx: ClusterContext, ds: JsonObj, revision: int | None = None) -> JsonObj:
    cr = ensure_revision(ctx, ds, revision)
    rolling = (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
    for _ in range(3 * len(NODES) + 3):
        created = _create_missing(ctx, ds, cr)
        if not (created or (rolling and _replace_one(ctx, ds, cr))):
            break
    return write_status(ctx, ds, cr)


def write_status(ctx: ClusterContext, ds: JsonObj, cr: JsonObj) -> JsonObj:
    ds_type = ctx.type("apps", "daemonsets")
    current = ctx.store.get(ds_type, meta(ds)["namespace"], meta(ds)["name"])
    if current is None:
        return ds
    pods = pods_of(ctx, current)
    ready = sum(1 for p in pods if ctx.kubelet.is_ready(p))
    wanted_hash = meta(cr)["labels"][HASH_LABEL]
    updated = sum(1 for p in pods if (meta(p).get("labels") or {}).get(REVISION_LABEL) == wanted_hash)
    status: JsonObj = {
        "currentNumberScheduled": len(pods),
        "numberMisscheduled": 0,
        "desiredNumberScheduled": len(NODES),
        "numberReady": ready,
        "observedGeneration": meta(current).get("generation", 1),
    }
    counts = {"updatedNumberScheduled": updated, "numberAvailable": ready, "numberUnavailable": len(NODES) - ready}
    status.update({k: v for k, v in counts.items() if v})
    if current.get("status") == status:
        return current
    current["status"] = status
    return ctx.store.put(ds_type, current)
