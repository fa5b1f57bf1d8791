"""Parameters for a remedy asked for by name (slash command, CLI) rather than proposed by the triage."""

from __future__ import annotations

import json
from typing import Any

from runbooks.model import Evidence


def default_params(ev: Evidence, remedy_id: str) -> dict[str, Any]:
    """Parameters for a remedy the triage did not propose: the focus container, the previous revision."""
    container = ev.focus_container or (ev.workload.containers[0].name if ev.workload.containers else "")
    if remedy_id == "rollout_undo" and ev.rollout and ev.rollout.previous:
        return {"to_revision": ev.rollout.previous.number}
    if remedy_id in ("rollout_restart", "rollout_undo", "silence", "unsilence"):
        return {}  # a silence's duration comes from the door (or `silences.default_duration`), never a container
    if remedy_id == "service_account":
        return {"from": ev.workload.service_account}
    return {"container": container}


def typed_params(overrides: dict[str, str]) -> dict[str, Any]:
    """`key=value` words as parameters: a Secret/ConfigMap as {name, key}, numbers as int, probes as JSON."""
    typed: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "probes":  # a mapping, written as JSON: probes='{"liveness": {"periodSeconds": 20}}'
            try:
                typed[key] = json.loads(value)
            except ValueError:
                typed[key] = value  # the guard refuses it, saying what a probe setting looks like
        elif key in ("secret", "configmap") and "/" in value:
            ref_name, _, ref_key = value.partition("/")
            typed[key] = {"name": ref_name, "key": ref_key}
        elif key in ("port", "to_revision") and value.isdigit():
            typed[key] = int(value)
        else:
            typed[key] = value
    return typed
