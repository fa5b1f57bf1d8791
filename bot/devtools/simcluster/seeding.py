"""Seeding a cluster from scenarios: base objects, then each workload's history replayed at the time it happened.

The sim starts with namespaces `default`, `shop` and `payments` (each with its `default` ServiceAccount), two
nodes, and each scenario's objects. A workload is created as its oldest revision was, at that revision's age, and
every later revision is applied at its own age, so ReplicaSets, ControllerRevisions, pods and their ages come out
of the real controllers. Finally the kubelet makes the pods existing at sim start look as the scenario says
(restart counts, last termination, events).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .admission import prepare_create
from .api import ClusterApi
from .kubelet import NODES, Profile
from .netcheck import ip_in_logs
from .patching import strategic_merge
from .pods import create_pod
from .resources import ResourceType
from .runtime import WorkloadRef
from .scenarios import Scenario
from .store import clone, meta

JsonObj = dict[str, Any]

BASE_NAMESPACES = ("default", "kube-system", "shop", "payments")
CLUSTER_AGE = 90 * 86400.0
CHANGE_CAUSE = "kubernetes.io/change-cause"


def _create(api: ClusterApi, rt: ResourceType, obj: JsonObj) -> JsonObj:
    prepared = prepare_create(api.ctx, rt, obj)
    return api.create_object(rt, prepared)


def _base(api: ClusterApi, namespaces: set[str]) -> None:
    ctx = api.ctx
    with ctx.clock.pinned(ctx.clock.started - CLUSTER_AGE):
        for node in NODES:
            ctx.store.insert(ctx.type("", "nodes"), _node(node.name, node.ip, node.pod_prefix))
        for name in sorted(namespaces):
            _create(api, ctx.type("", "namespaces"), {"metadata": {"name": name}})


def _node(name: str, ip: str, prefix: str) -> JsonObj:
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    ready = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}
    info = {
        "kubeletVersion": "v1.32.3",
        "containerRuntimeVersion": "containerd://1.7.24",
        "osImage": "Ubuntu 22.04.5 LTS",
        "kernelVersion": "5.15.0-131-generic",
        "operatingSystem": "linux",
        "architecture": "amd64",
    }
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"podCIDR": f"{prefix}.0/24"},
        "status": {
            "conditions": [ready],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "capacity": {"cpu": "4", "memory": "16372536Ki", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "16270136Ki", "pods": "110"},
            "nodeInfo": info,
        },
    }


def _object_type(api: ClusterApi, obj: JsonObj) -> ResourceType:
    rt = api.ctx.registry.by_kind(str(obj.get("apiVersion", "v1")), str(obj.get("kind")))
    if rt is None:
        raise ValueError(f"scenario object of unserved kind {obj.get('apiVersion')}/{obj.get('kind')}")
    return rt


def _revisions(scenario: Scenario) -> list[tuple[int, float, JsonObj, str | None]]:
    """(number, age, manifest, change cause) oldest first; older templates are patches of the current one."""
    current = clone(scenario.manifest)
    result = []
    for rev in scenario.history:
        manifest = clone(current)
        manifest["spec"]["template"] = strategic_merge(current["spec"]["template"], rev.template_patch)
        result.append((rev.number, rev.age, manifest, rev.change_cause))
    result.append((scenario.revision, scenario.age, current, scenario.change_cause))
    return sorted(result, key=lambda r: -r[1])


def _replay(api: ClusterApi, scenario: Scenario) -> None:
    ctx = api.ctx
    rt = _object_type(api, scenario.manifest)
    for index, (number, age, manifest, cause) in enumerate(_revisions(scenario)):
        if cause:
            meta(manifest).setdefault("annotations", {})[CHANGE_CAUSE] = cause
        with ctx.clock.pinned(ctx.clock.started - age):
            if index == 0 and scenario.kind == "Pod":  # a bare pod: nothing creates it but the scenario
                create_pod(ctx, manifest)
                continue
            if index == 0:
                stored = ctx.store.insert(rt, prepare_create(ctx, rt, manifest))
            else:
                old = ctx.store.get(rt, scenario.namespace, scenario.workload_name)
                assert old is not None
                old["spec"]["template"] = prepare_create(ctx, rt, manifest)["spec"]["template"]
                annotations = meta(old).setdefault("annotations", {})
                annotations.pop(CHANGE_CAUSE, None)
                annotations.update({k: v for k, v in (meta(manifest).get("annotations") or {}).items()})
                stored = ctx.save(rt, old)
            api.controllers.sync(rt, stored, revision=number)


def _failure_onsets(api: ClusterApi, scenarios: Sequence[Scenario]) -> None:
    """Failures that began after the workload was rolled out start at their `failing_since`."""
    onsets = sorted({(f.failing_since, s.namespace) for s in scenarios for f in s.failures if f.failing_since})
    for since, namespace in sorted(onsets, key=lambda o: -o[0]):
        with api.ctx.clock.pinned(api.ctx.clock.started - since):
            api.controllers.refresh(namespace)


def _log_texts(scenario: Scenario) -> list[str]:
    texts = [*scenario.healthy_logs.values()]
    for failure in scenario.failures:
        texts += [failure.logs_previous, failure.logs_current or "", *(e.message for e in failure.events)]
        texts.append(failure.last_termination.message if failure.last_termination else "")
    return texts


def _dependency_ips(scenario: Scenario) -> dict[str, str]:
    """The IP the scenario's logs print for each dependency host (what a netcheck pod resolves it to)."""
    hosts = {target.rpartition(":")[0] for target in scenario.dependencies if ":" in target}
    found = {host: ip_in_logs(host, _log_texts(scenario)) for host in sorted(hosts)}
    return {host: ip for host, ip in found.items() if ip}


def seed_cluster(api: ClusterApi, scenarios: Sequence[Scenario]) -> None:
    ctx = api.ctx
    with api.lock:
        _base(api, {*BASE_NAMESPACES, *(s.namespace for s in scenarios)})
        ctx.kubelet.replaying = True
        for scenario in scenarios:
            ctx.kubelet.facts.dependencies.update(scenario.dependencies)
            ctx.kubelet.facts.host_ips.update(_dependency_ips(scenario))
            ref = WorkloadRef(scenario.namespace, scenario.kind, scenario.workload_name)
            ctx.kubelet.register(ref, Profile(scenario.failures, scenario.healthy_logs))
            oldest = max([scenario.age, *(r.age for r in scenario.history)])
            with ctx.clock.pinned(ctx.clock.started - oldest - 3600):
                for obj in scenario.objects:
                    copied = clone(obj)
                    meta(copied).setdefault("namespace", scenario.namespace)
                    _create(api, _object_type(api, copied), copied)
        for scenario in sorted(scenarios, key=lambda s: -max([s.age, *(r.age for r in s.history)])):
            _replay(api, scenario)
        _failure_onsets(api, scenarios)
        ctx.kubelet.replaying = False
        ctx.kubelet.seed(ctx.store.list(ctx.type("", "pods")))
        api.controllers.refresh()
