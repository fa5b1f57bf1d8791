"""Finding the workload a person or an alert names: a Deployment, StatefulSet, DaemonSet or a pod.

A name is looked up in every candidate namespace and kind at once (one round trip), and the first hit in the
environment's namespace order wins. A pod name is resolved up its owner chain (Pod → ReplicaSet → Deployment,
Pod → StatefulSet/DaemonSet) so triage always covers the whole workload, focused on that pod.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.kube.client import WORKLOAD_KINDS, KubeError, KubeObject, KubeReader
from bot.kube.concurrent import AsyncKube
from bot.kube.parse import owner
from runbooks.model import ReadFailure

_LOOKUP_KINDS = (*WORKLOAD_KINDS, "Pod")


class WorkloadNotFound(Exception):
    """Nothing by that name; carries what does exist so the message can list it."""

    def __init__(self, name: str, namespaces: list[str], existing: dict[str, list[str]], failures: list[ReadFailure]):
        self.name = name
        self.namespaces = namespaces
        self.existing = existing
        self.failures = failures
        super().__init__(self.describe())

    def describe(self) -> str:
        where = ", ".join(self.namespaces)
        lines = [f"no Deployment, StatefulSet, DaemonSet or Pod named {self.name!r} in namespace(s) {where}"]
        for ns, names in self.existing.items():
            lines.append(f"  {ns}: {', '.join(names) if names else '(no workloads)'}")
        lines.extend(f"  could not read {f.what}: {f.status} {f.message}" for f in self.failures)
        return "\n".join(lines)


@dataclass(frozen=True)
class Located:
    """The workload to triage, and the pod the request named (if it named one)."""

    kind: str
    namespace: str
    obj: KubeObject
    pod: KubeObject | None = None
    failures: tuple[ReadFailure, ...] = field(default=())


async def locate(kube: AsyncKube, reader: KubeReader, namespaces: list[str], name: str) -> Located:
    """The first workload or pod called `name`, searching `namespaces` in order."""
    lookups = [(ns, kind) for ns in namespaces for kind in _LOOKUP_KINDS]
    results = await kube.all(
        kube.attempt(f"get {kind.lower()} {ns}/{name}", reader.get_workload, kind, ns, name) for ns, kind in lookups
    )
    failures = [r for r in results if isinstance(r, ReadFailure) and not r.status.startswith("404")]
    for (ns, kind), result in zip(lookups, results, strict=True):
        if isinstance(result, ReadFailure):
            continue
        if kind == "Pod":
            return await _from_pod(kube, reader, ns, result, failures)
        return Located(kind, ns, result, None, tuple(failures))
    raise WorkloadNotFound(name, namespaces, await _existing(kube, reader, namespaces), failures)


async def _from_pod(
    kube: AsyncKube, reader: KubeReader, namespace: str, pod: KubeObject, failures: list[ReadFailure]
) -> Located:
    """Walk the pod's controlling owners up to the workload; a pod with no (readable) owner is its own workload."""
    kind_name = owner(pod)
    if kind_name and kind_name[0] == "ReplicaSet":
        rs = await kube.attempt(
            f"get replicaset {namespace}/{kind_name[1]}", reader.get_workload, "ReplicaSet", namespace, kind_name[1]
        )
        if isinstance(rs, ReadFailure):
            return Located("Pod", namespace, pod, pod, (*failures, rs))
        kind_name = owner(rs)
    if kind_name and kind_name[0] in WORKLOAD_KINDS:
        kind, owner_name = kind_name
        obj = await kube.attempt(
            f"get {kind.lower()} {namespace}/{owner_name}", reader.get_workload, kind, namespace, owner_name
        )
        if not isinstance(obj, ReadFailure):
            return Located(kind, namespace, obj, pod, tuple(failures))
        failures = [*failures, obj]
    return Located("Pod", namespace, pod, pod, tuple(failures))


async def _existing(kube: AsyncKube, reader: KubeReader, namespaces: list[str]) -> dict[str, list[str]]:
    pairs = [(ns, kind) for ns in namespaces for kind in WORKLOAD_KINDS]
    lists = await kube.all(kube.attempt(f"list {k} in {ns}", reader.list_workloads, k, ns) for ns, k in pairs)
    existing: dict[str, list[str]] = {ns: [] for ns in namespaces}
    for (ns, kind), items in zip(pairs, lists, strict=True):
        if isinstance(items, ReadFailure):
            continue
        existing[ns].extend(f"{i['metadata']['name']} ({kind})" for i in items)
    return existing


async def find_pod(kube: AsyncKube, reader: KubeReader, namespace: str, name: str) -> KubeObject:
    try:
        return await kube.call(f"get pod {namespace}/{name}", reader.get_workload, "Pod", namespace, name)
    except KubeError as exc:
        raise WorkloadNotFound(name, [namespace], {}, [ReadFailure(exc.what, exc.short, exc.message)]) from exc
