"""Every remedy says where the runbook goes when it was applied and the crash came back (the remedy-loop guard)."""

from __future__ import annotations

import pytest

from bot.remedies.next_branch import NEXT_BRANCH, next_branch
from runbooks.model import BRANCH_TITLES, RemedyId


@pytest.mark.parametrize("remedy", list(RemedyId), ids=str)
def test_every_remedy_has_a_next_branch(remedy: RemedyId) -> None:
    entry = next_branch(remedy)
    assert entry is not None, f"{remedy}: no entry in bot/remedies/next_branch.py"
    assert entry.remedy is remedy
    assert entry.branch in BRANCH_TITLES
    assert len(entry.check) > 40, f"{remedy}: say what to check, not just where"
    assert entry.text.startswith(f"{BRANCH_TITLES[entry.branch]}: ")


def test_only_remedies_that_change_the_workload_are_guarded() -> None:
    assert {r for r, n in NEXT_BRANCH.items() if not n.guarded} == {
        RemedyId.NETCHECK,
        RemedyId.SILENCE,
        RemedyId.UNSILENCE,
    }
    assert "leak" in NEXT_BRANCH[RemedyId.BUMP_MEMORY].check
    assert "start-up" in NEXT_BRANCH[RemedyId.PATCH_PROBES].check
    assert next_branch("not_a_remedy") is None
