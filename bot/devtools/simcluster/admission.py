"""What the apiserver does to an object between decoding and storing it, besides validation.

Defaults, `stringData` folded into base64 `data`, a ClusterIP for Services, `Active` Namespaces, server-owned
fields (uid, creationTimestamp, status on create) kept or dropped as the real registry strategies do.
"""

from __future__ import annotations

import base64
from typing import Any

from .context import GENERATION_KINDS, ClusterContext
from .defaults import apply_defaults
from .resources import ResourceType
from .store import clone, meta

JsonObj = dict[str, Any]

_STATUS_STRATEGY = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Pod", "Service", "Namespace", "Node"}
_SERVER_METADATA = ("uid", "creationTimestamp", "generation", "deletionTimestamp")


def prepare_create(ctx: ClusterContext, rt: ResourceType, obj: JsonObj) -> JsonObj:
    obj = clone(obj)
    m = meta(obj)
    for key in (*_SERVER_METADATA, "resourceVersion", "managedFields", "selfLink"):
        m.pop(key, None)
    if not m.get("name") and m.get("generateName"):
        m["name"] = ctx.ids.generated_name(str(m["generateName"]))
    if rt.kind in _STATUS_STRATEGY:
        obj.pop("status", None)
    if rt.kind in GENERATION_KINDS:
        m["generation"] = 1
    _kind_specific(ctx, rt, obj)
    apply_defaults(rt.kind, obj)
    return obj


def prepare_update(ctx: ClusterContext, rt: ResourceType, obj: JsonObj, old: JsonObj, subresource: str) -> JsonObj:
    """The object to store for an update of the main resource or of `status`."""
    if subresource == "status":
        updated = clone(old)
        updated["status"] = clone(obj.get("status"))
        return updated
    obj = clone(obj)
    m, old_m = meta(obj), meta(old)
    for key in _SERVER_METADATA:
        if key in old_m:
            m[key] = old_m[key]
        else:
            m.pop(key, None)
    m["resourceVersion"] = old_m.get("resourceVersion")
    if rt.kind in _STATUS_STRATEGY and "status" in old:
        obj["status"] = clone(old["status"])
    _kind_specific(ctx, rt, obj)
    apply_defaults(rt.kind, obj)
    return obj


def _kind_specific(ctx: ClusterContext, rt: ResourceType, obj: JsonObj) -> None:
    if rt.kind == "Secret" and isinstance(obj.get("stringData"), dict):
        data = obj.setdefault("data", {})
        for key, value in obj.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    elif rt.kind == "Service":
        spec = obj.setdefault("spec", {})
        if not spec.get("clusterIP"):
            octets = [int(c, 36) % 250 + 2 for c in ctx.ids.suffix(2)]
            spec["clusterIP"] = f"10.96.{octets[0]}.{octets[1]}"
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    elif rt.kind == "Namespace":
        name = str(meta(obj).get("name"))
        meta(obj).setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj["status"] = {"phase": "Active"}
