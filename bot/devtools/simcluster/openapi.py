"""A minimal OpenAPI v3 document per group/version, enough for kubectl's server-side field validation check.

Before `kubectl create -f` / `apply -f` sends an object, kubectl asks `/openapi/v3` whether the PATCH operation
of that kind accepts the `fieldValidation` query parameter; if it does, kubectl lets the server validate instead
of downloading schemas. We declare it for every kind we serve. Schemas themselves are not served.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .resources import ResourceRegistry, ResourceType

JsonObj = dict[str, Any]

_FIELD_VALIDATION = {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}}


def _prefix(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _item_path(t: ResourceType) -> str:
    base = f"/{_prefix(t.group, t.version)}"
    return f"{base}/namespaces/{{namespace}}/{t.plural}/{{name}}" if t.namespaced else f"{base}/{t.plural}/{{name}}"


def group_version_document(registry: ResourceRegistry, group: str, version: str) -> JsonObj | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    paths = {}
    for t in types:
        gvk = {"group": t.group, "version": t.version, "kind": t.kind}
        operation = {
            "operationId": f"patch{t.kind}",
            "parameters": [_FIELD_VALIDATION],
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": gvk,
        }
        paths[_item_path(t)] = {"patch": operation}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.3"}, "paths": paths}


def root_document(registry: ResourceRegistry) -> JsonObj:
    paths = {}
    versions = [("", "v1"), *((g, v) for g, vs in registry.group_versions().items() for v in vs)]
    for group, version in versions:
        document = group_version_document(registry, group, version)
        digest = hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest()[:128].upper()
        paths[_prefix(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_prefix(group, version)}?hash={digest}"}
    return {"paths": paths}
