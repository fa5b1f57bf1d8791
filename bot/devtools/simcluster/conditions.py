"""`heals_when` conditions: what must be true of a pod's spec and of the cluster for a failure to stop.

A scenario's failure mode lists conditions; the container is healthy only when all of them hold. Each condition
is a small frozen dataclass with a readable YAML name, evaluated against the pod's own spec (what the kubelet
would run) and the cluster's facts (Secrets, ConfigMaps, reachable dependencies).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .quantity import parse_quantity

JsonObj = dict[str, Any]


class Facts(Protocol):
    """What conditions may ask about the cluster."""

    def data_keys(self, plural: str, namespace: str, name: str) -> set[str] | None:
        """Keys of a Secret's or ConfigMap's data, None if the object does not exist."""

    def dependency_up(self, target: str) -> bool: ...


@dataclass(frozen=True)
class PodView:
    namespace: str
    spec: JsonObj
    container: JsonObj


class Condition(Protocol):
    def holds(self, pod: PodView, facts: Facts) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class MemoryLimitAtLeast:
    """The container's memory limit is at least `quantity` (no limit at all counts as enough)."""

    quantity: str

    def holds(self, pod: PodView, facts: Facts) -> bool:
        limit = ((pod.container.get("resources") or {}).get("limits") or {}).get("memory")
        return limit is None or parse_quantity(limit) >= parse_quantity(self.quantity)

    def describe(self) -> str:
        return f"memory limit >= {self.quantity}"


def _ref_has_key(facts: Facts, plural: str, namespace: str, ref: JsonObj) -> bool:
    keys = facts.data_keys(plural, namespace, str(ref.get("name", "")))
    return keys is not None and str(ref.get("key", "")) in keys


@dataclass(frozen=True)
class EnvSet:
    """The variable reaches the container: a non-empty literal, a resolvable key reference, or via envFrom."""

    name: str

    def holds(self, pod: PodView, facts: Facts) -> bool:
        for env in pod.container.get("env") or []:
            if env.get("name") == self.name and self._resolves(env, pod.namespace, facts):
                return True
        return any(self._from_source(src, pod.namespace, facts) for src in pod.container.get("envFrom") or [])

    @staticmethod
    def _resolves(env: JsonObj, namespace: str, facts: Facts) -> bool:
        if env.get("value"):
            return True
        source = env.get("valueFrom") or {}
        if "secretKeyRef" in source:
            return _ref_has_key(facts, "secrets", namespace, source["secretKeyRef"])
        if "configMapKeyRef" in source:
            return _ref_has_key(facts, "configmaps", namespace, source["configMapKeyRef"])
        return "fieldRef" in source or "resourceFieldRef" in source

    def _from_source(self, source: JsonObj, namespace: str, facts: Facts) -> bool:
        prefix = str(source.get("prefix", ""))
        if not self.name.startswith(prefix):
            return False
        for plural, key in (("secrets", "secretRef"), ("configmaps", "configMapRef")):
            if key in source:
                keys = facts.data_keys(plural, namespace, str(source[key].get("name", "")))
                return keys is not None and self.name[len(prefix) :] in keys
        return False

    def describe(self) -> str:
        return f"env {self.name} is set"


@dataclass(frozen=True)
class ImageIs:
    image: str

    def holds(self, pod: PodView, facts: Facts) -> bool:
        return pod.container.get("image") == self.image

    def describe(self) -> str:
        return f"image is {self.image}"


@dataclass(frozen=True)
class ServiceAccountIs:
    name: str

    def holds(self, pod: PodView, facts: Facts) -> bool:
        return (pod.spec.get("serviceAccountName") or pod.spec.get("serviceAccount") or "default") == self.name

    def describe(self) -> str:
        return f"serviceAccountName is {self.name}"


def startup_budget(container: JsonObj) -> float | None:
    """Seconds the container gets before probes can kill it; None when no probe can kill it."""
    probe = container.get("startupProbe") or container.get("livenessProbe")
    if not isinstance(probe, dict):
        return None
    delay = int(probe.get("initialDelaySeconds", 0))
    return float(delay + int(probe.get("failureThreshold", 3)) * int(probe.get("periodSeconds", 10)))


@dataclass(frozen=True)
class StartupBudgetAtLeast:
    """startupProbe (or else livenessProbe) initialDelaySeconds + failureThreshold x periodSeconds >= seconds."""

    seconds: float

    def holds(self, pod: PodView, facts: Facts) -> bool:
        budget = startup_budget(pod.container)
        return budget is None or budget >= self.seconds

    def describe(self) -> str:
        return f"startup budget >= {self.seconds:g}s"


@dataclass(frozen=True)
class ObjectExists:
    plural: str
    name: str

    def holds(self, pod: PodView, facts: Facts) -> bool:
        return facts.data_keys(self.plural, pod.namespace, self.name) is not None

    def describe(self) -> str:
        return f"{self.plural[:-1]} {self.name} exists"


@dataclass(frozen=True)
class DependencyUp:
    target: str

    def holds(self, pod: PodView, facts: Facts) -> bool:
        return facts.dependency_up(self.target)

    def describe(self) -> str:
        return f"{self.target} is up"


CONDITIONS: dict[str, Callable[[Any], Condition]] = {
    "memory_limit_at_least": lambda v: MemoryLimitAtLeast(str(v)),
    "env_set": lambda v: EnvSet(str(v)),
    "image_is": lambda v: ImageIs(str(v)),
    "service_account_is": lambda v: ServiceAccountIs(str(v)),
    "startup_budget_at_least": lambda v: StartupBudgetAtLeast(float(v)),
    "secret_exists": lambda v: ObjectExists("secrets", str(v)),
    "configmap_exists": lambda v: ObjectExists("configmaps", str(v)),
    "dependency_up": lambda v: DependencyUp(str(v)),
}


def parse_condition(raw: Any) -> Condition:
    """One `{name: value}` mapping from a `heals_when` list."""
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ValueError(f"a heals_when condition is a one-key mapping, got {raw!r}")
    ((name, value),) = raw.items()
    if name not in CONDITIONS:
        raise ValueError(f"unknown heals_when condition {name!r}; known: {', '.join(sorted(CONDITIONS))}")
    return CONDITIONS[name](value)
