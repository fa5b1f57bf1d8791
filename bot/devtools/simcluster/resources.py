"""The resource types the simulated apiserver serves, with the facts discovery and routing need.

One table drives discovery documents (`/api/v1`, `/apis/apps/v1`), URL routing, error wording and the
`kind`/`apiVersion` written on objects and lists, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    verbs: tuple[str, ...] = field(default=ALL_VERBS)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def kind_qualified(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, ("get", "patch", "update"))


def _scale() -> Subresource:
    return Subresource("scale", "Scale", ("get", "patch", "update"), "autoscaling", "v1")


def _core() -> list[ResourceType]:
    rw = ("create", "delete", "get", "list", "patch", "update", "watch")
    pod_subs = (
        _status("Pod"),
        Subresource("log", "Pod", ("get",)),
        Subresource("eviction", "Eviction", ("create",), "policy", "v1"),
    )
    return [
        ResourceType("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",), (), (_status("Namespace"),), rw),
        ResourceType("", "v1", "nodes", "node", "Node", False, ("no",), (), (_status("Node"),)),
        ResourceType("", "v1", "pods", "pod", "Pod", True, ("po",), ("all",), pod_subs),
        ResourceType("", "v1", "events", "event", "Event", True, ("ev",)),
        ResourceType("", "v1", "secrets", "secret", "Secret"),
        ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
        ResourceType("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",)),
        ResourceType("", "v1", "services", "service", "Service", True, ("svc",), ("all",), (_status("Service"),), rw),
    ]


def _apps() -> list[ResourceType]:
    def workload(plural: str, kind: str, short: str, scale: bool = True) -> ResourceType:
        subs = (_status(kind), _scale()) if scale else (_status(kind),)
        singular = kind.lower()
        return ResourceType("apps", "v1", plural, singular, kind, True, (short,), ("all",), subs)

    return [
        workload("deployments", "Deployment", "deploy"),
        workload("replicasets", "ReplicaSet", "rs"),
        workload("statefulsets", "StatefulSet", "sts"),
        workload("daemonsets", "DaemonSet", "ds", scale=False),
        ResourceType("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision"),
    ]


def _coordination() -> list[ResourceType]:
    return [ResourceType("coordination.k8s.io", "v1", "leases", "lease", "Lease")]


class ResourceRegistry:
    """Lookup of served resource types by (group, plural), by kind, and by group/version."""

    def __init__(self, types: Iterable[ResourceType]) -> None:
        self.types = tuple(types)
        self._by_plural = {(t.group, t.plural): t for t in self.types}
        self._by_kind = {(t.api_version, t.kind): t for t in self.types}

    def lookup(self, group: str, plural: str) -> ResourceType | None:
        return self._by_plural.get((group, plural))

    def get(self, group: str, plural: str) -> ResourceType:
        found = self.lookup(group, plural)
        if found is None:
            raise KeyError(f"{plural}.{group}")
        return found

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def group_versions(self) -> dict[str, list[str]]:
        """Served named groups (not the core group) and their versions, in registration order."""
        groups: dict[str, list[str]] = {}
        for t in self.types:
            if t.group and t.version not in groups.setdefault(t.group, []):
                groups[t.group].append(t.version)
        return groups

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self.types if t.group == group and t.version == version]


def default_registry() -> ResourceRegistry:
    return ResourceRegistry([*_core(), *_apps(), *_coordination()])
