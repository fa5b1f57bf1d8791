"""The triage as JSON (`crashloop triage --format json`): a stable shape for scripts and other tools.

Top-level keys are a public contract: environment, namespace, workload, kind, pod, container, branch,
confidence, summary, reasons, exit_code, reason, restarts (the focus container's restart count, the number the
summary quotes; null without one), workload_restarts (summed over the workload's pods), remedies (id, title,
params), success_criteria,
proposal (reviewable YAML, e.g. the RBAC granting a missing verb, never applied),
plus the evidence (logs, events, rollout, references, read failures).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from bot.triage.run import TriageResult


def to_dict(result: TriageResult) -> dict[str, Any]:
    ev, f = result.evidence, result.finding
    focus = ev.focus
    term = (focus.last_termination or focus.terminated) if focus else None
    log = ev.focus_logs()
    return {
        "environment": ev.environment,
        "namespace": ev.workload.namespace,
        "workload": ev.workload.name,
        "kind": ev.workload.kind,
        "pod": ev.focus_pod,
        "container": ev.focus_container,
        "branch": str(f.branch) if f.branch else None,
        "confidence": f.confidence,
        "summary": f.summary,
        "reasons": [_plain(r) for r in f.reasons],
        "exit_code": term.exit_code if term else None,
        "reason": (term.reason if term else None) or (focus.waiting_reason if focus else None),
        "waiting_reason": focus.waiting_reason if focus else None,
        "restarts": ev.focus_restarts,
        "workload_restarts": ev.restarts,
        "remedies": [r.as_dict() for r in f.remedies],
        "next_step": f.next_step,
        "success_criteria": f.success_criteria,
        "alternatives": [str(b) for b in f.alternatives],
        "proposal": f.proposal or None,
        "pods": [_plain(p) for p in ev.pods],
        "logs": _plain(log) if log else None,
        "events": [_plain(e) for e in ev.events],
        "rollout": _plain(ev.rollout) if ev.rollout else None,
        "service_account": ev.workload.service_account,
        "service_account_exists": ev.service_account_exists,
        "references": [_plain(r) for c in ev.workload.containers for r in c.refs],
        "read_failures": [_plain(x) for x in ev.failures],
        "collected_at": _value(ev.collected_at),
        "seconds": round(result.seconds, 3),
    }


def _plain(obj: Any) -> Any:
    return _value(dataclasses.asdict(obj))


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, dict):
        return {str(k): _value(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_value(x) for x in v]
    return v
