"""The patch a change is sending, kept sealed in SQL while it is in flight, so a crash cannot lose what was sent.

To settle a change left `applying` — its PATCH answer lost, or its process killed mid-apply — the settler asks
"is the patch that was sent in the live workload?" (`bot.guard.inplace`), which needs that exact patch. It is
written before the PATCH leaves, sealed like a set_env literal (a rollout_undo patch carries a whole previous pod
template, a set_env patch a literal value: neither is stored in clear), so a restarted process or a surviving
replica, holding the same key, can open it. A patch sealed by `crashloop act` (a key of its own run) cannot be
opened elsewhere: the settler then falls back to the workload's generation.
"""

from __future__ import annotations

import json
from typing import Any

from bot.core.sealing import SealError, seal, unseal
from bot.remedies.patches import PatchPlan


def seal_patch(secret: str, patch: PatchPlan) -> str:
    """`patch` as a sealed token for `changes.held_patch`."""
    plain = {"patch_type": patch.patch_type, "body": patch.body, "summary": patch.summary}
    return seal(secret, json.dumps(plain, separators=(",", ":")))


def open_patch(secret: str, token: str | None) -> PatchPlan | None:
    """The patch held in `token`; None when there is none or it cannot be opened with `secret`."""
    if not token:
        return None
    try:
        plain: dict[str, Any] = json.loads(unseal(secret, token))
        return PatchPlan(plain["patch_type"], plain["body"], str(plain.get("summary") or ""))
    except (SealError, ValueError, KeyError, TypeError):
        return None
