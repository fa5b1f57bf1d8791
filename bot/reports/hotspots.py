"""Composing the hotspot report: rank workloads by restarts, join what the bot knows, suggest what to do.

Pure: takes restart counts (from Prometheus or the sampler), incident statistics, remedies applied, audit actions
and remedy loops guarded, returns a `HotspotReport`. A workload with an incident, a remedy applied or a remedy
loop guarded in the period is always listed,
whatever its restart count says (the count may not exist yet: the sampler only began). A suggestion is made only
where the evidence supports it: mostly OOM kills at a known limit (a `bump_memory` proposal, sized like the
resources branch does: ×1.5 rounded up to 64Mi, capped by `limits.max_memory`), a dominant runbook branch, or
restarts that rose with nothing done about them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from bot.reports.model import (
    Action,
    Coverage,
    HotspotReport,
    LoopGuard,
    RemedyUse,
    Suggestion,
    Window,
    WorkloadRestarts,
    WorkloadStats,
)
from bot.reports.owndata import IncidentStats, Key
from runbooks.model import Branch, Policy, RemedyId
from runbooks.resources import bump_memory_remedy

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
MAX_SUGGESTIONS = 10
MAX_TRIAGE_HINTS = 3
TOPIC_MEMORY, TOPIC_BRANCH, TOPIC_TRIAGE = "memory", "branch", "triage"
# What a dominant branch suggests, when no remedy fits better ({w}: the workload).
BRANCH_ADVICE: dict[str, str] = {
    Branch.PROBES: "{w}: most incidents were probe kills: give its startup/liveness probes more time",
    Branch.APP_ENV: "{w}: most incidents were application errors at start-up: check its configuration and env",
    Branch.IMAGE_CONFIG: "{w}: most incidents were image/command failures: consider rolling back the release",
    Branch.RBAC_MOUNTS: "{w}: most incidents were permission or mount errors: check its service account and mounts",
    Branch.NETWORKING_DEPS: "{w}: most incidents were unreachable dependencies: check them, or retry at start-up",
}


def compose(
    environment: str,
    window: Window,
    restarts: Sequence[WorkloadRestarts],
    incidents: dict[Key, IncidentStats],
    actions: dict[Key, list[Action]],
    *,
    top: int,
    threshold: int,
    policy: Policy,
    source: str,
    remedies: dict[Key, list[RemedyUse]] | None = None,
    coverage: Coverage | None = None,
    loops: dict[Key, LoopGuard] | None = None,
) -> HotspotReport:
    """The report: the `top` workloads with more than `threshold` restarts, then every other workload with an
    incident, a remedy applied or a remedy loop guarded in the period, and suggestions for them."""
    remedies = remedies or {}
    loops = loops or {}
    coverage = coverage or Coverage.history()
    ranked = sorted(
        (r for r in restarts if r.restarts > threshold),
        key=lambda r: (-r.restarts, -(r.restarts - r.restarts_before), r.namespace, r.workload),
    )[:top]
    also = _also(restarts, ranked, incidents, [*remedies, *loops])
    compared = coverage.covers(window.previous_start)

    def stats(r: WorkloadRestarts) -> WorkloadStats:
        st = _stats(environment, r, incidents.get(r.key), actions.get(r.key, []), remedies.get(r.key, []))
        return replace(st, loops=loops.get(r.key, LoopGuard()))

    top_stats, also_stats = [stats(r) for r in ranked], [stats(r) for r in also]
    suggestions = [s for st in [*top_stats, *also_stats] for s in suggest(environment, st, policy, compared=compared)]
    return HotspotReport(
        environment=environment,
        period_start=window.start,
        period_end=window.end,
        top=top_stats,
        daily={
            st.label: daily_points(window, r) for st, r in zip([*top_stats, *also_stats], [*ranked, *also], strict=True)
        },
        suggestions=_limited(suggestions),
        threshold=threshold,
        source=source,
        timezone=window.timezone,
        total_restarts=sum(r.restarts for r in restarts),
        total_before=sum(r.restarts_before for r in restarts),
        also=also_stats,
        coverage=coverage,
    )


def _also(
    restarts: Sequence[WorkloadRestarts],
    ranked: list[WorkloadRestarts],
    incidents: dict[Key, IncidentStats],
    others: Sequence[Key],
) -> list[WorkloadRestarts]:
    """Workloads not ranked that had an incident or a remedy (applied, or a loop guarded: `others`) in the period:
    open incidents first, then restarts."""
    known = {r.key: r for r in restarts}
    listed = {r.key for r in ranked}
    keys = [k for k in dict.fromkeys([*incidents, *others]) if k not in listed]
    rows = [known.get(k) or _no_restarts(k, incidents.get(k)) for k in keys]

    def order(r: WorkloadRestarts) -> tuple[int, int, str, str]:
        inc = incidents.get(r.key)
        return (-(inc.still_open if inc else 0), -r.restarts, r.namespace, r.workload)

    return sorted(rows, key=order)


def _no_restarts(key: Key, inc: IncidentStats | None) -> WorkloadRestarts:
    return WorkloadRestarts(key[0], key[1], inc.kind if inc else None, restarts=0, restarts_before=0)


def daily_points(window: Window, r: WorkloadRestarts) -> list[tuple[date, int]]:
    """A workload's restarts per bucket, labelled with the bucket's local date."""
    return list(zip(window.labels(), r.daily or (0,) * window.buckets, strict=True))


def _limited(suggestions: list[Suggestion]) -> list[Suggestion]:
    """At most MAX_SUGGESTIONS, of which at most MAX_TRIAGE_HINTS are plain "triage it" hints (they add up)."""
    hints = [s for s in suggestions if s.topic == TOPIC_TRIAGE]
    kept = [s for s in suggestions if s not in hints[MAX_TRIAGE_HINTS:]]
    return kept[:MAX_SUGGESTIONS]


def _stats(
    environment: str,
    r: WorkloadRestarts,
    inc: IncidentStats | None,
    actions: list[Action],
    remedies: list[RemedyUse],
) -> WorkloadStats:
    return WorkloadStats(
        environment=environment,
        namespace=r.namespace,
        workload=r.workload,
        restarts=r.restarts,
        restarts_before=r.restarts_before,
        oom_kills=r.oom_kills,
        memory_limit=r.memory_limit,
        dominant_branch=inc.dominant_branch if inc else None,
        incidents_opened=inc.opened if inc else 0,
        mean_time_to_resolve=inc.mean_time_to_resolve if inc else None,
        actions=list(actions),
        kind=r.kind or (inc.kind if inc else None),
        container=r.container,
        oom_incidents=inc.oom if inc else 0,
        incidents=max(inc.during, inc.opened) if inc else 0,
        open_incidents=inc.still_open if inc else 0,
        open_since=inc.open_since if inc else None,
        remedies=list(remedies),
        uncounted=r.uncounted,
    )


# --- suggestions ------------------------------------------------------------------------------------------------


def suggest(environment: str, st: WorkloadStats, policy: Policy, *, compared: bool = True) -> list[Suggestion]:
    """What the evidence about one workload supports (possibly nothing); "worse than before" only when the data
    reaches back to the period before (`compared`)."""
    worse = worsening_suggestion(environment, st) if compared else None
    found = [memory_suggestion(st, policy), branch_suggestion(st), worse]
    return [s for s in found if s is not None]


def mostly_oom(st: WorkloadStats) -> bool:
    """At least half of the restarts were OOM kills, or an incident of the period ended in OOMKilled."""
    return (st.oom_kills > 0 and 2 * st.oom_kills >= st.restarts) or st.oom_incidents > 0


def memory_suggestion(st: WorkloadStats, policy: Policy) -> Suggestion | None:
    if not mostly_oom(st):
        return None
    what = f"was OOMKilled {st.oom_kills} times" if st.oom_kills else f"had {st.oom_incidents} OOMKilled incident(s)"
    if not st.memory_limit or not st.container:
        text = f"{st.workload} {what} without a memory limit: set a memory request and limit"
        return Suggestion(st.namespace, st.workload, text, TOPIC_MEMORY, kind=st.kind)
    remedy, note = bump_memory_remedy(st.container, {"memory": st.memory_limit}, {}, policy)
    if remedy is None:
        text = f"{st.workload} {what} at {st.memory_limit}: {note}"
        return Suggestion(st.namespace, st.workload, text, TOPIC_MEMORY, kind=st.kind)
    text = f"{st.workload} {what} at {st.memory_limit}: consider {remedy.params['to']}"
    if st.kind not in WORKLOAD_KINDS:
        return Suggestion(st.namespace, st.workload, text, TOPIC_MEMORY, kind=st.kind)
    bump = str(RemedyId.BUMP_MEMORY)
    return Suggestion(st.namespace, st.workload, text, TOPIC_MEMORY, st.kind, bump, dict(remedy.params))


def branch_suggestion(st: WorkloadStats) -> Suggestion | None:
    advice = BRANCH_ADVICE.get(st.dominant_branch or "")
    if advice is None:
        return None
    return Suggestion(st.namespace, st.workload, advice.format(w=st.workload), TOPIC_BRANCH, kind=st.kind)


def worsening_suggestion(environment: str, st: WorkloadStats) -> Suggestion | None:
    """Restarts at least doubled and nothing was changed: someone should look."""
    if st.actions or st.restarts < 2 * max(st.restarts_before, 1) or mostly_oom(st) or st.dominant_branch:
        return None
    before = f"up from {st.restarts_before}" if st.restarts_before else "none the period before"
    text = (
        f"{st.workload}: {st.restarts} restarts ({before}) and no change recorded: "
        f"`/crashloop triage {environment} {st.workload}`"
    )
    return Suggestion(st.namespace, st.workload, text, TOPIC_TRIAGE, kind=st.kind)
