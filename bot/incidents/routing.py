"""Which environment an alert belongs to, and what to call its workload before the cluster says.

The alert's `cluster` label (or its OpenTelemetry equivalent) is matched against each environment's
`cluster_label`; with a single environment, it is the default. An alert that cannot be routed is kept and
reported, never dropped.
"""

from __future__ import annotations

import re

from bot.core.config import Config
from runbooks.alerts import Target

_DEPLOYMENT_POD = re.compile(r"^(?P<name>.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$")
_INDEXED_POD = re.compile(r"^(?P<name>.+)-\d+$")


class Unroutable(Exception):
    """An alert no environment claims, or that names no Kubernetes object."""


def route(config: Config, target: Target) -> str:
    """The environment name for an alert's target."""
    if not target.name:
        raise Unroutable("the alert names no pod or workload (labels pod/deployment or k8s.pod.name…)")
    if not target.namespace:
        raise Unroutable("the alert names no namespace (label namespace or k8s.namespace.name)")
    if target.cluster:
        for name, env in config.environments.items():
            if env.cluster_label == target.cluster:
                return name
    if len(config.environments) == 1:
        name, env = next(iter(config.environments.items()))
        if not (target.cluster and env.cluster_label and target.cluster != env.cluster_label):
            return name  # the only environment, unless the alert says it is from another cluster
    labels = ", ".join(f"{n}={e.cluster_label}" for n, e in config.environments.items() if e.cluster_label)
    raise Unroutable(f"cluster {target.cluster!r} matches no environment's cluster_label ({labels})")


def guess_workload(pod_or_workload: str) -> str:
    """The likely workload of a pod name (web-7c9d8f6b5-x2k4p → web, db-0 → db), used when triage failed."""
    for pattern in (_DEPLOYMENT_POD, _INDEXED_POD):
        m = pattern.match(pod_or_workload)
        if m:
            return m.group("name")
    return pod_or_workload
