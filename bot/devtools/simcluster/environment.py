"""A container's environment checked against the cluster, as the kubelet does before creating the container.

`env` references to a missing Secret/ConfigMap or key, and non-optional `envFrom` sources that do not exist, are
`CreateContainerConfigError`s with the kubelet's messages. `StoreFacts` answers the same questions (and whether a
dependency is up) for `heals_when` conditions, and lists the Services and pods a netcheck pod can reach.
"""

from __future__ import annotations

from typing import Any

from .resources import ResourceRegistry
from .store import ObjectStore

JsonObj = dict[str, Any]


def _env_error(container: JsonObj, namespace: str, facts: StoreFacts) -> str | None:
    for env in container.get("env") or []:
        source = env.get("valueFrom") or {}
        for key, plural, kind in (
            ("secretKeyRef", "secrets", "Secret"),
            ("configMapKeyRef", "configmaps", "ConfigMap"),
        ):
            ref = source.get(key)
            if isinstance(ref, dict) and not ref.get("optional"):
                keys = facts.data_keys(plural, namespace, str(ref.get("name")))
                if keys is None:
                    return f'{kind.lower()} "{ref.get("name")}" not found'
                if ref.get("key") not in keys:
                    return f"couldn't find key {ref.get('key')} in {kind} {namespace}/{ref.get('name')}"
    return None


def _env_from_error(container: JsonObj, namespace: str, facts: StoreFacts) -> str | None:
    for source in container.get("envFrom") or []:
        for key, plural in (("secretRef", "secrets"), ("configMapRef", "configmaps")):
            ref = source.get(key)
            optional = not isinstance(ref, dict) or ref.get("optional")
            if not optional and facts.data_keys(plural, namespace, str(ref.get("name"))) is None:
                return f'{plural[:-1]} "{ref.get("name")}" not found'
    return None


class StoreFacts:
    """The cluster facts `heals_when` conditions and netcheck pods ask about, read from the object store."""

    def __init__(self, store: ObjectStore, registry: ResourceRegistry) -> None:
        self._store = store
        self._registry = registry
        self.dependencies: dict[str, bool] = {}
        self.host_ips: dict[str, str] = {}  # a dependency host -> the IP its scenario's logs print for it

    def services(self) -> list[JsonObj]:
        return self._store.list(self._registry.get("", "services"))

    def pods(self, namespace: str) -> list[JsonObj]:
        return self._store.list(self._registry.get("", "pods"), namespace)

    def data_keys(self, plural: str, namespace: str, name: str) -> set[str] | None:
        obj = self._store.get(self._registry.get("", plural), namespace, name)
        if obj is None:
            return None
        fields = ("data", "stringData") if plural == "secrets" else ("data", "binaryData")
        return {k for f in fields for k in (obj.get(f) or {})}

    def dependency_up(self, target: str) -> bool:
        return self.dependencies.get(target, True)


def config_error(container: JsonObj, namespace: str, facts: StoreFacts) -> str | None:
    """What the kubelet reports when a container's environment references a missing Secret/ConfigMap (key)."""
    return _env_error(container, namespace, facts) or _env_from_error(container, namespace, facts)
