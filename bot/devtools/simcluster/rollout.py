"""Rollout strategies of the deployment controller: RollingUpdate (maxSurge/maxUnavailable) and Recreate.

This is the real algorithm, run synchronously until it converges: scale the new ReplicaSet up within maxSurge,
scale old ones down only as far as maxUnavailable allows (unhealthy old pods first). So a release whose pods never
become ready leaves the old pods serving and the rollout stuck, as in a real cluster.
"""

from __future__ import annotations

import math
from typing import Any

from .context import ClusterContext
from .replicasets import available, replicas, scale_replicaset
from .store import meta

JsonObj = dict[str, Any]

COMPONENT = "deployment-controller"
REVISION = "deployment.kubernetes.io/revision"


def revision_of(obj: JsonObj) -> int:
    try:
        return int((meta(obj).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _resolve(value: Any, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = float(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value or 0)


def surge_and_unavailable(deploy: JsonObj) -> tuple[int, int]:
    spec = deploy["spec"]
    if spec.get("strategy", {}).get("type") == "Recreate":
        return 0, 0
    rolling = spec.get("strategy", {}).get("rollingUpdate") or {}
    total = int(spec.get("replicas", 1))
    surge = _resolve(rolling.get("maxSurge", "25%"), total, True)
    unavailable = _resolve(rolling.get("maxUnavailable", "25%"), total, False)
    return surge, (1 if surge == 0 and unavailable == 0 else unavailable)


def scale(ctx: ClusterContext, deploy: JsonObj, rs: JsonObj, count: int) -> JsonObj:
    before = replicas(rs)
    if before == count:
        return rs
    annotations = meta(rs).setdefault("annotations", {})
    brand_new = "deployment.kubernetes.io/desired-replicas" not in annotations
    surge, _ = surge_and_unavailable(deploy)
    wanted = int(deploy["spec"].get("replicas", 1))
    annotations["deployment.kubernetes.io/desired-replicas"] = str(wanted)
    annotations["deployment.kubernetes.io/max-replicas"] = str(wanted + surge)
    direction = "up" if count > before else "down"
    message = f"Scaled {direction} replica set {meta(rs)['name']} to {count} from {before}"
    if before == 0 and brand_new:
        message = f"Scaled up replica set {meta(rs)['name']} to {count}"
    ctx.event(deploy, "ScalingReplicaSet", message, COMPONENT)
    return scale_replicaset(ctx, rs, count)


def scale_up_new(ctx: ClusterContext, deploy: JsonObj, new: JsonObj, olds: list[JsonObj]) -> JsonObj:
    wanted = int(deploy["spec"].get("replicas", 1))
    surge, _ = surge_and_unavailable(deploy)
    if replicas(new) >= wanted:
        return scale(ctx, deploy, new, wanted)
    total = replicas(new) + sum(replicas(rs) for rs in olds)
    room = wanted + surge - total
    if room <= 0:
        return new
    return scale(ctx, deploy, new, replicas(new) + min(room, wanted - replicas(new)))


def scale_down_olds(ctx: ClusterContext, deploy: JsonObj, new: JsonObj, olds: list[JsonObj]) -> list[JsonObj]:
    """Old pods go only as far as maxUnavailable allows, unhealthy ones first (reconcileOldReplicaSets)."""
    wanted = int(deploy["spec"].get("replicas", 1))
    _, max_unavailable = surge_and_unavailable(deploy)
    min_available = wanted - max_unavailable
    all_pods = replicas(new) + sum(replicas(rs) for rs in olds)
    budget = all_pods - min_available - (replicas(new) - available(new))
    result = []
    for rs in olds:
        unhealthy = replicas(rs) - available(rs)
        cut = min(unhealthy, max(0, budget))
        if cut > 0:
            budget -= cut
            rs = scale(ctx, deploy, rs, replicas(rs) - cut)
        result.append(rs)
    spare = available(new) + sum(available(rs) for rs in result) - min_available
    for index, rs in enumerate(result):
        cut = min(replicas(rs), max(0, spare))
        if cut > 0:
            spare -= cut
            result[index] = scale(ctx, deploy, rs, replicas(rs) - cut)
    return result


def rolling_update(ctx: ClusterContext, deploy: JsonObj, new: JsonObj, olds: list[JsonObj]) -> JsonObj:
    for _ in range(4 * int(deploy["spec"].get("replicas", 1)) + 4):
        before = (replicas(new), [replicas(rs) for rs in olds])
        new = scale_up_new(ctx, deploy, new, olds)
        olds = scale_down_olds(ctx, deploy, new, olds)
        if before == (replicas(new), [replicas(rs) for rs in olds]):
            break
    return new


def recreate(ctx: ClusterContext, deploy: JsonObj, new: JsonObj, olds: list[JsonObj]) -> JsonObj:
    for rs in olds:
        scale(ctx, deploy, rs, 0)
    return scale(ctx, deploy, new, int(deploy["spec"].get("replicas", 1)))
