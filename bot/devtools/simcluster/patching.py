"""The three patch formats the apiserver accepts: strategic merge, JSON patch (RFC 6902), merge patch (RFC 7386).

Strategic merge merges lists by their Kubernetes merge keys (containers by `name`, container ports by
`containerPort`, volume mounts by `mountPath`, ...) and honours the `$patch`, `$retainKeys`,
`$setElementOrder/...` and `$deleteFromPrimitiveList/...` directives kubectl sends. JSON patches go through the
`jsonpatch` library.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from .errors import ApiError, bad_request, unsupported_media_type

JsonObj = dict[str, Any]

STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
MERGE = "application/merge-patch+json"

_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "ownerReferences": "uid",
    "conditions": "type",
    "resourceClaims": "name",
    "claims": "name",
    "topologySpreadConstraints": "topologyKey",
}
_PRIMITIVE_SETS = {"finalizers"}
_DELETE = object()


def merge_key(field: str, parent: str) -> str | None:
    if field == "ports":
        return "containerPort" if parent in ("containers", "initContainers", "ephemeralContainers") else "port"
    return _MERGE_KEYS.get(field)


def _is_directive(item: Any) -> bool:
    return isinstance(item, dict) and "$patch" in item


def _clean(value: Any) -> Any:
    """A patch fragment stored as-is: directives and nulls removed."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value if not _is_directive(v)]
    return value


def strategic_merge(original: Any, patch: Any, parent: str = "") -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(original, dict):
        return _DELETE if patch.get("$patch") == "delete" else _clean(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _clean(patch)
    if directive == "delete":
        return _DELETE
    result = _merge_fields(dict(original), patch, parent)
    _apply_list_directives(result, patch)
    if isinstance(patch.get("$retainKeys"), list):
        result = {k: v for k, v in result.items() if k in patch["$retainKeys"]}
    return result


def _merge_fields(result: JsonObj, patch: JsonObj, parent: str) -> JsonObj:
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        merged = _DELETE if value is None else _merge_value(result.get(key), value, key, parent)
        if merged is _DELETE:
            result.pop(key, None)
        else:
            result[key] = merged
    return result


def _merge_value(original: Any, value: Any, key: str, parent: str) -> Any:
    if isinstance(value, list):
        return _merge_list(original, value, key, parent)
    return strategic_merge(original, value, key)


def _merge_list(original: Any, items: list[Any], field: str, parent: str) -> list[Any]:
    if field in _PRIMITIVE_SETS and isinstance(original, list):
        return [*original, *[i for i in items if i not in original]]
    key = merge_key(field, parent)
    replace = any(_is_directive(i) and i["$patch"] == "replace" for i in items)
    if key is None or not isinstance(original, list) or replace:
        return [_clean(i) for i in items if not _is_directive(i)]
    result = [copy.deepcopy(i) for i in original]
    for item in items:
        if not isinstance(item, dict):
            continue
        index = next((n for n, e in enumerate(result) if isinstance(e, dict) and e.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is not None:
            result[index] = strategic_merge(result[index], item, field)
        else:
            result.append(_clean(item))
    return result


def _apply_list_directives(result: JsonObj, patch: JsonObj) -> None:
    for directive, value in patch.items():
        if directive.startswith("$deleteFromPrimitiveList/") and isinstance(value, list):
            field = directive.split("/", 1)[1]
            result[field] = [i for i in result.get(field) or [] if i not in value]
        elif directive.startswith("$setElementOrder/") and isinstance(value, list):
            field = directive.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = _reorder(result[field], value)


def _reorder(items: list[Any], order: list[Any]) -> list[Any]:
    def identity(item: Any) -> Any:
        return tuple(sorted(item.items())) if isinstance(item, dict) else item

    wanted = [identity(o) for o in order]

    def position(item: Any) -> int:
        if isinstance(item, dict):
            keys = [o for o in order if isinstance(o, dict) and all(item.get(k) == v for k, v in o.items())]
            return wanted.index(identity(keys[0])) if keys else len(wanted)
        return wanted.index(item) if item in wanted else len(wanted)

    return sorted(items, key=position)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: JsonObj, operations: Any) -> JsonObj:
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        patched = jsonpatch.JsonPatch(operations).apply(target)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, KeyError, TypeError) as exc:
        raise ApiError(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
            {"causes": [{"reason": "UnexpectedServerResponse", "message": str(exc)}]},
        ) from None
    if not isinstance(patched, dict):
        raise bad_request("the patch must leave an object")
    return patched


def apply_patch(content_type: str, target: JsonObj, body: Any) -> JsonObj:
    """Apply a patch body of the given media type; 415 for apply patches and anything unknown."""
    media = content_type.split(";")[0].strip().lower()
    if media == JSON_PATCH:
        return json_patch(target, body)
    if not isinstance(body, dict):
        if media in (STRATEGIC, MERGE):
            raise bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
        raise unsupported_media_type(content_type)
    if media == STRATEGIC:
        merged = strategic_merge(target, body)
    elif media == MERGE:
        merged = merge_patch(target, body)
    else:
        raise unsupported_media_type(content_type)
    if not isinstance(merged, dict):
        raise bad_request("the patch must leave an object")
    return merged
