"""Server-side printing: the `Table` kubectl asks for, with the columns `kubectl get` shows.

kubectl sends `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` and prints whatever columns the server
returns; without this it could only show NAME and AGE. Cells are computed like the apiserver's printers
(`pkg/printers/internalversion`): a pod's STATUS is `CrashLoopBackOff` or `Init:CrashLoopBackOff`, RESTARTS reads
`14 (3m ago)`. Wide-only columns carry priority 1, as upstream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .clock import human_duration, parse_rfc3339
from .resources import ResourceType
from .selectors import format_label_selector

JsonObj = dict[str, Any]
Column = tuple[str, str, int]  # name, type, priority
Row = Callable[[JsonObj, float], list[Any]]


def _age(obj: JsonObj, now: float) -> str:
    created = (obj.get("metadata") or {}).get("creationTimestamp")
    return human_duration(now - parse_rfc3339(created)) if created else "<unknown>"


def _since(ts: str | None, now: float) -> str:
    return human_duration(now - parse_rfc3339(ts)) if ts else "<unknown>"


def _name(obj: JsonObj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _containers(obj: JsonObj) -> tuple[str, str]:
    containers = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def _pod_reason(pod: JsonObj) -> tuple[str, bool]:
    """(STATUS column, still initializing) following printPod."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Pending"
    inits = (pod.get("spec") or {}).get("initContainers") or []
    for index, cs in enumerate(status.get("initContainerStatuses") or []):
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            return "Init:" + (terminated.get("reason") or f"ExitCode:{terminated.get('exitCode')}"), True
        if waiting and waiting.get("reason") and waiting.get("reason") != "PodInitializing":
            return "Init:" + waiting["reason"], True
        return f"Init:{index}/{len(inits)}", True
    for cs in reversed(status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    return str(reason), False


def _pod_restarts(pod: JsonObj, initializing: bool, now: float) -> str:
    status = pod.get("status") or {}
    statuses = status.get("initContainerStatuses") if initializing else status.get("containerStatuses")
    restarts, last = 0, None
    for cs in statuses or []:
        restarts += int(cs.get("restartCount") or 0)
        finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        if finished and (last is None or finished > last):
            last = finished
    return f"{restarts} ({_since(last, now)} ago)" if restarts and last else str(restarts)


def _pod_row(pod: JsonObj, now: float) -> list[Any]:
    status = pod.get("status") or {}
    reason, initializing = _pod_reason(pod)
    statuses = status.get("containerStatuses") or []
    ready = sum(1 for cs in statuses if cs.get("ready") and "running" in (cs.get("state") or {}))
    total = len((pod.get("spec") or {}).get("containers") or [])
    return [
        _name(pod),
        f"{ready}/{total}",
        reason,
        _pod_restarts(pod, initializing, now),
        _age(pod, now),
        status.get("podIP") or "<none>",
        (pod.get("spec") or {}).get("nodeName") or "<none>",
        "<none>",
        "<none>",
    ]


def _deployment_row(d: JsonObj, now: float) -> list[Any]:
    status, spec = d.get("status") or {}, d.get("spec") or {}
    names, images = _containers(d)
    return [
        _name(d),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(d, now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


def _replicaset_row(rs: JsonObj, now: float) -> list[Any]:
    status, spec = rs.get("status") or {}, rs.get("spec") or {}
    names, images = _containers(rs)
    return [
        _name(rs),
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _age(rs, now),
        names,
        images,
        format_label_selector(spec.get("selector")),
    ]


def _statefulset_row(sts: JsonObj, now: float) -> list[Any]:
    names, images = _containers(sts)
    ready = f"{(sts.get('status') or {}).get('readyReplicas', 0)}/{(sts.get('spec') or {}).get('replicas', 1)}"
    return [_name(sts), ready, _age(sts, now), names, images]


def _daemonset_row(ds: JsonObj, now: float) -> list[Any]:
    s = ds.get("status") or {}
    names, images = _containers(ds)
    node_selector = ((ds.get("spec") or {}).get("template") or {}).get("spec", {}).get("nodeSelector") or {}
    selector_text = ",".join(f"{k}={v}" for k, v in node_selector.items()) or "<none>"
    return [
        _name(ds),
        s.get("desiredNumberScheduled", 0),
        s.get("currentNumberScheduled", 0),
        s.get("numberReady", 0),
        s.get("updatedNumberScheduled", 0),
        s.get("numberAvailable", 0),
        selector_text,
        _age(ds, now),
        names,
        images,
        format_label_selector((ds.get("spec") or {}).get("selector")),
    ]


def _event_row(ev: JsonObj, now: float) -> list[Any]:
    involved, source = ev.get("involvedObject") or {}, ev.get("source") or {}
    last = ev.get("lastTimestamp") or ev.get("eventTime")
    first = ev.get("firstTimestamp") or ev.get("eventTime")
    source_text = ", ".join(v for v in (source.get("component"), source.get("host")) if v) or str(
        ev.get("reportingComponent", "")
    )
    obj = f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"
    return [
        _since(last, now),
        ev.get("type", ""),
        ev.get("reason", ""),
        obj,
        involved.get("fieldPath", ""),
        source_text,
        ev.get("message", ""),
        _since(first, now),
        str(ev.get("count", 1)),
        _name(ev),
    ]


def _secret_row(s: JsonObj, now: float) -> list[Any]:
    return [_name(s), s.get("type", "Opaque"), len(s.get("data") or {}), _age(s, now)]


def _service_row(s: JsonObj, now: float) -> list[Any]:
    spec = s.get("spec") or {}
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or []) or "<none>"
    selector = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()) or "<none>"
    return [
        _name(s),
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP", "<none>"),
        "<none>",
        ports,
        _age(s, now),
        selector,
    ]


_WORKLOAD_WIDE: list[Column] = [("Containers", "string", 1), ("Images", "string", 1), ("Selector", "string", 1)]
_PRINTERS: dict[str, tuple[list[Column], Row]] = {
    "pods": (
        [
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        _pod_row,
    ),
    "deployments": (
        [
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Up-to-date", "string", 0),
            ("Available", "string", 0),
            ("Age", "string", 0),
            *_WORKLOAD_WIDE,
        ],
        _deployment_row,
    ),
    "replicasets": (
        [
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Age", "string", 0),
            *_WORKLOAD_WIDE,
        ],
        _replicaset_row,
    ),
    "statefulsets": (
        [
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
        ],
        _statefulset_row,
    ),
    "daemonsets": (
        [
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Node Selector", "string", 0),
            ("Age", "string", 0),
            *_WORKLOAD_WIDE,
        ],
        _daemonset_row,
    ),
    "events": (
        [
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("Message", "string", 0),
            ("First Seen", "string", 1),
            ("Count", "string", 1),
            ("Name", "string", 1),
        ],
        _event_row,
    ),
    "secrets": (
        [("Name", "string", 0), ("Type", "string", 0), ("Data", "string", 0), ("Age", "string", 0)],
        _secret_row,
    ),
    "services": (
        [
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ],
        _service_row,
    ),
    "configmaps": (
        [("Name", "string", 0), ("Data", "string", 0), ("Age", "string", 0)],
        lambda o, now: [_name(o), len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o, now)],
    ),
    "namespaces": (
        [("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)],
        lambda o, now: [_name(o), (o.get("status") or {}).get("phase", "Active"), _age(o, now)],
    ),
    "serviceaccounts": (
        [("Name", "string", 0), ("Secrets", "string", 0), ("Age", "string", 0)],
        lambda o, now: [_name(o), len(o.get("secrets") or []), _age(o, now)],
    ),
    "leases": (
        [("Name", "string", 0), ("Holder", "string", 0), ("Age", "string", 0)],
        lambda o, now: [_name(o), (o.get("spec") or {}).get("holderIdentity", ""), _age(o, now)],
    ),
}
_DEFAULT: tuple[list[Column], Row] = (
    [("Name", "string", 0), ("Age", "string", 0)],
    lambda o, now: [_name(o), _age(o, now)],
)


def _row_object(obj: JsonObj, include: str) -> JsonObj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata") or {}}


def table(rt: ResourceType, objects: list[JsonObj], resource_version: str, now: float, include: str) -> JsonObj:
    columns, printer = _PRINTERS.get(rt.plural, _DEFAULT)
    definitions = [
        {"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n, "priority": p}
        for n, t, p in columns
    ]
    rows = []
    for obj in objects:
        row: JsonObj = {"cells": printer(obj, now)}
        embedded = _row_object(obj, include)
        if embedded is not None:
            row["object"] = embedded
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
