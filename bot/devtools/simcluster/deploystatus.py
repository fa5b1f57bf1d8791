"""The status the deployment controller writes: replica counts, revision annotation, Available/Progressing.

Counts that are zero are left out, as the apiserver omits them (`readyReplicas` is absent, not 0). Progressing
turns into `ProgressDeadlineExceeded` when a rollout has made no progress for `progressDeadlineSeconds`; that is
computed when the Deployment is read, so it happens on time without a background task.
"""

from __future__ import annotations

from typing import Any

from .clock import parse_rfc3339, rfc3339
from .context import ClusterContext
from .replicasets import available, replicas
from .rollout import REVISION, revision_of, surge_and_unavailable
from .store import meta
from .templates import same_template

JsonObj = dict[str, Any]


def _condition(type_: str, ok: bool, reason: str, message: str, now: str, old: JsonObj | None) -> JsonObj:
    status = "True" if ok else "False"
    same_status = old is not None and old.get("status") == status
    unchanged = same_status and old is not None and old.get("reason") == reason
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": old["lastUpdateTime"] if unchanged and old else now,
        "lastTransitionTime": old["lastTransitionTime"] if same_status and old else now,
        "reason": reason,
        "message": message,
    }


def _available(minimum: bool, now: str, old: JsonObj | None) -> JsonObj:
    if minimum:
        return _condition(
            "Available", True, "MinimumReplicasAvailable", "Deployment has minimum availability.", now, old
        )
    message = "Deployment does not have minimum availability."
    return _condition("Available", False, "MinimumReplicasUnavailable", message, now, old)


def _progressing(deploy: JsonObj, new: JsonObj | None, complete: bool, now: str, old: JsonObj | None) -> JsonObj:
    name = meta(new)["name"] if new else meta(deploy)["name"]
    if complete:
        message = f'ReplicaSet "{name}" has successfully progressed.'
        return _condition("Progressing", True, "NewReplicaSetAvailable", message, now, old)
    if old is not None and old.get("reason") == "ProgressDeadlineExceeded":
        return old
    return _condition("Progressing", True, "ReplicaSetUpdated", f'ReplicaSet "{name}" is progressing.', now, old)


def _counts(deploy: JsonObj, rses: list[JsonObj], new: JsonObj | None) -> dict[str, int]:
    ready = sum(available(rs) for rs in rses)
    return {
        "replicas": sum(int((rs.get("status") or {}).get("replicas", 0)) for rs in rses),
        "updatedReplicas": int((new or {}).get("status", {}).get("replicas", 0)),
        "readyReplicas": ready,
        "availableReplicas": ready,
        "unavailableReplicas": max(0, int(deploy["spec"].get("replicas", 1)) - ready),
    }


def _status(ctx: ClusterContext, deploy: JsonObj, rses: list[JsonObj], new: JsonObj | None) -> JsonObj:
    counts = _counts(deploy, rses, new)
    wanted = int(deploy["spec"].get("replicas", 1))
    status: JsonObj = {"observedGeneration": meta(deploy).get("generation", 1)}
    status.update({k: v for k, v in counts.items() if v})
    now = rfc3339(ctx.clock.now())
    old = {c["type"]: c for c in (deploy.get("status") or {}).get("conditions") or []}
    minimum = counts["availableReplicas"] >= wanted - surge_and_unavailable(deploy)[1]
    complete = new is not None and available(new) >= wanted == replicas(new) == counts["replicas"]
    status["conditions"] = [
        _available(minimum, now, old.get("Available")),
        _progressing(deploy, new, complete, now, old.get("Progressing")),
    ]
    return status


def write_status(ctx: ClusterContext, deploy: JsonObj) -> JsonObj:
    dtype = ctx.type("apps", "deployments")
    current = ctx.store.get(dtype, meta(deploy)["namespace"], meta(deploy)["name"])
    if current is None:
        return deploy
    rses = ctx.owned("apps", "replicasets", current)
    new = next((rs for rs in rses if same_template(rs["spec"]["template"], current["spec"]["template"])), None)
    status = _status(ctx, current, rses, new)
    annotations = meta(current).setdefault("annotations", {})
    revision = str(revision_of(new)) if new is not None else annotations.get(REVISION)
    if current.get("status") == status and annotations.get(REVISION) == revision:
        return current
    if revision is not None:
        annotations[REVISION] = revision
    current["status"] = status
    return ctx.store.put(dtype, current)


def render_deployment(deploy: JsonObj, now: float) -> JsonObj:
    """On read: a rollout that has not progressed for progressDeadlineSeconds has timed out."""
    deadline = float(deploy.get("spec", {}).get("progressDeadlineSeconds", 600))
    for cond in (deploy.get("status") or {}).get("conditions") or []:
        stalled = cond.get("type") == "Progressing" and cond.get("reason") == "ReplicaSetUpdated"
        if stalled and now - parse_rfc3339(str(cond["lastUpdateTime"])) > deadline:
            name = cond["message"].split('"')[1]
            cond.update(
                status="False",
                reason="ProgressDeadlineExceeded",
                message=f'ReplicaSet "{name}" has timed out progressing.',
                lastUpdateTime=rfc3339(now),
                lastTransitionTime=rfc3339(now),
            )
    return deploy
