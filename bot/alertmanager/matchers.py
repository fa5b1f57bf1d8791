"""The matchers that silence exactly one workload's alerts, from the labels the alert rules really carry.

The rules in `deploy/alerts/crashloop-rules.yaml` (kube-state-metrics and cAdvisor series) label an alert with
`namespace`, `pod` and `container`, and Prometheus adds `cluster` from its external_labels — no alert carries a
workload label. So a workload is named by its namespace (an equality matcher), the cluster (an equality matcher
on `cluster` with the environment's `cluster_label`, when it has one) and a regex over the pod names its
controller generates, exactly as Kubernetes generates them:

- Deployment `web`:  `web-<pod-template-hash>-<5 chars>`. The hash is `rand.SafeEncodeString` of a uint32's
  decimal digits (k8s.io/kubernetes/pkg/controller `ComputeHash`): 1 to 10 characters, each a digit mapped onto
  the safe alphabet, so only `bcdf456789`; the 5 characters are `rand.String(5)` over
  `bcdfghjklmnpqrstvwxz2456789` (no vowels, no confusable digits);
- DaemonSet `web`:   `web-<5 chars>`;
- StatefulSet `web`: `web-<ordinal>`;
- a bare Pod:        its exact name (an equality matcher, no regex).

A generated name is the controller's `generateName` (`<replicaset>-`, `<daemonset>-`) cut to 58 characters, then
the 5 random ones (k8s.io/apiserver/pkg/storage/names: `maxNameLength` 63 − `randomLength` 5): a long workload
name loses the end of its hash, its dash, or more, and the pattern follows that rule.

Why a pattern of every hash, not the hashes of the ReplicaSets that exist now: a rollout during the silence (the
bot's own rollout undo, set image, restart) makes a new ReplicaSet with a new hash, and a silence that stopped
covering the workload then would page the responder it promised quiet to, while still saying "silenced until …".

Alertmanager anchors a regex matcher at both ends. A workload of another kind whose name extends this one's
(a DaemonSet or a bare ReplicaSet `web-db` beside a Deployment `web`: `web-db-x2k4p` fits `web-<hash>-<5>`
because `d` and `b` are hash characters) could generate a matching pod name, so the guard lists the
namespace's pods before a silence, and again right before creating it, and refuses when any pod the pattern
matches belongs to another owner (`foreign_pods`) or when the pattern matches none of the workload's own pods
(`uncovered_pods`). The residual risk is a pod created after that last check by another owner whose name fits
(a workload `web-db` created during the silence): its alerts would be silenced too, until the silence ends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"  # k8s.io/apimachinery/pkg/util/rand's alphabet (rand.String)
_HASH = "[bcdf456789]"  # rand.SafeEncodeString of decimal digits: '0'..'9' are bytes 48..57, mod 27
HASH_MAX = 10  # a uint32 has at most 10 decimal digits
RANDOM_LENGTH = 5
MAX_GENERATED_PREFIX = 63 - RANDOM_LENGTH  # names.go maxGeneratedNameLength: generateName is cut to this
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
    suffix = f"{_SAFE}{{{RANDOM_LENGTH}}}"
    if kind == "Deployment":
        return f"{_deployment_prefix(name)}{suffix}"
    if kind == "DaemonSet":
        return f"{_escape(f'{name}-'[:MAX_GENERATED_PREFIX])}{suffix}"
    if kind == "StatefulSet":
        return f"{_escape(name)}-(0|[1-9][0-9]*)"
    raise UnsupportedKind(f"a {kind} has no generated pod names to silence by")


def _deployment_prefix(name: str) -> str:
    """`<name>-<hash>-` cut to 58 characters, for every hash length from 1 to 10."""
    whole = min(HASH_MAX, MAX_GENERATED_PREFIX - len(name) - 2)  # hash lengths whose prefix is not cut
    forms = [f"{_escape(name)}-{_HASH}{{1,{whole}}}-"] if whole >= 1 else []
    if whole < HASH_MAX:  # longer hashes: the prefix is cut inside the hash (or the dash, or the name)
        kept = MAX_GENERATED_PREFIX - len(name) - 1  # hash characters left after `<name>-`
        if kept >= 1:
            forms.append(f"{_escape(name)}-{_HASH}{{{kept}}}")
        else:
            forms.append(_escape(f"{name}-"[:MAX_GENERATED_PREFIX]))
    return forms[0] if len(forms) == 1 else f"(?:{'|'.join(forms)})"


def _escape(text: str) -> str:
    return re.sub(r"([.\\+*?()|\[\]{}^$])", r"\\\1", text)


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


def uncovered_pods(pods: Iterable[dict[str, Any]], kind: str, workload: str, pattern: str) -> tuple[int, list[str]]:
    """(how many pods `kind`/`workload` owns, those of them `pattern` does not match): what it would miss."""
    own = [p for p in pods if _owned_pod(p, kind, workload)]
    missed = [str((p.get("metadata") or {}).get("name") or "") for p in own]
    return len(own), sorted(n for n in missed if not re.fullmatch(pattern, n))


def _owned_pod(pod: dict[str, Any], kind: str, workload: str) -> bool:
    owners = (pod.get("metadata") or {}).get("ownerReferences") or []
    return any(_owned(o.get("kind"), str(o.get("name") or ""), kind, workload) for o in owners)


def _owned(owner_kind: Any, owner: str, kind: str, workload: str) -> bool:
    if kind == "Deployment":  # the pod's ReplicaSet is `<deployment>-<pod-template-hash>` (never cut)
        return owner_kind == "ReplicaSet" and re.fullmatch(f"{re.escape(workload)}-{_HASH}{{1,10}}", owner) is not None
    return bool(owner_kind == kind and owner == workload)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
