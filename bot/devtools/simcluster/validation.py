"""Validation of incoming objects, with the apiserver's field paths and messages in a 422 `Invalid` Status.

It covers what a remediation bot can get wrong: missing images, requests above limits, unparsable quantities,
negative probe settings, selectors that do not match template labels, immutable selectors, forbidden pod
updates and bad names. Dry runs go through the same checks, which is the point of a dry run.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from .errors import ApiError, bad_request, invalid
from .quantity import parse_quantity
from .resources import ResourceType
from .selectors import from_label_selector_object, labels_match

JsonObj = dict[str, Any]
Cause = tuple[str, str, str]

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_HELP = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_WORKLOADS = {"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"}
_POD_UPDATE_HELP = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def _go_value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def _required(field: str) -> Cause:
    return (field, "FieldValueRequired", "Required value")


def _bad_value(field: str, value: Any, why: str) -> Cause:
    return (field, "FieldValueInvalid", f"Invalid value: {_go_value(value)}: {why}")


def _check_resources(path: str, resources: JsonObj) -> list[Cause]:
    causes: list[Cause] = []
    parsed: dict[str, dict[str, Any]] = {"limits": {}, "requests": {}}
    for section in ("limits", "requests"):
        for name, raw in (resources.get(section) or {}).items():
            try:
                parsed[section][name] = parse_quantity(raw)
            except ValueError:
                causes.append(
                    _bad_value(
                        f"{path}.{section}[{name}]",
                        raw,
                        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                    )
                )
    for name, request in parsed["requests"].items():
        limit = parsed["limits"].get(name)
        if limit is not None and request > limit:
            raw_limit = resources["limits"][name]
            why = f"must be less than or equal to {name} limit of {raw_limit}"
            causes.append(_bad_value(f"{path}.requests", resources["requests"][name], why))
    return causes


def _check_probe(path: str, probe: JsonObj) -> list[Cause]:
    causes = []
    for key, minimum in (
        ("initialDelaySeconds", 0),
        ("periodSeconds", 1),
        ("timeoutSeconds", 1),
        ("failureThreshold", 1),
        ("successThreshold", 1),
    ):
        value = probe.get(key)
        if value is not None and (not isinstance(value, int) or value < minimum):
            causes.append(_bad_value(f"{path}.{key}", value, f"must be greater than or equal to {minimum}"))
    return causes


def _check_container(path: str, container: JsonObj) -> list[Cause]:
    causes: list[Cause] = []
    if not container.get("name"):
        causes.append(_required(f"{path}.name"))
    elif not _DNS_LABEL.match(str(container["name"])):
        causes.append(
            _bad_value(
                f"{path}.name",
                container["name"],
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
            )
        )
    if not container.get("image"):
        causes.append(_required(f"{path}.image"))
    causes += _check_resources(f"{path}.resources", container.get("resources") or {})
    for i, env in enumerate(container.get("env") or []):
        if not env.get("name"):
            causes.append(_required(f"{path}.env[{i}].name"))
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        if isinstance(container.get(key), dict):
            causes += _check_probe(f"{path}.{key}", container[key])
    return causes


def check_pod_spec(path: str, spec: JsonObj) -> list[Cause]:
    causes: list[Cause] = []
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not isinstance(deadline, int) or not 1 <= deadline <= 2**31 - 1):
        why = "must be between 1 and 2147483647, inclusive"
        causes.append(_bad_value(f"{path}.activeDeadlineSeconds", deadline, why))
    containers = spec.get("containers") or []
    if not containers:
        causes.append(_required(f"{path}.containers"))
    seen: set[str] = set()
    for field in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(field) or []):
            causes += _check_container(f"{path}.{field}[{i}]", container)
            if container.get("name") in seen:
                causes.append(
                    (
                        f"{path}.{field}[{i}].name",
                        "FieldValueDuplicate",
                        f"Duplicate value: {_go_value(container['name'])}",
                    )
                )
            seen.add(str(container.get("name")))
    return causes


def _check_workload(obj: JsonObj, old: JsonObj | None) -> list[Cause]:
    spec = obj.get("spec") or {}
    causes: list[Cause] = []
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        causes.append(_bad_value("spec.replicas", replicas, "must be greater than or equal to 0"))
    selector = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not selector:
        causes.append(_required("spec.selector"))
    elif not labels_match(from_label_selector_object(selector), labels):
        labels_text = "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in labels.items()) + "}"
        causes.append(
            (
                "spec.template.metadata.labels",
                "FieldValueInvalid",
                f"Invalid value: {labels_text}: `selector` does not match template `labels`",
            )
        )
    if old is not None and selector and (old.get("spec") or {}).get("selector") != selector:
        causes.append(("spec.selector", "FieldValueInvalid", "Invalid value: field is immutable"))
    causes += check_pod_spec("spec.template.spec", (spec.get("template") or {}).get("spec") or {})
    return causes


def _pod_update_allowed(new: JsonObj, old: JsonObj) -> bool:
    def mutable_stripped(spec: JsonObj) -> JsonObj:
        copy = json.loads(json.dumps(spec))
        for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
            copy.pop(key, None)
        for field in ("containers", "initContainers"):
            for container in copy.get(field) or []:
                container.pop("image", None)
        return dict(copy)

    return mutable_stripped(new.get("spec") or {}) == mutable_stripped(old.get("spec") or {})


def _check_secret(obj: JsonObj) -> None:
    for key, value in (obj.get("data") or {}).items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(f"illegal base64 data at input byte 0 (data[{key}])") from None


def validate(rt: ResourceType, obj: JsonObj, old: JsonObj | None) -> None:
    """Raise a 422 Invalid ApiError if `obj` (new, or replacing `old`) is not acceptable."""
    name = str((obj.get("metadata") or {}).get("name") or "")
    causes: list[Cause] = []
    if not name:
        causes.append(("metadata.name", "FieldValueRequired", "Required value: name or generateName is required"))
    elif not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
        causes.append(_bad_value("metadata.name", name, _SUBDOMAIN_HELP))
    if rt.kind in _WORKLOADS:
        causes += _check_workload(obj, old)
    elif rt.kind == "Pod":
        causes += check_pod_spec("spec", obj.get("spec") or {})
        if old is not None and not _pod_update_allowed(obj, old):
            causes.append(("spec", "FieldValueForbidden", f"Forbidden: {_POD_UPDATE_HELP}"))
    elif rt.kind == "Secret":
        _check_secret(obj)
    if causes:
        raise invalid(rt.kind, rt.group, name, causes)


def check_body_kind(rt: ResourceType, obj: JsonObj) -> None:
    """A body for the wrong kind is a 400, as in the apiserver's decoder."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if kind and kind != rt.kind:
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version ({rt.api_version})"
            if api_version and api_version != rt.api_version
            else f'{kind} in version "{rt.version}" cannot be handled as a {rt.kind}: no kind "{kind}" '
            f'is registered for version "{rt.api_version}"'
        )
    if not isinstance(obj.get("metadata", {}), dict):
        raise ApiError(400, "BadRequest", "metadata must be an object")
