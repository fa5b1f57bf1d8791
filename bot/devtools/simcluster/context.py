"""What the controllers and the API handlers share: the store, the clock, the kubelet, the event recorder.

`save` is the one place that bumps `metadata.generation` when a spec changes, for user writes and controller
writes alike; `owned` finds the objects a controller owns through their controller ownerReference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .clock import Clock
from .events import EventRecorder, Source
from .ids import Ids
from .kubelet import Kubelet
from .resources import ResourceRegistry, ResourceType
from .store import ObjectStore, meta

JsonObj = dict[str, Any]

GENERATION_KINDS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"}


def controller_uid(obj: JsonObj) -> str | None:
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def owner_reference(owner: JsonObj) -> JsonObj:
    m = meta(owner)
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": m["name"],
        "uid": m["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


@dataclass
class ClusterContext:
    store: ObjectStore
    registry: ResourceRegistry
    clock: Clock
    ids: Ids
    kubelet: Kubelet
    recorder: EventRecorder

    def type(self, group: str, plural: str) -> ResourceType:
        return self.registry.get(group, plural)

    def save(self, rt: ResourceType, obj: JsonObj) -> JsonObj:
        """Store an existing object, bumping its generation when its spec changed."""
        old = self.store.get(rt, str(meta(obj).get("namespace", "")), str(meta(obj)["name"]))
        if rt.kind in GENERATION_KINDS:
            generation = int(meta(old or obj).get("generation") or 1)
            if old is not None and old.get("spec") != obj.get("spec"):
                generation += 1
            meta(obj)["generation"] = generation
        return self.store.put(rt, obj)

    def owned(self, group: str, plural: str, owner: JsonObj) -> list[JsonObj]:
        uid = meta(owner).get("uid")
        rt = self.type(group, plural)
        return self.store.list(rt, str(meta(owner).get("namespace")), lambda o: controller_uid(o) == uid)

    def event(self, obj: JsonObj, reason: str, message: str, component: str, type_: str = "Normal") -> None:
        self.recorder.record(obj, type_, reason, message, Source(component))
