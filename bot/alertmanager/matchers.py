"""The matchers that silence exactly one workload's alerts, from the labels the alert rules really carry.

The rules in `deploy/alerts/crashloop-rules.yaml` (kube-state-metrics and cAdvisor series) label an alert with
`namespace`, `pod` and `container`, and Prometheus adds `cluster` from its external_labels — no alert carries a
workload label. So a workload is named by its namespace (an equality matcher), the cluster (an equality matcher
on `cluster` with the environment's `cluster_label`, when it has one) and a regex over the pod names its
controller generates, built from the escaped workload name and the generated-name alphabet of
k8s.io/apimachinery's `rand` (no vowels, no confusable digits):

- Deployment `web`:  `web-<pod-template-hash>-<5 chars>` (the ReplicaSet's hash, then the pod's suffix);
- DaemonSet `web`:   `web-<5 chars>`;
- StatefulSet `web`: `web-<ordinal>`;
- a bare Pod:        its exact name (an equality matcher, no regex).

Alertmanager anchors a regex matcher at both ends. A workload of another kind whose name extends this one's
(a DaemonSet `web-db` beside a Deployment `web`) could in principle generate a matching pod name, so the guard
lists the namespace's pods before a silence and refuses when any pod the pattern matches belongs to another
owner (`foreign_pods`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"  # k8s.io/apimachinery/pkg/util/rand's alphabet
NAMESPACE_LABEL, POD_LABEL, CLUSTER_LABEL = "namespace", "pod", "cluster"


class UnsupportedKind(ValueError):
    """A kind whose pods' names cannot be told apart from other workloads' pods."""


@dataclass(frozen=True)
class Matcher:
    """One Alertmanager matcher (`isEqual` always true: the bot never writes a negative matcher)."""

    name: str
    value: str
    is_regex: bool = False

    def api(self) -> dict[str, Any]:
        """As the v2 API's `matcher` object."""
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": True}

    def text(self) -> str:
        """As amtool and the API's `filter` parameter write it: name="value" or name=~"regex"."""
        op = "=~" if self.is_regex else "="
        return f'{self.name}{op}"{_quote(self.value)}"'


def pod_pattern(kind: str, name: str) -> str:
    """The regex (RE2, anchored by Alertmanager) of the pod names `kind`/`name` generates."""
    escaped = re.sub(r"([.\\+*?()|\[\]{}^$])", r"\\\1", name)
    if kind == "Deployment":
        return f"{escaped}-{_SAFE}{{1,10}}-{_SAFE}{{5}}"
    if kind == "DaemonSet":
        return f"{escaped}-{_SAFE}{{5}}"
    if kind == "StatefulSet":
        return f"{escaped}-(0|[1-9][0-9]*)"
    raise UnsupportedKind(f"a {kind} has no generated pod names to silence by")


def workload_matchers(*, kind: str, namespace: str, workload: str, cluster: str | None) -> tuple[Matcher, ...]:
    """The matchers of `kind` `namespace`/`workload`'s alerts (with `cluster` when the environment has one)."""
    pod = Matcher(POD_LABEL, workload) if kind == "Pod" else Matcher(POD_LABEL, pod_pattern(kind, workload), True)
    cluster_matcher = (Matcher(CLUSTER_LABEL, cluster),) if cluster else ()
    return (*cluster_matcher, Matcher(NAMESPACE_LABEL, namespace), pod)


def matches(matchers: Iterable[Matcher], labels: dict[str, str]) -> bool:
    """Whether an alert with `labels` is matched (the same anchored semantics as Alertmanager)."""
    for m in matchers:
        value = labels.get(m.name, "")
        if not (re.fullmatch(m.value, value) if m.is_regex else value == m.value):
            return False
    return True


def same(api_matchers: Sequence[dict[str, Any]], wanted: Sequence[Matcher]) -> bool:
    """Whether the matchers Alertmanager reports are exactly `wanted` (order aside)."""
    got = {(m.get("name"), m.get("value"), bool(m.get("isRegex")), m.get("isEqual", True)) for m in api_matchers}
    return len(api_matchers) == len(wanted) and got == {(m.name, m.value, m.is_regex, True) for m in wanted}


def from_api(api_matchers: Sequence[dict[str, Any]]) -> tuple[Matcher, ...]:
    """Matchers as stored or read back (isEqual false ones are kept out: the bot never writes them)."""
    return tuple(Matcher(str(m["name"]), str(m["value"]), bool(m.get("isRegex"))) for m in api_matchers)


def foreign_pods(pods: Iterable[dict[str, Any]], kind: str, workload: str, pattern: str) -> list[str]:
    """The pods whose names `pattern` matches but that `kind`/`workload` does not own: what it would over-silence."""
    foreign = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        name = str(meta.get("name") or "")
        if not re.fullmatch(pattern, name):
            continue
        owners = [(o.get("kind"), str(o.get("name") or "")) for o in meta.get("ownerReferences") or []]
        if not any(_owned(owner_kind, owner, kind, workload) for owner_kind, owner in owners):
            foreign.append(name)
    return sorted(foreign)


def _owned(owner_kind: Any, owner: str, kind: str, workload: str) -> bool:
    if kind == "Deployment":  # the pod's ReplicaSet is `<deployment>-<pod-template-hash>`
        return owner_kind == "ReplicaSet" and re.fullmatch(f"{re.escape(workload)}-{_SAFE}{{1,10}}", owner) is not None
    return bool(owner_kind == kind and owner == workload)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
