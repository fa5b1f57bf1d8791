"""Evidence → Finding: which runbook branch explains the crash loop, why, and the safe next step.

Each branch module scores the evidence independently; the strongest score wins, ties going to the branch whose
signals are the most specific (an OOMKilled reason beats a generic exit code, a StartError beats a log line).
The signature library (`runbooks.signature_match`) competes like a branch module. A fresh release puts `rollout_undo`
first whatever the branch; a bare pod keeps only what a pod allows. Nothing matching is said honestly
(`runbooks.unmatched`). Pure: no I/O, deterministic.
"""

from __future__ import annotations

from types import ModuleType

from runbooks import app_env, image_config, networking_deps, probes, rbac_mounts, resources, signature_match
from runbooks.matching import read_failure_lines
from runbooks.model import Assessment, Branch, Evidence, Finding, Policy, Reason, Remedy, RemedyId
from runbooks.release import fresh_release
from runbooks.remedies import rollout_undo
from runbooks.unmatched import telling_lines

# Order is the tie-break: most specific signals first.
BRANCH_MODULES: tuple[ModuleType, ...] = (resources, image_config, probes, rbac_mounts, networking_deps, app_env)
SUCCESS_CRITERIA: dict[Branch, str] = {m.BRANCH: m.SUCCESS for m in BRANCH_MODULES}
_ALTERNATIVE_MIN_SCORE = 0.4


def assess_all(ev: Evidence, policy: Policy) -> list[Assessment]:
    """Every branch's assessment, strongest first: the branch modules' and the signature library's."""
    found = [a for m in BRANCH_MODULES if (a := m.assess(ev, policy)) is not None]
    found.extend(signature_match.assess(ev, policy))
    order = {m.BRANCH: i for i, m in enumerate(BRANCH_MODULES)}
    return sorted(found, key=lambda a: (-a.score, order[a.branch]))


def classify(ev: Evidence, policy: Policy | None = None) -> Finding:
    policy = policy or Policy()
    if not ev.pods:
        return Finding(None, 1.0, _gone(ev), tuple(_failure_reasons(ev)))
    crashing = any(c.is_troubled for p in ev.pods for c in p.containers)
    if not crashing and all(p.ready for p in ev.pods):
        return Finding(None, 1.0, _healthy(ev), tuple(_failure_reasons(ev)))
    ranked = assess_all(ev, policy)
    fresh = fresh_release(ev, policy)
    if not ranked and not crashing:  # pods not ready, nothing crashing, no signal: starting up, not a crash loop
        return Finding(None, 0.5, _not_ready(ev), tuple(_failure_reasons(ev)))
    if not ranked:
        ranked = [_unexplained(ev)]
    best = ranked[0]
    reasons = list(best.reasons)
    remedies = list(best.remedies)
    if fresh is not None:
        reasons.append(fresh)
        undo = rollout_undo(ev)
        if undo is not None:
            remedies.insert(0, undo)
    reasons.extend(_failure_reasons(ev))
    confidence = _confidence(best, ranked, ev)
    alternatives = tuple(
        dict.fromkeys(a.branch for a in ranked[1:] if a.score >= _ALTERNATIVE_MIN_SCORE and a.branch != best.branch)
    )
    deduped = _dedupe(remedies)
    next_step = deduped[0].title if deduped else best.next_step
    if ev.workload.kind == "Pod":  # a bare pod has no template to patch and no history to roll back to
        dropped = [r for r in deduped if r.id not in _POD_REMEDIES]
        deduped = tuple(r for r in deduped if r.id in _POD_REMEDIES)
        if dropped:
            reasons.append(Reason(_bare_pod_note(ev, dropped), None, "spec"))
            next_step = deduped[0].title if deduped else _bare_pod_note(ev, dropped)
    return Finding(
        best.branch,
        confidence,
        best.headline,
        tuple(reasons),
        deduped,
        SUCCESS_CRITERIA[best.branch],
        next_step,
        alternatives,
        best.proposal,
    )


_POD_REMEDIES = (RemedyId.SET_IMAGE, RemedyId.NETCHECK)  # a pod's image may change in place; netcheck is a new pod


def _bare_pod_note(ev: Evidence, dropped: list[Remedy]) -> str:
    what = "; ".join(r.title for r in dropped)
    return (
        f"{ev.workload.name} is a bare pod (no controller): change its manifest ({what}) and recreate it — "
        "or run it under a Deployment"
    )


def _confidence(best: Assessment, ranked: list[Assessment], ev: Evidence) -> float:
    score = best.score
    rivals = [a for a in ranked[1:] if a.branch != best.branch]
    if rivals and rivals[0].score >= score - 0.1 - 1e-9:
        score -= 0.1  # a close runner-up: say so in the number
    elif rivals and rivals[0].score >= score - 0.3 - 1e-9:
        score -= 0.05  # another branch is defensible too
    if any(f.what.startswith("logs") for f in ev.failures):
        score -= 0.1  # classified without the crashed run's logs
    return round(max(0.05, min(score, 0.99)), 2)


def _dedupe(remedies: list[Remedy]) -> tuple[Remedy, ...]:
    seen: set[str] = set()
    unique = []
    for r in remedies:
        if r.id not in seen:
            seen.add(r.id)
            unique.append(r)
    return tuple(unique)


def _unexplained(ev: Evidence) -> Assessment:
    c = ev.focus
    state = (c.waiting_reason or "restarting") if c else "restarting"
    reason = Reason(f"the container is {state} but no runbook signal matched", None, "status")
    headline = f"{ev.workload.name}/{ev.focus_container} is {state}; cause not recognised"
    reasons = (reason, *telling_lines(ev))
    return Assessment(Branch.APP_ENV, 0.2, headline, reasons, (), "read the lines quoted above and the logs below")


def _failure_reasons(ev: Evidence) -> list[Reason]:
    """One reason per distinct read failure (the same 403 for five pods is one line, with the count)."""
    messages = {f"{f.what}: {f.status}": f.message for f in ev.failures}
    lines = read_failure_lines(ev.failures)
    return [Reason(f"could not read {line}", messages.get(line), "bot") for line in lines]


def _gone(ev: Evidence) -> str:
    w = ev.workload
    return f"{w.kind} {w.namespace}/{w.name} has no pods (scaled to zero, or the pod is gone)"


def _not_ready(ev: Evidence) -> str:
    w = ev.workload
    ready = sum(1 for p in ev.pods if p.ready)
    return f"{w.kind} {w.namespace}/{w.name}: {ready}/{len(ev.pods)} pods ready, none crashing (starting or pending)"


def _healthy(ev: Evidence) -> str:
    w = ev.workload
    ready = sum(1 for p in ev.pods if p.ready)
    return f"{w.kind} {w.namespace}/{w.name} is healthy: {ready}/{len(ev.pods)} pods ready, no crashing containers"
