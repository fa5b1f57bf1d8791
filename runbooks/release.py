"""The runbook's emergency mitigation: a crash that began right after a new revision is rolled back first.

A release is "fresh" when the current revision was created within `Policy.fresh_release_window_seconds` of the
triage, changed something that matters (image, env, resources, probes, command, service account — not just a
restart annotation), and the crashing pods belong to it while an older revision exists to go back to.
"""

from __future__ import annotations

from runbooks.model import Evidence, Policy, Reason


def fresh_release(ev: Evidence, policy: Policy) -> Reason | None:
    """A reason quoting what the new revision changed, or None when the release is not fresh."""
    rollout = ev.rollout
    if rollout is None or rollout.current is None or rollout.previous is None:
        return None
    current = rollout.current
    if current.created is None or ev.collected_at is None:
        return None
    age = (ev.collected_at - current.created).total_seconds()
    if age < 0 or age > policy.fresh_release_window_seconds:
        return None
    crashing_on_current = [p for p in ev.pods if p.failing and p.revision == current.name]
    if not crashing_on_current or not rollout.changes:
        return None  # a restart (`rollout restart`) makes a revision that changes nothing: not a release
    changed = "; ".join(c.line() for c in rollout.changes[:3]) or "the pod template"
    text = f"the crash began right after revision {current.number} was rolled out {_ago(age)} ago"
    return Reason(text, f"revision {current.number} changed {changed}", "rollout")


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)}s"
    if seconds < 7200:
        return f"{int(seconds // 60)}m"
    return f"{seconds / 3600:.1f}h"
