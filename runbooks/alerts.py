"""Alerts as the bot understands them, whatever sent them (Alertmanager webhook v4, CubeAPM).

Senders name Kubernetes objects differently: Prometheus/kube-state-metrics labels (`namespace`, `pod`,
`container`), OpenTelemetry resource attributes (`k8s.namespace.name`, `k8s.pod.name`, …) and the same with `_`
separators. `target_of` reads all of them so routing and triage need not care. The dedupe key says when two
deliveries are the same alert (HA Alertmanager pairs, retries): same fingerprint, status and start time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

_CLUSTER = ("cluster", "k8s.cluster.name", "k8s_cluster_name", "cluster_name", "k8s_cluster")
_NAMESPACE = ("namespace", "k8s.namespace.name", "k8s_namespace_name", "exported_namespace", "kubernetes_namespace")
_POD = ("pod", "k8s.pod.name", "k8s_pod_name", "pod_name", "exported_pod", "kubernetes_pod_name")
_CONTAINER = ("container", "k8s.container.name", "k8s_container_name", "container_name", "exported_container")
_WORKLOAD = (
    ("Deployment", ("deployment", "k8s.deployment.name", "k8s_deployment_name")),
    ("StatefulSet", ("statefulset", "k8s.statefulset.name", "k8s_statefulset_name")),
    ("DaemonSet", ("daemonset", "k8s.daemonset.name", "k8s_daemonset_name")),
)


@dataclass(frozen=True)
class Target:
    """The Kubernetes object an alert is about, as far as its labels say."""

    cluster: str | None = None
    namespace: str | None = None
    pod: str | None = None
    container: str | None = None
    workload: str | None = None
    workload_kind: str | None = None

    @property
    def name(self) -> str | None:
        """What to triage: the workload when the alert names it, else the pod."""
        return self.workload or self.pod


@dataclass(frozen=True)
class Alert:
    """One alert of a webhook delivery, normalised."""

    source: str  # alertmanager | cubeapm
    status: str  # firing | resolved
    name: str  # the alertname label
    fingerprint: str
    starts_at: datetime | None
    ends_at: datetime | None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    generator_url: str | None = None
    group_key: str | None = None
    sample_log: str | None = None

    @property
    def target(self) -> Target:
        return target_of(self.labels)

    @property
    def dedupe_key(self) -> str:
        """Identical for re-deliveries of the same alert state (HA pairs, retries, repeat_interval)."""
        start = self.starts_at.isoformat() if self.starts_at else ""
        return hashlib.sha256(f"{self.fingerprint}|{self.status}|{start}".encode()).hexdigest()


def _first(labels: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = labels.get(key)
        if value:
            return value
    return None


def target_of(labels: dict[str, str]) -> Target:
    kind, workload = None, None
    for candidate, keys in _WORKLOAD:
        workload = _first(labels, keys)
        if workload:
            kind = candidate
            break
    return Target(
        cluster=_first(labels, _CLUSTER),
        namespace=_first(labels, _NAMESPACE),
        pod=_first(labels, _POD),
        container=_first(labels, _CONTAINER),
        workload=workload,
        workload_kind=kind,
    )


def label_fingerprint(labels: dict[str, str]) -> str:
    """A stable fingerprint from the label set, for senders that send none (as Alertmanager computes its own)."""
    canonical = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
