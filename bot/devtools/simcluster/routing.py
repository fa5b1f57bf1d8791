"""URL paths of the Kubernetes API mapped to what they address: a discovery document or a resource target.

`/api/v1/namespaces/shop/pods/x/log` is the `log` subresource of pod `x` in `shop`; `/api/v1/pods` lists pods in
all namespaces; `/api/v1/namespaces/shop` is the Namespace `shop`; `/apis/apps/v1` is discovery.
"""

from __future__ import annotations

from dataclasses import dataclass

from .messages import Target
from .resources import ResourceRegistry


@dataclass(frozen=True)
class Discovery:
    document: str  # version, api, apis, group, resources, openapi
    group: str = ""
    version: str = ""


def _split_prefix(parts: list[str]) -> tuple[str, str, list[str]] | Discovery | None:
    if parts == ["version"]:
        return Discovery("version")
    if parts[:2] == ["openapi", "v3"]:
        return _openapi(parts[2:])
    if parts[:1] == ["api"]:
        if len(parts) == 1:
            return Discovery("api")
        if len(parts) == 2:
            return Discovery("resources", "", parts[1])
        return "", parts[1], parts[2:]
    if parts[:1] == ["apis"]:
        if len(parts) <= 3:
            docs = {1: Discovery("apis"), 2: Discovery("group", parts[1] if len(parts) > 1 else "")}
            return docs.get(len(parts)) or Discovery("resources", parts[1], parts[2])
        return parts[1], parts[2], parts[3:]
    return None


def _openapi(parts: list[str]) -> Discovery | None:
    if not parts:
        return Discovery("openapi")
    if parts[0] == "api" and len(parts) == 2:
        return Discovery("openapi", "", parts[1])
    if parts[0] == "apis" and len(parts) == 3:
        return Discovery("openapi", parts[1], parts[2])
    return None


def parse_path(path: str, registry: ResourceRegistry) -> Target | Discovery | None:
    parts = [p for p in path.split("/") if p]
    split = _split_prefix(parts)
    if split is None or isinstance(split, Discovery):
        return split
    group, version, rest = split
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3 and registry.lookup(group, rest[2]) is not None:
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    rt = registry.lookup(group, rest[0])
    if rt is None or rt.version != version or (namespace is not None and not rt.namespaced):
        return None
    name = rest[1] if len(rest) > 1 else None
    if rt.namespaced and namespace is None and name is not None:
        return None
    return Target(rt, namespace, name, rest[2] if len(rest) > 2 else None)
