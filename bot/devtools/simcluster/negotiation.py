"""What the client asked to receive: the full object, metadata only (`PartialObjectMetadata`) or a `Table`.

The Accept header is a list of alternatives, e.g. kubectl's
`application/json;as=Table;v=v1;g=meta.k8s.io,application/json`; the first one we can serve wins, and plain JSON
is always possible. The bot reads Secrets as `PartialObjectMetadata` so their values never reach it.
"""

from __future__ import annotations

from typing import Any

from .resources import ResourceType

JsonObj = dict[str, Any]


def _params(media: str) -> dict[str, str]:
    params = {}
    for part in media.split(";")[1:]:
        key, _, value = part.partition("=")
        params[key.strip().lower()] = value.strip()
    return params


def representation(accept: str) -> str:
    """`Table`, `PartialObjectMetadata`, `PartialObjectMetadataList` or `` for the plain object."""
    for media in (accept or "").split(","):
        params = _params(media)
        wanted = params.get("as", "")
        if not wanted:
            return ""
        known = wanted in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList")
        if known and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            return wanted
    return ""


def partial(obj: JsonObj) -> JsonObj:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}


def partial_list(objects: list[JsonObj], resource_version: str) -> JsonObj:
    return {
        "kind": "PartialObjectMetadataList",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "items": [partial(o) for o in objects],
    }


def object_list(rt: ResourceType, objects: list[JsonObj], resource_version: str) -> JsonObj:
    """A `<Kind>List`; like the apiserver, items carry no kind/apiVersion of their own."""
    items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in objects]
    return {
        "kind": rt.list_kind,
        "apiVersion": rt.api_version,
        "metadata": {"resourceVersion": resource_version},
        "items": items,
    }
