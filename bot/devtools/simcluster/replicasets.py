"""The ReplicaSet controller: keep `spec.replicas` pods of the template running, report how many are ready.

Pods are named `<replicaset>-<5 random chars>` and owned by the ReplicaSet. When pods must go, not-ready ones go
first, then the newest. A pod the apiserver refuses (missing ServiceAccount) leaves a `FailedCreate` event and a
`ReplicaFailure` condition, as in a real cluster.
"""

from __future__ import annotations

from typing import Any

from .clock import rfc3339
from .context import ClusterContext, owner_reference
from .errors import ApiError
from .pods import create_pod, delete_pod, pods_of
from .store import clone, meta

JsonObj = dict[str, Any]
COMPONENT = "replicaset-controller"


def _new_pod(rs: JsonObj) -> JsonObj:
    template = clone(rs["spec"]["template"])
    m = template.get("metadata") or {}
    m.pop("creationTimestamp", None)
    pod_meta = {
        **m,
        "generateName": f"{meta(rs)['name']}-",
        "namespace": meta(rs)["namespace"],
        "ownerReferences": [owner_reference(rs)],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template.get("spec") or {}}


def _removal_order(ctx: ClusterContext, pods: list[JsonObj]) -> list[JsonObj]:
    """Not-ready pods first, then the newest (the controller's ActivePods ordering, simplified)."""

    def key(pod: JsonObj) -> tuple[bool, str, str]:
        m = meta(pod)
        return (ctx.kubelet.is_ready(pod), _reverse(str(m.get("creationTimestamp"))), str(m.get("name")))

    return sorted(pods, key=key)


def _reverse(text: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


def _create_pods(ctx: ClusterContext, rs: JsonObj, count: int) -> str | None:
    """Create pods; the apiserver's refusal message, if any."""
    for _ in range(count):
        try:
            pod = create_pod(ctx, _new_pod(rs))
        except ApiError as err:
            ctx.event(rs, "FailedCreate", f"Error creating: {err.message}", COMPONENT, "Warning")
            return err.message
        ctx.event(rs, "SuccessfulCreate", f"Created pod: {meta(pod)['name']}", COMPONENT)
    return None


def sync_replicaset(ctx: ClusterContext, rs: JsonObj) -> JsonObj:
    """Converge pods to spec.replicas and write status; returns the stored ReplicaSet."""
    pods = pods_of(ctx, rs)
    wanted = int(rs["spec"].get("replicas", 1))
    failure = None
    if len(pods) < wanted:
        failure = _create_pods(ctx, rs, wanted - len(pods))
    for pod in _removal_order(ctx, pods)[: max(0, len(pods) - wanted)]:
        delete_pod(ctx, pod)
        ctx.event(rs, "SuccessfulDelete", f"Deleted pod: {meta(pod)['name']}", COMPONENT)
    return _write_status(ctx, rs, failure)


def _write_status(ctx: ClusterContext, rs: JsonObj, failure: str | None) -> JsonObj:
    current = ctx.store.get(ctx.type("apps", "replicasets"), meta(rs)["namespace"], meta(rs)["name"]) or rs
    pods = pods_of(ctx, current)
    ready = sum(1 for p in pods if ctx.kubelet.is_ready(p))
    status: JsonObj = {"replicas": len(pods), "fullyLabeledReplicas": len(pods)}
    if ready:
        status.update(readyReplicas=ready, availableReplicas=ready)
    status["observedGeneration"] = meta(current).get("generation", 1)
    if failure is not None:
        now = rfc3339(ctx.clock.now())
        status["conditions"] = [
            {
                "type": "ReplicaFailure",
                "status": "True",
                "lastTransitionTime": now,
                "reason": "FailedCreate",
                "message": failure,
            }
        ]
    if current.get("status") == status:
        return current
    current["status"] = status
    return ctx.store.put(ctx.type("apps", "replicasets"), current)


def scale_replicaset(ctx: ClusterContext, rs: JsonObj, replicas: int) -> JsonObj:
    rs["spec"]["replicas"] = replicas
    stored = ctx.save(ctx.type("apps", "replicasets"), rs)
    return sync_replicaset(ctx, stored)


def available(rs: JsonObj) -> int:
    return int((rs.get("status") or {}).get("availableReplicas") or 0)


def replicas(rs: JsonObj) -> int:
    return int(rs["spec"].get("replicas", 0))
