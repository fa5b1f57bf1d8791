"""Runbook remedies as the exact patches `kubectl` would send, planned from the live objects and nothing else.

`runbooks` proposes a remedy (`bump_memory`, `set_env`, `rollout_undo`…) with parameters; applying it is a
Kubernetes patch of the workload. This module turns a remedy, its params and the workload's JSON (plus its
ReplicaSets or ControllerRevisions for a rollback) into a `PatchPlan`: the patch type, the body and one human
line. Keeping it pure — no I/O, no kubernetes client — means every remedy can be checked with tables of JSON, the
same plan can be sent once with `dryRun=All` and once for real, and `template_diff` can show a responder exactly
what will change (literal env values masked) before anything does.

Strategic-merge patches name containers and env vars by their merge key (`name`) so they merge into the live
lists and touch nothing else; `rollout_undo` sends the JSON patch `kubectl rollout undo` sends. The `netcheck`
remedy is not a patch: `netcheck_pod` builds a throwaway, locked-down busybox Pod that checks DNS and TCP to the
dependency and prints lines `parse_netcheck_log` reads back.
"""

from __future__ import annotations

import copy
import difflib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import yaml

from bot.kube.parse import REVISION_ANNOTATION, owned_by
from runbooks.model import RemedyId
from runbooks.quantity import QuantityError, parse_bytes

JsonObj = dict[str, Any]
PatchType = Literal["strategic", "json", "merge"]

CONTENT_TYPES: dict[str, str] = {
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
MASK = "••••"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
POD_TEMPLATE_HASH = "pod-template-hash"
NETCHECK_IMAGE = "busybox:1.36"
MANAGED_BY = "crashloop-bot"

# Deployment annotations `kubectl rollout undo` keeps from the deployment instead of copying from the ReplicaSet.
_UNDO_KEEP_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
_PROBE_FIELDS = {"startup": "startupProbe", "liveness": "livenessProbe", "readiness": "readinessProbe"}
_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_PROBE_MINIMUMS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 1,
    "timeoutSeconds": 1,
    "failureThreshold": 1,
    "successThreshold": 1,
    "terminationGracePeriodSeconds": 1,
}
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class PlanError(ValueError):
    """A remedy that cannot apply to this workload; the message says why."""


@dataclass(frozen=True)
class PatchPlan:
    """A patch to send to the workload: its type, body and a one-line summary for humans."""

    patch_type: PatchType
    body: JsonObj | list[JsonObj]
    summary: str

    @property
    def content_type(self) -> str:
        """The Content-Type header the patch is sent with."""
        return CONTENT_TYPES[self.patch_type]


@dataclass(frozen=True)
class NetcheckResult:
    """What a netcheck Pod printed: DNS, the address found, TCP (None: not reported, e.g. no port), all lines."""

    dns_ok: bool | None
    address: str | None
    tcp_ok: bool | None
    lines: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Request:
    params: JsonObj
    workload: JsonObj
    history: list[JsonObj]
    now: datetime | None

    @property
    def kind(self) -> str:
        return str(self.workload.get("kind", ""))

    @property
    def template(self) -> JsonObj:
        template = (self.workload.get("spec") or {}).get("template")
        if not isinstance(template, dict):
            raise PlanError(f"{self.kind} {_name(self.workload)} has no spec.template")
        return template

    @property
    def pod_spec(self) -> JsonObj:
        return dict(self.template.get("spec") or {})


# --- the planner --------------------------------------------------------------------------------------------


def plan(
    remedy: str,
    params: dict[str, Any],
    workload: dict[str, Any],
    history: list[dict[str, Any]] | None = None,
    *,
    now: datetime | None = None,
) -> PatchPlan:
    """The patch that applies `remedy` with `params` to `workload` (a Deployment, StatefulSet or DaemonSet JSON).

    `history` is the workload's ReplicaSets (Deployment) or ControllerRevisions (StatefulSet, DaemonSet), needed by
    `rollout_undo` only; `now` stamps `rollout_restart`. Raises PlanError when the remedy cannot apply.
    """
    try:
        remedy_id = RemedyId(remedy)
    except ValueError:
        raise PlanError(f"unknown remedy {remedy!r}; known: {', '.join(r.value for r in RemedyId)}") from None
    if remedy_id is RemedyId.NETCHECK:
        raise PlanError("netcheck is not a patch: run the Pod that netcheck_pod() builds and read its log")
    kind = workload.get("kind")
    if kind not in WORKLOAD_KINDS:
        raise PlanError(f"cannot patch a {kind or 'object without kind'}: only {', '.join(WORKLOAD_KINDS)}")
    if not isinstance(params, dict):
        raise PlanError(f"{remedy}: params must be a mapping")
    return _PLANNERS[remedy_id](_Request(params, workload, list(history or []), now))


# --- bump_memory --------------------------------------------------------------------------------------------


def _bump_memory(req: _Request) -> PatchPlan:
    list_field, container = _container(req, _text(req.params, "container"))
    to = _quantity(req.params, "to")
    request_to = _quantity(req.params, "request_to") if req.params.get("request_to") is not None else None
    resources = container.get("resources") or {}
    limit_now = (resources.get("limits") or {}).get("memory")
    request_now = (resources.get("requests") or {}).get("memory")
    if limit_now is not None:
        now_bytes, to_bytes = _bytes(str(limit_now), "the current memory limit"), _bytes(to, "to")
        shrink = str(req.params.get("shrink", "")).lower() in ("yes", "true", "1")
        if now_bytes == to_bytes or (now_bytes > to_bytes and not shrink):
            raise PlanError(f"{container['name']}: memory limit is already {limit_now}, not below {to}")
    request = request_to or request_now
    if request is not None and _bytes(str(request), "the memory request") > _bytes(to, "to"):
        raise PlanError(
            f"{container['name']}: memory request {request} would be above the new limit {to}; give request_to"
        )
    fragment: JsonObj = {"limits": {"memory": to}}
    summary = f"{container['name']}: memory limit {limit_now or 'none'} → {to}"
    if request_to is not None:
        fragment["requests"] = {"memory": request_to}
        summary += f", request {request_now or 'none'} → {request_to}"
    return _strategic(_container_patch(list_field, container["name"], {"resources": fragment}), summary)


def _quantity(params: JsonObj, key: str) -> str:
    value = _text(params, key)
    _bytes(value, key)
    return value


def _bytes(quantity: str, what: str) -> int:
    try:
        return parse_bytes(quantity)
    except QuantityError as exc:
        raise PlanError(f"{what}: {exc}") from None


# --- patch_probes -------------------------------------------------------------------------------------------


def _patch_probes(req: _Request) -> PatchPlan:
    list_field, container = _container(req, _text(req.params, "container"))
    probes = req.params.get("probes")
    if not isinstance(probes, dict) or not probes:
        raise PlanError("patch_probes: probes must map startup/liveness/readiness to settings")
    fragment: JsonObj = {}
    parts: list[str] = []
    for kind, settings in probes.items():
        probe_field = _probe_field(str(kind))
        change, part = _probe_change(container, probe_field, settings)
        if change is not None:
            fragment[probe_field] = change
            parts.append(part)
    if not fragment:
        raise PlanError(f"{container['name']}: the probes already have these settings")
    summary = f"{container['name']}: " + "; ".join(parts)
    return _strategic(_container_patch(list_field, container["name"], fragment), summary)


def _probe_field(kind: str) -> str:
    if kind in _PROBE_FIELDS:
        return _PROBE_FIELDS[kind]
    if kind in _PROBE_FIELDS.values():
        return kind
    raise PlanError(f"unknown probe {kind!r}: use startup, liveness or readiness")


def _probe_change(container: JsonObj, probe_field: str, settings: Any) -> tuple[JsonObj | None, str]:
    """The strategic-merge fragment for one probe (None when nothing changes) and its summary."""
    if not isinstance(settings, dict) or not settings:
        raise PlanError(f"{probe_field}: settings must be a non-empty mapping")
    _check_probe_settings(probe_field, settings)
    handlers = [h for h in _PROBE_HANDLERS if h in settings]
    existing = container.get(probe_field)
    if not isinstance(existing, dict):
        if len(handlers) != 1:
            raise PlanError(
                f"{container['name']} has no {probe_field}: adding one needs exactly one handler "
                f"({'/'.join(_PROBE_HANDLERS)})"
            )
        return copy.deepcopy(settings), f"add {probe_field} {_handler_text(settings)} {_settings_text(settings)}"
    if len(handlers) > 1:
        raise PlanError(f"{probe_field}: a probe has one handler, got {', '.join(handlers)}")
    change = {k: copy.deepcopy(v) for k, v in settings.items() if existing.get(k) != v}
    if not change:
        return None, ""
    if handlers:  # a new handler replaces the old one: a probe with two handlers is invalid
        change.update({h: None for h in _PROBE_HANDLERS if h in existing and h != handlers[0]})
    changed = ", ".join(_setting_change(k, existing.get(k), v) for k, v in settings.items() if k in change)
    return change, f"{probe_field} {changed}"


def _check_probe_settings(probe_field: str, settings: JsonObj) -> None:
    for key, minimum in _PROBE_MINIMUMS.items():
        value = settings.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
            raise PlanError(f"{probe_field}.{key} must be an integer ≥ {minimum}, got {value!r}")


def _handler_text(probe: JsonObj) -> str:
    if isinstance(probe.get("httpGet"), dict):
        return f"httpGet :{probe['httpGet'].get('port')}{probe['httpGet'].get('path', '/')}"
    if isinstance(probe.get("tcpSocket"), dict):
        return f"tcpSocket :{probe['tcpSocket'].get('port')}"
    if isinstance(probe.get("grpc"), dict):
        return f"grpc :{probe['grpc'].get('port')}"
    command = (probe.get("exec") or {}).get("command") or []
    return "exec " + " ".join(str(c) for c in command)


def _settings_text(settings: JsonObj) -> str:
    return ", ".join(f"{k} {v}" for k, v in settings.items() if k not in _PROBE_HANDLERS)


def _setting_change(key: str, before: Any, after: Any) -> str:
    if key in _PROBE_HANDLERS:
        return f"handler → {_handler_text({key: after})}"
    return f"{key} {before if before is not None else 'unset'} → {after}"


# --- set_env ------------------------------------------------------------------------------------------------


def _set_env(req: _Request) -> PatchPlan:
    list_field, container = _container(req, _text(req.params, "container"))
    name = _text(req.params, "name")
    if not _ENV_NAME.match(name):
        raise PlanError(f"{name!r} is not a valid environment variable name")
    wanted, source = _env_entry(name, req.params)
    existing = next((e for e in container.get("env") or [] if e.get("name") == name), None)
    if existing == wanted:
        raise PlanError(f"{container['name']}: env {name} is already set {source}")
    entry = _replacing(existing, wanted) if existing is not None else wanted
    summary = f"{container['name']}: set env {name} {source}"
    if existing is not None:
        summary += f" (replaces {_env_source_text(existing)})"
    return _strategic(_container_patch(list_field, container["name"], {"env": [entry]}), summary)


def _env_entry(name: str, params: JsonObj) -> tuple[JsonObj, str]:
    """The env var to set, and where its value comes from in words (never the literal value)."""
    given = [k for k in ("value", "secret", "configmap") if params.get(k) is not None]
    if len(given) != 1:
        found = ", ".join(given) or "none"
        raise PlanError(f"set_env needs exactly one of value, secret, configmap (got {found})")
    if given[0] == "value":
        if not isinstance(params["value"], str):
            raise PlanError("set_env: value must be a string")
        return {"name": name, "value": params["value"]}, "to a literal value"
    ref_key, kind = ("secretKeyRef", "Secret") if given[0] == "secret" else ("configMapKeyRef", "ConfigMap")
    ref = _object_key(params[given[0]], given[0])
    return {"name": name, "valueFrom": {ref_key: ref}}, f"from {kind} {ref['name']}/{ref['key']}"


def _object_key(raw: Any, what: str) -> JsonObj:
    if not isinstance(raw, dict):
        raise PlanError(f"set_env: {what} must be {{name, key}}")
    name, key = _text(raw, "name", what), _text(raw, "key", what)
    if not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
        raise PlanError(f"set_env: {name!r} is not a valid {what} name")
    if not _KEY.match(key):
        raise PlanError(f"set_env: {key!r} is not a valid {what} key")
    return {"name": name, "key": key}


def _env_source_text(env: JsonObj) -> str:
    source = env.get("valueFrom") or {}
    for ref_key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
        if isinstance(source.get(ref_key), dict):
            return f"{kind} {source[ref_key].get('name')}/{source[ref_key].get('key')}"
    if source:
        return "a " + ", ".join(sorted(source)) + " source"
    return "a literal value"


def _replacing(existing: Any, wanted: Any) -> Any:
    """A strategic-merge fragment that turns `existing` into exactly `wanted`: keys it drops are set to null."""
    if not isinstance(existing, dict) or not isinstance(wanted, dict):
        return copy.deepcopy(wanted)
    fragment = {k: _replacing(existing.get(k), v) for k, v in wanted.items()}
    fragment.update({k: None for k in existing if k not in wanted})
    return fragment


# --- set_image, service_account, rollout_restart ----------------------------------------------------------------


def _set_image(req: _Request) -> PatchPlan:
    list_field, container = _container(req, _text(req.params, "container"))
    image = _text(req.params, "image")
    if any(ch.isspace() for ch in image):
        raise PlanError(f"{image!r} is not an image reference")
    if container.get("image") == image:
        raise PlanError(f"{container['name']}: image is already {image}")
    summary = f"{container['name']}: image {container.get('image')} → {image}"
    return _strategic(_container_patch(list_field, container["name"], {"image": image}), summary)


def _service_account(req: _Request) -> PatchPlan:
    account = _text(req.params, "service_account")
    if not _DNS_SUBDOMAIN.match(account) or len(account) > 253:
        raise PlanError(f"{account!r} is not a valid ServiceAccount name")
    spec = req.pod_spec
    current = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    if current == account:
        raise PlanError(f"{_name(req.workload)} already runs as service account {account}")
    fragment: JsonObj = {"serviceAccountName": account}
    if "serviceAccount" in spec:  # the deprecated alias must not contradict the new name
        fragment["serviceAccount"] = account
    return _strategic({"spec": {"template": {"spec": fragment}}}, f"serviceAccountName {current} → {account}")


def _rollout_restart(req: _Request) -> PatchPlan:
    if req.kind == "Deployment" and (req.workload.get("spec") or {}).get("paused"):
        raise PlanError(f"deployment {_name(req.workload)} is paused: resume it before restarting")
    stamp = _rfc3339(req.now or datetime.now(UTC))
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    return _strategic(body, f"restart all pods of {req.kind} {_name(req.workload)} (restartedAt {stamp})")


def _rfc3339(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --- rollout_undo ---------------------------------------------------------------------------------------------


def _rollout_undo(req: _Request) -> PatchPlan:
    wanted = _revision_param(req.params.get("to_revision"))
    if req.kind == "Deployment":
        return _undo_deployment(req, wanted)
    return _undo_controller_revision(req, wanted)


def _revision_param(raw: Any) -> int | None:
    if raw is None or raw == 0:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
        raise PlanError(f"to_revision must be a positive revision number, got {raw!r}")
    return int(raw) or None


def _undo_deployment(req: _Request, wanted: int | None) -> PatchPlan:
    if (req.workload.get("spec") or {}).get("paused"):
        raise PlanError(f"deployment {_name(req.workload)} is paused: resume it before rolling back")
    by_revision = _owned_revisions(req, _replicaset_revision)
    number, replicaset = _pick_revision(req, by_revision, wanted)
    template = copy.deepcopy((replicaset.get("spec") or {}).get("template") or {})
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    if _without_hash(template) == _without_hash(req.template):
        raise PlanError(f"{_name(req.workload)} is already at revision {number} (same pod template)")
    annotations_now = (req.workload.get("metadata") or {}).get("annotations")
    annotations = {k: v for k, v in (annotations_now or {}).items() if k in _UNDO_KEEP_ANNOTATIONS}
    rs_annotations = (replicaset.get("metadata") or {}).get("annotations") or {}
    annotations.update({k: v for k, v in rs_annotations.items() if k not in _UNDO_KEEP_ANNOTATIONS})
    body = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {
            "op": "replace" if annotations_now is not None else "add",
            "path": "/metadata/annotations",
            "value": annotations,
        },
    ]
    return PatchPlan("json", body, _undo_summary(req, number, template))


def _replicaset_revision(replicaset: JsonObj) -> int | None:
    return _int(((replicaset.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION))


def _undo_controller_revision(req: _Request, wanted: int | None) -> PatchPlan:
    by_revision = _owned_revisions(req, lambda cr: _int(cr.get("revision")))
    number, revision = _pick_revision(req, by_revision, wanted)
    data = revision.get("data")
    template = ((data or {}).get("spec") or {}).get("template") if isinstance(data, dict) else None
    if not isinstance(template, dict):
        raise PlanError(f"ControllerRevision {_name(revision)} holds no pod template")
    template = {k: v for k, v in template.items() if k != "$patch"}
    if template == req.template:
        raise PlanError(f"{_name(req.workload)} is already at revision {number} (same pod template)")
    assert isinstance(data, dict)
    return PatchPlan("strategic", copy.deepcopy(data), _undo_summary(req, number, template))


def _owned_revisions(req: _Request, number_of: Callable[[JsonObj], int | None]) -> dict[int, JsonObj]:
    meta = req.workload.get("metadata") or {}
    owned = [obj for obj in req.history if owned_by(obj, meta.get("uid"), str(meta.get("name", "")))]
    numbered = ((number_of(obj), obj) for obj in owned)
    return {number: obj for number, obj in numbered if number is not None and number > 0}


def _pick_revision(req: _Request, by_revision: dict[int, JsonObj], wanted: int | None) -> tuple[int, JsonObj]:
    """The revision asked for, or the previous one (the second newest, as kubectl picks it)."""
    known = sorted(by_revision)
    if wanted is None:
        if len(known) < 2:
            raise PlanError(f"{_name(req.workload)} has no previous revision to roll back to")
        wanted = known[-2]
    if wanted not in by_revision:
        existing = ", ".join(str(n) for n in known) or "none"
        raise PlanError(f"revision {wanted} of {_name(req.workload)} not found; revisions: {existing}")
    return wanted, by_revision[wanted]


def _undo_summary(req: _Request, number: int, template: JsonObj) -> str:
    containers = (template.get("spec") or {}).get("containers") or []
    images = ", ".join(f"{c.get('name')}={c.get('image')}" for c in containers)
    return f"roll {req.kind} {_name(req.workload)} back to revision {number} ({images})"


def _without_hash(template: JsonObj) -> JsonObj:
    stripped = copy.deepcopy(template)
    labels = (stripped.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return stripped


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- shared helpers -------------------------------------------------------------------------------------------


def _name(obj: JsonObj) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def _text(params: JsonObj, key: str, what: str = "params") -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PlanError(f"{what}: {key} is required (a non-empty string)")
    return value.strip()


def _container(req: _Request, name: str) -> tuple[str, JsonObj]:
    """(list field, container) of the named container or init container of the pod template."""
    spec = req.pod_spec
    for list_field in ("containers", "initContainers"):
        for container in spec.get(list_field) or []:
            if container.get("name") == name:
                return list_field, container
    names = [str(c.get("name")) for f in ("containers", "initContainers") for c in spec.get(f) or []]
    raise PlanError(f"{_name(req.workload)} has no container {name!r}; containers: {', '.join(names) or 'none'}")


def _container_patch(list_field: str, name: str, fragment: JsonObj) -> JsonObj:
    return {"spec": {"template": {"spec": {list_field: [{"name": name, **fragment}]}}}}


def _strategic(body: JsonObj, summary: str) -> PatchPlan:
    return PatchPlan("strategic", body, summary)


_PLANNERS: dict[RemedyId, Callable[[_Request], PatchPlan]] = {
    RemedyId.BUMP_MEMORY: _bump_memory,
    RemedyId.PATCH_PROBES: _patch_probes,
    RemedyId.SET_ENV: _set_env,
    RemedyId.SET_IMAGE: _set_image,
    RemedyId.ROLLOUT_UNDO: _rollout_undo,
    RemedyId.ROLLOUT_RESTART: _rollout_restart,
    RemedyId.SERVICE_ACCOUNT: _service_account,
}


# --- templates and their diff -----------------------------------------------------------------------------------


def template_of(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a workload's `spec.template`; PlanError when it has none."""
    template = (obj.get("spec") or {}).get("template")
    if not isinstance(template, dict):
        raise PlanError(f"{obj.get('kind') or 'object'} {_name(obj)} has no spec.template")
    return copy.deepcopy(template)


def template_diff(before: dict[str, Any], after: dict[str, Any]) -> str:
    """A unified diff of two pod templates as YAML with sorted keys; "" when they are equal.

    Literal env values are masked as "••••" on both sides; one whose value changed shows "•••• (changed)" after,
    so the diff still says that it changed without saying what it was or became.
    """
    old, new = _masked(before, None), _masked(after, _literals(before))
    old_lines = _yaml(old).splitlines(keepends=True)
    new_lines = _yaml(new).splitlines(keepends=True)
    return "".join(difflib.unified_diff(old_lines, new_lines, fromfile="before", tofile="after"))


def _yaml(template: JsonObj) -> str:
    return yaml.safe_dump(template, sort_keys=True, default_flow_style=False, allow_unicode=True, width=4096)


def _literals(template: JsonObj) -> dict[tuple[str, str, str], Any]:
    """(container list, container, variable) → literal value, for every literal env var of the template."""
    spec = template.get("spec") or {}
    return {
        (list_field, str(c.get("name")), str(e.get("name"))): e["value"]
        for list_field in _CONTAINER_LISTS
        for c in spec.get(list_field) or []
        for e in c.get("env") or []
        if isinstance(e, dict) and "value" in e
    }


def _masked(template: JsonObj, previous: dict[tuple[str, str, str], Any] | None) -> JsonObj:
    masked = copy.deepcopy(template)
    spec = masked.get("spec") or {}
    for list_field in _CONTAINER_LISTS:
        for container in spec.get(list_field) or []:
            for env in container.get("env") or []:
                if isinstance(env, dict) and "value" in env:
                    key = (list_field, str(container.get("name")), str(env.get("name")))
                    changed = previous is not None and key in previous and previous[key] != env["value"]
                    env["value"] = f"{MASK} (changed)" if changed else MASK
    return masked


# --- netcheck -----------------------------------------------------------------------------------------------------

# Host and port arrive in CHECK_HOST / CHECK_PORT and are only ever expanded inside double quotes: the script
# text is constant, so nothing a log line or a user typed can become shell code. busybox nslookup ignores the
# resolv.conf search list, so the script walks it itself (bare name first when it has a dot); an IP address
# "resolves" to itself.
NETCHECK_SCRIPT = r"""set -u -f
host="${CHECK_HOST:?}"
port="${CHECK_PORT:-}"
lookup() {
  nslookup "$1" 2>/dev/null | awk '
    /^Name:/ { named = 1; next }
    named && /^Address/ {
      sub(/^Address[^:]*:[ \t]*/, "")
      split($0, f, " ")
      if (f[1] !~ /:/) { v4 = f[1]; exit }
      if (v6 == "") v6 = f[1]
    }
    END { if (v4 != "") print v4; else if (v6 != "") print v6 }'
}
search_domains() {
  awk '$1 == "search" { for (i = 2; i <= NF; i++) print $i }' "${NETCHECK_RESOLV_CONF:-/etc/resolv.conf}" 2>/dev/null
}
addr=""
case "$host" in
  *:*) addr="$host" ;;
  *[!0-9.]*) ;;
  *) addr="$host" ;;
esac
if [ -z "$addr" ]; then
  case "$host" in
    *.) candidates="." ;;
    *.*) candidates=". $(search_domains)" ;;
    *) candidates="$(search_domains) ." ;;
  esac
  for domain in $candidates; do
    if [ "$domain" = "." ]; then name="$host"; else name="$host.$domain"; fi
    addr="$(lookup "$name")"
    if [ -n "$addr" ]; then break; fi
  done
fi
if [ -n "$addr" ]; then echo "dns $host ok $addr"; else echo "dns $host fail"; fi
if [ -n "$port" ]; then
  if nc -z -w 3 "${addr:-$host}" "$port"; then echo "tcp $host:$port ok"; else echo "tcp $host:$port fail"; fi
fi
exit 0
"""


def netcheck_pod(namespace: str, host: str, port: int | None, *, name: str, owner_workload: str) -> dict[str, Any]:
    """A throwaway Pod that checks DNS and TCP to `host`:`port` from `namespace` and prints what it found.

    Locked down (non-root, no privileges, read-only root, no API token) and bounded (30 s, small resources,
    never restarted). PlanError for an invalid namespace, name, owner, host (a DNS name or an IP) or port.
    """
    _check(namespace, _DNS_LABEL, 63, "namespace")
    _check(name, _DNS_SUBDOMAIN, 253, "pod name")
    _check(owner_workload, _LABEL_VALUE, 63, "owner workload")
    target = check_host(host)
    checked_port = check_port(port)
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "crashloop.dev/netcheck": "true",
        "crashloop.dev/target": owner_workload,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": _netcheck_spec(target, checked_port),
    }


def _netcheck_spec(host: str, port: int | None) -> JsonObj:
    container = {
        "name": "netcheck",
        "image": NETCHECK_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", NETCHECK_SCRIPT],
        "env": [{"name": "CHECK_HOST", "value": host}, {"name": "CHECK_PORT", "value": str(port or "")}],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": 30,
        "terminationGracePeriodSeconds": 1,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
    }


def check_host(host: str) -> str:
    """`host` when it is an IP address or a DNS name (letters, digits, hyphens, dots); PlanError otherwise."""
    if not isinstance(host, str) or not host:
        raise PlanError("netcheck: host is required")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    valid = len(host) <= 253 and all(len(label) <= 63 and _HOST_LABEL.match(label) for label in labels)
    if not valid or labels[-1].isdigit():
        raise PlanError(f"netcheck: {host!r} is not a DNS name or an IP address")
    return host


def check_port(port: int | None) -> int | None:
    """`port` when it is None or a TCP port number (1–65535); PlanError otherwise."""
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise PlanError(f"netcheck: port must be 1–65535, got {port!r}")
    return port


def _check(value: str, pattern: re.Pattern[str], limit: int, what: str) -> None:
    if not isinstance(value, str) or len(value) > limit or not pattern.match(value):
        raise PlanError(f"netcheck: {value!r} is not a valid {what}")


def parse_netcheck_log(text: str) -> NetcheckResult:
    """Read a netcheck Pod's log: `dns <host> ok <ip>|fail` and `tcp <host>:<port> ok|fail` (the last one wins).

    Every non-empty line is kept (busybox's own complaints, e.g. `nc: bad address`, are worth showing).
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    dns_ok: bool | None = None
    address: str | None = None
    tcp_ok: bool | None = None
    for line in lines:
        words = line.split()
        if len(words) < 3 or words[2] not in ("ok", "fail"):
            continue
        if words[0] == "dns":
            dns_ok = words[2] == "ok"
            address = words[3] if dns_ok and len(words) > 3 else None
        elif words[0] == "tcp":
            tcp_ok = words[2] == "ok"
    return NetcheckResult(dns_ok, address, tcp_ok, lines)
