"""Discovery documents (`/version`, `/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`) for kubectl.

kubectl resolves `deploy/web-app` and `po` through these; it also asks for aggregated discovery first, and falls
back to these legacy documents when the answer is plain `application/json`, which is what we serve.
"""

from __future__ import annotations

from typing import Any

from .resources import ResourceRegistry, ResourceType

JsonObj = dict[str, Any]

SERVER_ADDRESS = {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}


def version_info() -> JsonObj:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.3",
        "gitCommit": "32cc146f75aad04beaaa245a7157eb35063a9f99",
        "gitTreeState": "clean",
        "buildDate": "2025-03-11T19:52:21Z",
        "goVersion": "go1.23.6",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def api_versions() -> JsonObj:
    return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [SERVER_ADDRESS]}


def _group_doc(group: str, versions: list[str]) -> JsonObj:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: ResourceRegistry) -> JsonObj:
    groups = [_group_doc(g, vs) for g, vs in registry.group_versions().items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: ResourceRegistry, group: str) -> JsonObj | None:
    versions = registry.group_versions().get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_doc(group, versions)}


def _resource_entries(t: ResourceType) -> list[JsonObj]:
    main: JsonObj = {
        "name": t.plural,
        "singularName": t.singular,
        "namespaced": t.namespaced,
        "kind": t.kind,
        "verbs": list(t.verbs),
    }
    if t.short_names:
        main["shortNames"] = list(t.short_names)
    if t.categories:
        main["categories"] = list(t.categories)
    entries = [main]
    for sub in t.subresources:
        entry: JsonObj = {
            "name": f"{t.plural}/{sub.name}",
            "singularName": "",
            "namespaced": t.namespaced,
            "kind": sub.kind,
            "verbs": list(sub.verbs),
        }
        if sub.group or sub.version:
            entry["group"], entry["version"] = sub.group, sub.version
        entries.append(entry)
    return entries


def api_resource_list(registry: ResourceRegistry, group: str, version: str) -> JsonObj | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    resources = [entry for t in types for entry in _resource_entries(t)]
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}
