"""ControllerRevisions: the template history StatefulSets and DaemonSets keep (`kubectl rollout history`).

Each distinct pod template is one ControllerRevision `<owner>-<hash>` owned by the workload, with a `revision`
number and `data` holding the template as a strategic-merge patch (`{"spec":{"template":{...,"$patch":"replace"}}}`).
Going back to an old template reuses its revision object and gives it the next number, as the controllers do.
"""

from __future__ import annotations

import json
from typing import Any

from .context import ClusterContext, owner_reference
from .ids import fnv32a, safe_encode
from .store import clone, meta

JsonObj = dict[str, Any]

HASH_LABEL = "controller.kubernetes.io/hash"


def revision_data(owner: JsonObj) -> JsonObj:
    template = clone(owner["spec"]["template"])
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def _hash(data: JsonObj) -> str:
    return safe_encode(str(fnv32a(json.dumps(data, sort_keys=True).encode())))


def _new_revision(ctx: ClusterContext, owner: JsonObj, data: JsonObj, number: int) -> JsonObj:
    digest = _hash(data)
    labels = {**((owner["spec"]["template"].get("metadata") or {}).get("labels") or {}), HASH_LABEL: digest}
    cr_meta = {
        "name": f"{meta(owner)['name']}-{digest}",
        "namespace": meta(owner)["namespace"],
        "labels": labels,
        "ownerReferences": [owner_reference(owner)],
    }
    cr = {"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": cr_meta, "data": data, "revision": number}
    return ctx.store.insert(ctx.type("apps", "controllerrevisions"), cr)


def ensure_revision(ctx: ClusterContext, owner: JsonObj, forced: int | None = None) -> JsonObj:
    """The ControllerRevision of the owner's current template, created or renumbered as needed."""
    existing = ctx.owned("apps", "controllerrevisions", owner)
    data = revision_data(owner)
    latest = max((int(cr.get("revision", 0)) for cr in existing), default=0)
    for cr in existing:
        if cr.get("data") != data:
            continue
        if int(cr.get("revision", 0)) < latest or forced is not None:
            cr["revision"] = forced or latest + 1
            return ctx.store.put(ctx.type("apps", "controllerrevisions"), cr)
        return cr
    return _new_revision(ctx, owner, data, forced or latest + 1)


def template_of(cr: JsonObj) -> JsonObj:
    template = clone(cr["data"]["spec"]["template"])
    template.pop("$patch", None)
    return dict(template)
