"""Runbook branch 2 — Resources (OOMKilled, memory pressure).

Signals:
- a termination with reason `OOMKilled` (the reason beats the exit code: an OOM kill is an OOM kill whatever code
  the runtime reports);
- node events `OOMKilling` / messages mentioning "OOMKilled" or "out of memory";
- exit code 137 with no OOMKilled reason and no probe kill: *ambiguous* (the OOM killer in a child process, a kill
  after the grace period, an expired probe event, throttling) — said so, confidence 0.4, no memory bump.

Remedy: `bump_memory` — the container's memory limit ×1.5, rounded up to 64Mi, capped by `limits.max_memory`.
"""

from __future__ import annotations

from runbooks.matching import Signal, find_last
from runbooks.model import (
    Assessment,
    Branch,
    ContainerStatus,
    Evidence,
    Policy,
    Reason,
    Remedy,
    RemedyId,
)
from runbooks.quantity import QuantityError, bump, format_bytes, parse_bytes

BRANCH = Branch.RESOURCES
SUCCESS = "No new OOM events; restarts level off; p95 memory < ~80% of limit."

_OOM_EVENT = (
    Signal.of("OOM event", r"\bOOMKill(ed|ing)\b|invoked oom-killer"),
    Signal.of("out of memory", r"out of memory|memory cgroup out of memory"),
)
_HEAP_LIMIT = (
    Signal.of(
        "the runtime's own heap limit (above the container's limit, the kernel kills first)",
        r"heap_size_limit: \d+|-Xmx\d+[kmg]|max-old-space-size=\d+",
    ),
)
_OOM_LOG = (
    Signal.of("OutOfMemoryError", r"java\.lang\.OutOfMemoryError|OutOfMemoryError"),
    Signal.of("heap out of memory", r"JavaScript heap out of memory|MemoryError\b|fatal error: runtime: out of memory"),
)


def _oom_container(ev: Evidence) -> ContainerStatus | None:
    candidates = [c for p in ev.pods for c in p.containers]
    focus = ev.focus
    if focus is not None:
        candidates.insert(0, focus)
    for c in candidates:
        for term in (c.last_termination, c.terminated):
            if term is not None and term.reason == "OOMKilled":
                return c
    return None


def _probe_kill_seen(ev: Evidence) -> bool:
    return any(e.reason == "Killing" and "probe" in e.message.lower() for e in ev.events)


def assess(ev: Evidence, policy: Policy) -> Assessment | None:
    oom = _oom_container(ev)
    if oom is not None:
        return _oom_assessment(ev, policy, oom)
    event = find_last([e.line() for e in ev.events], _OOM_EVENT)
    log = find_last(ev.all_log_lines(), _OOM_LOG)
    focus = ev.focus
    if event or log:
        reasons = [Reason(m.signal.label, m.quote, src) for m, src in ((event, "events"), (log, "logs")) if m]
        return _with_remedy(ev, policy, ev.focus_container, 0.8, "is running out of memory", reasons)
    term = focus.last_termination if focus else None
    if term and term.exit_code == 137 and not _probe_kill_seen(ev):
        return _ambiguous_sigkill(ev, term.reason)
    return None


def _ambiguous_sigkill(ev: Evidence, reason: str | None) -> Assessment:
    """Exit 137 without OOMKilled is not memory by default: say what could have sent the SIGKILL, and how sure."""
    spec = next((s for s in ev.workload.containers if s.name == ev.focus_container), None)
    reasons = [
        Reason(
            f"exit code 137 (SIGKILL) but the kubelet did not report OOMKilled (reason {reason}) and no probe kill "
            "is in the events: ambiguous",
            f"lastState.terminated: reason={reason} exitCode=137",
            "status",
        ),
        Reason(
            "candidates: the kernel's OOM killer in a child process, a kill after terminationGracePeriodSeconds, "
            "a probe kill whose event has expired, or an external kill",
            None,
            "status",
        ),
    ]
    cpu = spec.limits.get("cpu") if spec else None
    if cpu:
        reasons.append(Reason(f"a CPU limit of {cpu}: throttling slows start-up and shutdown", None, "spec"))
    next_step = (
        "check the node for OOM kills (kubectl describe node; dmesg), the probes and the termination grace period "
        "before raising memory"
    )
    headline = f"{ev.workload.name}/{ev.focus_container} was SIGKILLed (exit 137); the cause is ambiguous"
    return Assessment(BRANCH, 0.4, headline, tuple(reasons), (), next_step)


def _oom_assessment(ev: Evidence, policy: Policy, c: ContainerStatus) -> Assessment:
    term = c.last_termination if (c.last_termination and c.last_termination.reason == "OOMKilled") else c.terminated
    code = term.exit_code if term else None
    reason = Reason(
        f"container {c.name} was OOMKilled (exit {code}), {c.restart_count} restarts",
        f"lastState.terminated: reason=OOMKilled exitCode={code}",
        "status",
    )
    reasons = [reason]
    event = find_last([e.message for e in ev.events], _OOM_EVENT)
    log = find_last(ev.all_log_lines(), (*_OOM_LOG, *_HEAP_LIMIT))
    reasons.extend(Reason(m.signal.label, m.quote, src) for m, src in ((event, "events"), (log, "logs")) if m)
    return _with_remedy(ev, policy, c.name, 0.95, "was OOMKilled", reasons)


def _with_remedy(
    ev: Evidence, policy: Policy, container: str | None, score: float, what: str, reasons: list[Reason]
) -> Assessment:
    spec = next((s for s in ev.workload.containers if s.name == container), None)
    limit_text = (spec.limits.get("memory") or spec.requests.get("memory")) if spec else None
    headline = f"{ev.workload.name}/{container} {what}"
    if limit_text:
        headline += f" at a {limit_text} memory limit" if spec and spec.limits.get("memory") else ""
    remedies: list[Remedy] = []
    next_step = ""
    if spec is None or not limit_text:
        next_step = f"set a memory request and limit on {container}: it has none, so it dies with the node"
        reasons.append(Reason(f"container {container} has no memory limit or request", None, "spec"))
    else:
        remedy, note = bump_memory_remedy(container or spec.name, spec.limits, spec.requests, policy)
        if remedy:
            remedies.append(remedy)
        if note:
            reasons.append(Reason(note, f"resources.limits.memory={limit_text}", "spec"))
            next_step = note
    return Assessment(BRANCH, score, headline, tuple(reasons), tuple(remedies), next_step)


def bump_memory_remedy(
    container: str, limits: dict[str, str], requests: dict[str, str], policy: Policy
) -> tuple[Remedy | None, str]:
    """The bump_memory remedy for a container, or None and why not (already at the cap, bad quantity)."""
    current_text = limits.get("memory") or requests.get("memory") or ""
    try:
        current = parse_bytes(current_text)
    except QuantityError as exc:
        return None, str(exc)
    target = bump(current)
    cap = policy.max_memory_bytes
    if cap is not None and target > cap:
        if current >= cap:
            return None, f"memory is already at the configured maximum ({format_bytes(cap)}): find the leak"
        target = cap
    params = {"container": container, "from": current_text, "to": format_bytes(target)}
    request_text = requests.get("memory")
    if request_text and parse_bytes(request_text) > target:
        params["request_to"] = format_bytes(target)
    title = f"Bump memory {current_text} → {format_bytes(target)}"
    return Remedy(RemedyId.BUMP_MEMORY, title, params, "raise the limit the container is killed at"), ""
