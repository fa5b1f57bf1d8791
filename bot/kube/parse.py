"""Kubernetes JSON → the runbook's evidence model.

Kept apart from `bot.kube.client` (which talks to the API) so the mapping of pod statuses, templates, events and
revisions can be read and tested on its own. Every free-text field that came from the cluster (waiting and
termination messages, event messages) is redacted here, before it becomes evidence.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from bot.core.redact import redact
from runbooks.model import (
    Change,
    ContainerSpec,
    ContainerStatus,
    EnvEndpoint,
    Event,
    Mount,
    ObjectRef,
    PodInfo,
    Probe,
    Revision,
    Rollout,
    Termination,
    Workload,
)
from runbooks.signals import signal_of

KubeObject = dict[str, Any]
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _meta(obj: KubeObject) -> KubeObject:
    return dict(obj.get("metadata") or {})


def selector_string(selector: KubeObject | None) -> str:
    """A LabelSelector (matchLabels + matchExpressions) as the `labelSelector` query string."""
    selector = selector or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


# --- specs ----------------------------------------------------------------------------------------------


def _probe(kind: str, raw: KubeObject) -> Probe:
    if "httpGet" in raw:
        h = raw["httpGet"]
        handler = f"httpGet :{h.get('port')}{h.get('path', '/')}"
    elif "tcpSocket" in raw:
        handler = f"tcpSocket :{raw['tcpSocket'].get('port')}"
    elif "exec" in raw:
        handler = "exec " + " ".join(raw["exec"].get("command") or [])
    elif "grpc" in raw:
        handler = f"grpc :{raw['grpc'].get('port')}"
    else:
        handler = "unknown"
    return Probe(
        kind=kind,
        handler=handler,
        initial_delay_seconds=int(raw.get("initialDelaySeconds", 0)),
        period_seconds=int(raw.get("periodSeconds", 10)),
        timeout_seconds=int(raw.get("timeoutSeconds", 1)),
        success_threshold=int(raw.get("successThreshold", 1)),
        failure_threshold=int(raw.get("failureThreshold", 3)),
        raw=raw,
    )


def _env_refs(container: KubeObject) -> list[ObjectRef]:
    refs: list[ObjectRef] = []
    for env in container.get("env") or []:
        source = env.get("valueFrom") or {}
        for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
            if key in source:
                ref = source[key]
                refs.append(
                    ObjectRef(kind, ref.get("name", ""), "env", env["name"], ref.get("key"), bool(ref.get("optional")))
                )
    for env_from in container.get("envFrom") or []:
        for key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
            if key in env_from:
                ref = env_from[key]
                refs.append(ObjectRef(kind, ref.get("name", ""), "envFrom", None, None, bool(ref.get("optional"))))
    return refs


def _volume_refs(pod_spec: KubeObject, container: KubeObject) -> list[ObjectRef]:
    mounted = {m.get("name") for m in container.get("volumeMounts") or []}
    refs: list[ObjectRef] = []
    for volume in pod_spec.get("volumes") or []:
        if volume.get("name") not in mounted:
            continue
        sources = [volume] + [s for s in (volume.get("projected") or {}).get("sources") or []]
        for src in sources:
            if "secret" in src:
                s = src["secret"]
                refs.append(
                    ObjectRef(
                        "Secret", s.get("secretName") or s.get("name", ""), "volume", optional=bool(s.get("optional"))
                    )
                )
            if "configMap" in src:
                c = src["configMap"]
                refs.append(ObjectRef("ConfigMap", c.get("name", ""), "volume", optional=bool(c.get("optional"))))
    return refs


def _env_source(env: KubeObject) -> str:
    """Where an env var's value comes from; a literal is reduced to a digest so changes show, values do not."""
    source = env.get("valueFrom")
    if not source:
        digest = hashlib.sha256(str(env.get("value", "")).encode()).hexdigest()[:8]
        return f"literal#{digest}"
    for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
        if key in source:
            return f"{kind} {source[key].get('name')}/{source[key].get('key')}"
    return "fieldRef" if "fieldRef" in source else "resourceFieldRef" if "resourceFieldRef" in source else "other"


_URL = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?:(?P<user>[^:@/\s]*)(?::[^@\s]*)?@)?(?P<host>[\w.-]+)(?::(?P<port>\d+))?"
)
_HOST_PORT = re.compile(r"^(?P<host>[a-z0-9][\w.-]*):(?P<port>\d{2,5})(?:,|/|$)", re.IGNORECASE)


def env_endpoint(env: KubeObject) -> EnvEndpoint | None:
    """The dependency a literal env value points at (`zookeeper:2181`, `redis://user:…@host:6379/0`); the password
    of a URL is never kept. None for anything else, including every value from a Secret."""
    value = env.get("value")
    if not isinstance(value, str) or env.get("valueFrom"):
        return None
    m = _URL.match(value.strip()) or _HOST_PORT.match(value.strip())
    if m is None:
        return None
    groups = m.groupdict()
    port = int(groups["port"]) if groups.get("port") else None
    return EnvEndpoint(env["name"], groups["host"], port, groups.get("scheme"), groups.get("user") or None)


def container_specs(pod_spec: KubeObject) -> tuple[ContainerSpec, ...]:
    """The init and regular containers of a pod template, with their refs and probes."""
    specs: list[ContainerSpec] = []
    for init, key in ((True, "initContainers"), (False, "containers")):
        for c in pod_spec.get(key) or []:
            resources = c.get("resources") or {}
            probes = {
                kind: _probe(kind, c[f"{kind}Probe"])
                for kind in ("liveness", "readiness", "startup")
                if c.get(f"{kind}Probe")
            }
            specs.append(
                ContainerSpec(
                    name=c["name"],
                    image=c.get("image", ""),
                    init=init,
                    command=tuple(redact(x) for x in c.get("command") or []),
                    args=tuple(redact(x) for x in c.get("args") or []),
                    requests={k: str(v) for k, v in (resources.get("requests") or {}).items()},
                    limits={k: str(v) for k, v in (resources.get("limits") or {}).items()},
                    probes=probes,
                    env_names=tuple(e["name"] for e in c.get("env") or []),
                    env_sources={e["name"]: _env_source(e) for e in c.get("env") or []},
                    refs=tuple(_env_refs(c) + _volume_refs(pod_spec, c)),
                    endpoints=tuple(p for e in c.get("env") or [] if (p := env_endpoint(e)) is not None),
                    read_only_root=bool((c.get("securityContext") or {}).get("readOnlyRootFilesystem")),
                )
            )
    return tuple(specs)


def parse_workload(kind: str, obj: KubeObject) -> Workload:
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    if kind == "Pod":
        pod_spec = spec
    replicas = spec.get("replicas") if kind != "DaemonSet" else status.get("desiredNumberScheduled")
    ready = status.get("readyReplicas") if kind != "DaemonSet" else status.get("numberReady")
    return Workload(
        kind=kind,
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        uid=meta.get("uid"),
        resource_version=meta.get("resourceVersion"),
        generation=meta.get("generation"),
        replicas=replicas,
        ready_replicas=ready or 0,
        selector=dict((spec.get("selector") or {}).get("matchLabels") or {}),
        service_account=pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount") or "default",
        containers=container_specs(pod_spec),
        mounts=mounts(pod_spec, spec.get("volumeClaimTemplates") or []),
    )


def mounts(pod_spec: KubeObject, claim_templates: list[KubeObject]) -> tuple[Mount, ...]:
    """Every volume mount of every container, with what backs it and, for a claim, its requested size."""
    sizes = {
        _meta(t).get("name", ""): (((t.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
        for t in claim_templates
    }
    volumes = {v.get("name", ""): v for v in pod_spec.get("volumes") or []}
    found: list[Mount] = []
    for key in ("initContainers", "containers"):
        for c in pod_spec.get(key) or []:
            for m in c.get("volumeMounts") or []:
                name = m.get("name", "")
                source, claim = _volume_source(volumes.get(name), name in sizes)
                claim = claim or (name if name in sizes else None)
                found.append(
                    Mount(
                        c["name"],
                        name,
                        m.get("mountPath", ""),
                        bool(m.get("readOnly")),
                        source,
                        claim,
                        str(sizes[name]) if sizes.get(name) else None,
                    )
                )
    return tuple(found)


def _volume_source(volume: KubeObject | None, templated: bool) -> tuple[str, str | None]:
    if volume is None:
        return ("volumeClaimTemplate" if templated else "unknown volume"), None
    claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
    if claim:
        return f"persistentVolumeClaim {claim}", str(claim)
    kind = next((k for k in volume if k != "name"), "volume")
    detail = (volume.get(kind) or {}) if isinstance(volume.get(kind), dict) else {}
    extra = detail.get("path") or detail.get("name") or detail.get("secretName") or detail.get("medium") or ""
    return f"{kind} {extra}".strip(), None


# --- pods -----------------------------------------------------------------------------------------------


def _termination(raw: KubeObject | None) -> Termination | None:
    if not raw:
        return None
    code = raw.get("exitCode")
    return Termination(
        reason=raw.get("reason"),
        exit_code=code,
        signal=raw.get("signal") or signal_of(code),
        message=redact(raw["message"]) if raw.get("message") else None,
        started_at=parse_time(raw.get("startedAt")),
        finished_at=parse_time(raw.get("finishedAt")),
    )


def _container_status(raw: KubeObject, init: bool) -> ContainerStatus:
    state = raw.get("state") or {}
    waiting = state.get("waiting") or {}
    running = state.get("running") or {}
    return ContainerStatus(
        name=raw["name"],
        image=raw.get("image", ""),
        init=init,
        ready=bool(raw.get("ready")),
        started=raw.get("started"),
        restart_count=int(raw.get("restartCount", 0)),
        running_since=parse_time(running.get("startedAt")),
        waiting_reason=waiting.get("reason"),
        waiting_message=redact(waiting["message"]) if waiting.get("message") else None,
        terminated=_termination(state.get("terminated")),
        last_termination=_termination((raw.get("lastState") or {}).get("terminated")),
    )


def _init_done(c: ContainerStatus) -> bool:
    """An init container that completed (whatever it took to get there) is no longer part of the problem."""
    return c.init and c.terminated is not None and c.terminated.exit_code == 0


def parse_pod(obj: KubeObject, revision_of: dict[str, str] | None = None) -> PodInfo:
    """A pod with its troubled containers (init containers included; fine sidecars and done inits left out)."""
    meta, spec, status = _meta(obj), obj.get("spec") or {}, obj.get("status") or {}
    statuses = [_container_status(c, True) for c in status.get("initContainerStatuses") or []]
    statuses += [_container_status(c, False) for c in status.get("containerStatuses") or []]
    kept = tuple(c for c in statuses if not _init_done(c) and (c.is_troubled or not c.ready))
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    labels = meta.get("labels") or {}
    return PodInfo(
        name=meta.get("name", ""),
        phase=status.get("phase", "Unknown"),
        node=spec.get("nodeName"),
        created=parse_time(meta.get("creationTimestamp")),
        revision=_pod_revision(meta, labels, revision_of or {}),
        containers=kept,
        ready=conditions.get("Ready") == "True",
    )


def _pod_revision(meta: KubeObject, labels: dict[str, str], revision_of: dict[str, str]) -> str | None:
    """The name of the ReplicaSet / ControllerRevision the pod came from."""
    owners = meta.get("ownerReferences") or []
    if "controller-revision-hash" in labels:
        value = labels["controller-revision-hash"]
        for owner in owners:  # DaemonSets label the bare hash; their ControllerRevision is named <ds>-<hash>
            name = str(owner.get("name"))
            if owner.get("kind") in ("DaemonSet", "StatefulSet") and not value.startswith(f"{name}-"):
                return f"{name}-{value}"
        return value
    for owner in owners:
        if owner.get("kind") == "ReplicaSet":
            return str(owner.get("name"))
    return revision_of.get(labels.get("pod-template-hash", ""))


def owner(obj: KubeObject) -> tuple[str, str] | None:
    """(kind, name) of the controlling owner, if any."""
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("kind")), str(ref.get("name"))
    return None


def owned_by(obj: KubeObject, uid: str | None, name: str) -> bool:
    refs = _meta(obj).get("ownerReferences") or []
    return any(r.get("uid") == uid if uid and r.get("uid") else r.get("name") == name for r in refs)


# --- events ---------------------------------------------------------------------------------------------


def parse_event(obj: KubeObject) -> Event:
    meta = _meta(obj)
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    series = obj.get("series") or {}
    first = parse_time(obj.get("firstTimestamp") or obj.get("eventTime") or meta.get("creationTimestamp"))
    last = parse_time(obj.get("lastTimestamp") or series.get("lastObservedTime") or obj.get("eventTime")) or first
    return Event(
        type=obj.get("type", "Normal"),
        reason=obj.get("reason", ""),
        message=redact(obj.get("message") or obj.get("note") or ""),
        count=int(obj.get("count") or series.get("count") or 1),
        first_seen=first,
        last_seen=last,
        object_kind=involved.get("kind", ""),
        object_name=involved.get("name", ""),
    )


def sort_events(events: list[Event]) -> tuple[Event, ...]:
    """Oldest first, by when each was last seen (what `--sort-by=.lastTimestamp` shows)."""
    floor = datetime.min.replace(tzinfo=None)
    return tuple(sorted(events, key=lambda e: (e.last_seen or e.first_seen or floor).replace(tzinfo=None)))


# --- rollout history ------------------------------------------------------------------------------------


def _revision(number: int, name: str, created: str | None, pod_spec: KubeObject) -> Revision:
    specs = container_specs(pod_spec)
    return Revision(
        number=number,
        name=name,
        created=parse_time(created),
        images={c.name: c.image for c in specs},
        containers=specs,
        service_account=pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount") or "default",
    )


def rollout_from_replicasets(workload: KubeObject, replicasets: list[KubeObject]) -> Rollout:
    meta = _meta(workload)
    owned = [rs for rs in replicasets if owned_by(rs, meta.get("uid"), meta.get("name", ""))]
    revisions = []
    for rs in owned:
        rs_meta = _meta(rs)
        number = int((rs_meta.get("annotations") or {}).get(REVISION_ANNOTATION, 0))
        pod_spec = ((rs.get("spec") or {}).get("template") or {}).get("spec") or {}
        revisions.append(_revision(number, rs_meta.get("name", ""), rs_meta.get("creationTimestamp"), pod_spec))
    return _rollout(sorted(revisions, key=lambda r: r.number))


def rollout_from_controller_revisions(workload: KubeObject, revisions_raw: list[KubeObject]) -> Rollout:
    meta = _meta(workload)
    owned = [cr for cr in revisions_raw if owned_by(cr, meta.get("uid"), meta.get("name", ""))]
    revisions = []
    for cr in owned:
        cr_meta = _meta(cr)
        pod_spec = (((cr.get("data") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
        revisions.append(
            _revision(int(cr.get("revision", 0)), cr_meta.get("name", ""), cr_meta.get("creationTimestamp"), pod_spec)
        )
    return _rollout(sorted(revisions, key=lambda r: r.number))


def _rollout(revisions: list[Revision]) -> Rollout:
    current = revisions[-1] if revisions else None
    previous = revisions[-2] if len(revisions) > 1 else None
    changes = diff_revisions(previous, current) if previous and current else ()
    return Rollout(tuple(revisions), current, previous, changes)


def diff_revisions(before: Revision, after: Revision) -> tuple[Change, ...]:
    """What the current revision changed: image, env (names only), resources, probes, command, service account."""
    changes: list[Change] = []
    old = {c.name: c for c in before.containers}
    for c in after.containers:
        prev = old.get(c.name)
        if prev is None:
            changes.append(Change(c.name, "container", "absent", "added"))
            continue
        changes.extend(_diff_container(prev, c))
    for name in old.keys() - {c.name for c in after.containers}:
        changes.append(Change(name, "container", "present", "removed"))
    if before.service_account != after.service_account:
        changes.append(Change(None, "serviceAccount", str(before.service_account), str(after.service_account)))
    return tuple(changes)


def _diff_container(a: ContainerSpec, b: ContainerSpec) -> list[Change]:
    out: list[Change] = []
    if a.image != b.image:
        out.append(Change(b.name, "image", a.image, b.image))
    for name in sorted(set(a.env_sources) | set(b.env_sources)):
        before, after = a.env_sources.get(name), b.env_sources.get(name)
        if before != after:
            out.append(Change(b.name, f"env {name}", _env_text(before), _env_text(after, before)))
    for kind in ("requests", "limits"):
        va, vb = getattr(a, kind), getattr(b, kind)
        for key in sorted(set(va) | set(vb)):
            if va.get(key) != vb.get(key):
                out.append(Change(b.name, f"{kind}.{key}", va.get(key, "unset"), vb.get(key, "unset")))
    for kind in sorted(set(a.probes) | set(b.probes)):
        pa, pb = a.probes.get(kind), b.probes.get(kind)
        if (pa.raw if pa else None) != (pb.raw if pb else None):
            out.append(Change(b.name, f"{kind}Probe", _probe_text(pa), _probe_text(pb)))
    if (a.command, a.args) != (b.command, b.args):
        out.append(Change(b.name, "command", " ".join(a.command + a.args), " ".join(b.command + b.args)))
    return out


def _env_text(source: str | None, other: str | None = None) -> str:
    if source is None:
        return "unset"
    if source.startswith("literal#"):
        return "a different literal value" if other and other.startswith("literal#") else "a literal value"
    return source


def _probe_text(p: Probe | None) -> str:
    if p is None:
        return "none"
    return f"{p.handler} delay={p.initial_delay_seconds}s timeout={p.timeout_seconds}s failures={p.failure_threshold}"
