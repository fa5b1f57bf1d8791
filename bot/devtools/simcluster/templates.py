"""Pod template identity: the `pod-template-hash` and the "same template" test controllers rely on.

Two templates are the same revision when they are equal once the `pod-template-hash` label is ignored (the
deployment controller's `EqualIgnoreHash`); that is how `kubectl rollout undo` makes an old ReplicaSet current
again instead of creating a new one.
"""

from __future__ import annotations

import json
from typing import Any

from .ids import fnv32a, safe_encode
from .store import clone

JsonObj = dict[str, Any]

HASH_LABEL = "pod-template-hash"


def without_hash(template: JsonObj) -> JsonObj:
    stripped = clone(template)
    labels = (stripped.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return stripped


def canonical(template: JsonObj) -> str:
    return json.dumps(without_hash(template), sort_keys=True, separators=(",", ":"))


def same_template(a: JsonObj, b: JsonObj) -> bool:
    return canonical(a) == canonical(b)


def template_hash(template: JsonObj, collisions: int = 0) -> str:
    """A short, safe-alphabet hash like `7c9d8b6f5`."""
    data = canonical(template) + (str(collisions) if collisions else "")
    return safe_encode(str(fnv32a(data.encode())))
