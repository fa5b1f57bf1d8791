"""Where the runbook goes next when a remedy was applied and the crash came back: one entry per remedy.

Applying the same remedy again is the classic chat-ops loop (raise memory, OOMKilled again, raise it again while
the leak continues). When the guard (`bot.guard.repeats`) sees a remedy repeated on a workload it quotes the
entry here instead of offering the same one-click change: the runbook branch to move to and what to check
there. Kept as data beside the remedy specs (`bot.remedies.registry`); `tests/unit/test_next_branch.py` fails
if a `RemedyId` has no entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from runbooks.model import BRANCH_TITLES, Branch, RemedyId


@dataclass(frozen=True)
class NextBranch:
    """What to check when `remedy` did not hold; `guarded` False: repeating it is harmless (it changes nothing)."""

    remedy: RemedyId
    branch: Branch
    check: str
    guarded: bool = True

    @property
    def text(self) -> str:
        """e.g. "App & env: a leak — …"."""
        return f"{BRANCH_TITLES[self.branch]}: {self.check}"


NEXT_BRANCH: dict[RemedyId, NextBranch] = {
    n.remedy: n
    for n in (
        NextBranch(
            RemedyId.BUMP_MEMORY,
            Branch.APP_ENV,
            "more memory did not hold, so suspect a leak: compare the heap with the last run (heap dump or profile, "
            "`kubectl top pod`), and roll back the last release if the growth began with it",
        ),
        NextBranch(
            RemedyId.PATCH_PROBES,
            Branch.APP_ENV,
            "relaxed probes did not hold, so look at the app's start-up itself: what it waits for or spends the "
            "time on (`logs --previous` of the killed run, its dependencies) rather than relaxing them again",
        ),
        NextBranch(
            RemedyId.SET_ENV,
            Branch.IMAGE_CONFIG,
            "the variable is set and it still crashes: read `logs --previous` again — the value may be wrong or the "
            "app may read another name; compare the Secret/ConfigMap with the last working release",
        ),
        NextBranch(
            RemedyId.SET_IMAGE,
            Branch.APP_ENV,
            "another image did not hold, so the cause is not the image: check its configuration, env and the "
            "dependencies it needs at start-up",
        ),
        NextBranch(
            RemedyId.ROLLOUT_UNDO,
            Branch.NETWORKING_DEPS,
            "rolling back did not hold, so the release was not the cause: check its dependencies (DNS, "
            "NetworkPolicy, databases) and configuration changed outside the release",
        ),
        NextBranch(
            RemedyId.ROLLOUT_RESTART,
            Branch.RESOURCES,
            "a restart only clears what builds up: find what grows until it crashes (memory, connections, disk) "
            "or the dependency it loses",
        ),
        NextBranch(
            RemedyId.SERVICE_ACCOUNT,
            Branch.RBAC_MOUNTS,
            "another service account did not hold: the Role bound to it lacks the verb, or a volume mount fails — "
            "review the proposed Role/RoleBinding and the mounts",
        ),
        NextBranch(
            RemedyId.NETCHECK,
            Branch.NETWORKING_DEPS,
            "the check only reads: fix the dependency or the NetworkPolicy, or gate start-up with an init "
            "container that waits for it",
            guarded=False,  # a throwaway pod that changes nothing in the workload: running it twice is not a loop
        ),
        NextBranch(
            RemedyId.SILENCE,
            Branch.APP_ENV,
            "a silence only hides the alerts while the workload keeps crashing: go back to the diagnosis in the "
            "thread and take the branch it names, or hand the incident over before the silence ends",
            guarded=False,  # changes Alertmanager, not the workload: silencing again is not a remedy that failed
        ),
        NextBranch(
            RemedyId.UNSILENCE,
            Branch.APP_ENV,
            "ending a silence changes nothing in the workload: if it still crashes, follow the diagnosis in the "
            "thread and take the branch it names",
            guarded=False,  # expires a silence: nothing in the workload to loop on
        ),
    )
}


def next_branch(remedy: str | RemedyId) -> NextBranch | None:
    """The entry for `remedy`, None for an id the bot does not know (old audit rows)."""
    try:
        return NEXT_BRANCH.get(RemedyId(remedy))
    except ValueError:
        return None
