"""Label and field selectors, parsed from query strings and from `spec.selector` objects.

Label selectors support `=`, `==`, `!=`, `in (...)`, `notin (...)`, `key` and `!key`. Field selectors support
`=`, `==` and `!=` on the fields the real apiserver indexes for each resource; any other field is rejected with
the apiserver's own `field label not supported` error, so a client that relies on an unsupported one fails here
as it would in production.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

JsonObj = dict[str, Any]

_SET_REQ = re.compile(r"^\s*(!?)([A-Za-z0-9._/-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_REQ = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|!=|=)\s*([A-Za-z0-9._-]*)\s*$")
_EXISTS_REQ = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*$")

_COMMON_FIELDS = ("metadata.name", "metadata.namespace")
_FIELDS: dict[str, tuple[str, ...]] = {
    "pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "secrets": ("type",),
    "namespaces": ("status.phase",),
    "nodes": ("spec.unschedulable",),
    "replicasets": ("status.replicas",),
}


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # in, notin, exists, !exists
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "exists":
            return self.key in labels
        if self.operator == "!exists":
            return self.key not in labels
        if self.operator == "in":
            return self.key in labels and labels[self.key] in self.values
        return self.key not in labels or labels[self.key] not in self.values


def _split(text: str) -> list[str]:
    """Split on commas that are not inside `( )`."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def _parse_requirement(text: str) -> Requirement:
    if m := _SET_REQ.match(text):
        values = frozenset(v.strip() for v in m.group(4).split(",") if v.strip())
        return Requirement(m.group(2), m.group(3), values)
    if m := _EQ_REQ.match(text):
        return Requirement(m.group(1), "notin" if m.group(2) == "!=" else "in", frozenset({m.group(3)}))
    if m := _EXISTS_REQ.match(text):
        return Requirement(m.group(2), "!exists" if m.group(1) else "exists")
    raise bad_request(f"unable to parse requirement: {text.strip()!r}")


def parse_label_selector(text: str | None) -> list[Requirement]:
    return [_parse_requirement(part) for part in _split(text or "")]


def from_label_selector_object(selector: JsonObj | None) -> list[Requirement]:
    """Requirements of a `metav1.LabelSelector` (`matchLabels` + `matchExpressions`)."""
    selector = selector or {}
    reqs = [Requirement(k, "in", frozenset({str(v)})) for k, v in (selector.get("matchLabels") or {}).items()]
    operators = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in selector.get("matchExpressions") or []:
        op = operators.get(str(expr.get("operator")), "in")
        reqs.append(Requirement(str(expr.get("key")), op, frozenset(str(v) for v in expr.get("values") or [])))
    return reqs


def labels_match(reqs: list[Requirement], labels: Mapping[str, str] | None) -> bool:
    return all(r.matches(labels or {}) for r in reqs)


def format_label_selector(selector: JsonObj | None) -> str:
    """metav1.FormatLabelSelector: `app=web-app,tier in (a,b)`; `<none>` when empty."""
    parts = [f"{k}={v}" for k, v in sorted((selector or {}).get("matchLabels", {}).items())]
    for expr in (selector or {}).get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), ",".join(sorted(expr.get("values") or []))
        text = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": f"{key}"}
        parts.append(text.get(str(op), f"!{key}"))
    return ",".join(parts) or "<none>"


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    negate: bool

    def matches(self, obj: JsonObj) -> bool:
        return (field_value(obj, self.field) == self.value) != self.negate


def field_value(obj: JsonObj, path: str) -> str:
    if path == "source":
        path = "source.component"
    current: Any = obj
    for part in path.split("."):
        current = current.get(part) if isinstance(current, dict) else None
    if isinstance(current, bool):
        return "true" if current else "false"
    return "" if current is None else str(current)


def parse_field_selector(text: str | None, plural: str) -> list[FieldRequirement]:
    allowed = (*_COMMON_FIELDS, *_FIELDS.get(plural, ()))
    reqs = []
    for part in _split(text or ""):
        m = re.match(r"^\s*([A-Za-z.]+)\s*(==|!=|=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        if m.group(1) not in allowed:
            raise bad_request(f"field label not supported: {m.group(1)}")
        reqs.append(FieldRequirement(m.group(1), m.group(3), m.group(2) == "!="))
    return reqs


def fields_match(reqs: list[FieldRequirement], obj: JsonObj) -> bool:
    return all(r.matches(obj) for r in reqs)
