"""The Deployment controller: one ReplicaSet per pod template, rolled out by the deployment's strategy.

A changed template gets a new ReplicaSet `<deployment>-<pod-template-hash>` with the next revision number; a
template equal to an old ReplicaSet's (a `rollout undo`) makes that ReplicaSet current again with revision max+1.
RollingUpdate follows the real algorithm (maxSurge/maxUnavailable, old pods only go when new ones are
available), so a bad release leaves the old pods serving and the rollout stuck; Recreate stops all old pods first.
"""

from __future__ import annotations

from typing import Any

from .context import ClusterContext, owner_reference
from .deploystatus import write_status
from .replicasets import replicas, sync_replicaset
from .rollout import REVISION, recreate, revision_of, rolling_update
from .store import clone, meta
from .templates import HASH_LABEL, same_template, template_hash

JsonObj = dict[str, Any]

_SKIPPED_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
}


def _new_replicaset(ctx: ClusterContext, deploy: JsonObj, revision: int) -> JsonObj:
    template = clone(deploy["spec"]["template"])
    pod_hash = template_hash(template)
    template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
    selector = clone(deploy["spec"]["selector"])
    selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
    annotations = {k: v for k, v in (meta(deploy).get("annotations") or {}).items() if k not in _SKIPPED_ANNOTATIONS}
    annotations[REVISION] = str(revision)
    rs_meta = {
        "name": f"{meta(deploy)['name']}-{pod_hash}",
        "namespace": meta(deploy)["namespace"],
        "labels": dict(template["metadata"]["labels"]),
        "annotations": annotations,
        "ownerReferences": [owner_reference(deploy)],
        "generation": 1,
    }
    spec = {
        "replicas": 0,
        "minReadySeconds": deploy["spec"].get("minReadySeconds", 0),
        "selector": selector,
        "template": template,
    }
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": rs_meta, "spec": spec}
    return ctx.store.insert(ctx.type("apps", "replicasets"), rs)


def _set_revision(ctx: ClusterContext, rs: JsonObj, revision: int) -> JsonObj:
    annotations = meta(rs).setdefault("annotations", {})
    old = annotations.get(REVISION)
    if old and old != str(revision):
        history = [h for h in annotations.get("deployment.kubernetes.io/revision-history", "").split(",") if h]
        annotations["deployment.kubernetes.io/revision-history"] = ",".join([*history, old])
    annotations[REVISION] = str(revision)
    return ctx.save(ctx.type("apps", "replicasets"), rs)


def _current_replicaset(
    ctx: ClusterContext, deploy: JsonObj, rses: list[JsonObj], revision: int | None
) -> tuple[JsonObj, bool]:
    """The ReplicaSet of the deployment's template (created or promoted); True when it is new."""
    latest = max((revision_of(rs) for rs in rses), default=0)
    for rs in rses:
        if same_template(rs["spec"]["template"], deploy["spec"]["template"]):
            if revision_of(rs) < latest or revision is not None:
                rs = _set_revision(ctx, rs, revision or latest + 1)
            return rs, False
    return _new_replicaset(ctx, deploy, revision or latest + 1), True


def _cleanup(ctx: ClusterContext, deploy: JsonObj, olds: list[JsonObj]) -> None:
    """Keep at most revisionHistoryLimit old, scaled-down ReplicaSets."""
    limit = int(deploy["spec"].get("revisionHistoryLimit", 10))
    idle = sorted(
        (rs for rs in olds if replicas(rs) == 0 and not (rs.get("status") or {}).get("replicas")), key=revision_of
    )
    for rs in idle[: max(0, len(idle) - limit)]:
        ctx.store.remove(ctx.type("apps", "replicasets"), meta(rs)["namespace"], meta(rs)["name"])


def sync_deployment(ctx: ClusterContext, deploy: JsonObj, revision: int | None = None) -> JsonObj:
    """Roll the deployment towards its template; `revision` forces the new ReplicaSet's number (seeding)."""
    rs_type = ctx.type("apps", "replicasets")
    rses = sorted(ctx.owned("apps", "replicasets", deploy), key=lambda rs: meta(rs)["creationTimestamp"])
    new, _ = _current_replicaset(ctx, deploy, rses, revision)
    olds = [rs for rs in rses if meta(rs)["uid"] != meta(new)["uid"]]
    if not deploy["spec"].get("paused"):
        new = sync_replicaset(ctx, new)
        olds = [sync_replicaset(ctx, rs) for rs in olds]
        if deploy["spec"].get("strategy", {}).get("type") == "Recreate":
            new = recreate(ctx, deploy, new, olds)
        else:
            new = rolling_update(ctx, deploy, new, olds)
    _cleanup(ctx, deploy, [ctx.store.get(rs_type, meta(rs)["namespace"], meta(rs)["name"]) or rs for rs in olds])
    return write_status(ctx, deploy)
