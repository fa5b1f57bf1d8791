"""The guard's last step: apply a confirmed (and, where required, approved) change, and never leave it half done.

The patch carries the resourceVersion it was previewed against (`bot.guard.executor`): a 409 re-reads, previews
again and asks the requester to confirm again; a lost answer (timeout, dropped connection, 5xx) re-reads the
workload and compares it with the patch sent: in place → `applied` and verified, absent → `failed`, and a re-read
that fails leaves the outcome unknown (audited `outcome_unknown`, told, the workload's lock kept until a later
re-read settles it as `applied` or `failed`); any other failure ends the change as `failed`, audited and told.
The patch is kept (sealed) in SQL before it is sent (`bot.guard.held`), so a process killed mid-apply leaves what
it sent for whoever settles the change (`bot.guard.verify`). Netcheck, not a patch, runs its pod here; a silence
(or its expiry) is sent to Alertmanager by `bot.guard.silencing`. An applied change is handed to the verifier.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.metrics import Metrics
from bot.core.sealing import SealError, unseal
from bot.guard.executor import Executor, LostAnswer, Target, not_allowed
from bot.guard.held import seal_patch
from bot.guard.notifier import Notifier
from bot.guard.outcomes import Applied, Conflict, Failed, Refused, Rule, Uncertain, Verified
from bot.guard.silencing import Silencing
from bot.guard.trail import Actor, Trail
from bot.guard.verify import Verifier, netcheck_verdict
from bot.kube.client import KubeConfigError, KubeError, KubeObject
from bot.remedies.patches import NetcheckResult, PatchPlan, PlanError
from bot.remedies.registry import is_silencing
from bot.store.changes import ChangeRow, ChangeStore

log = logging.getLogger("crashloop.guard")

SETTLED_APPLIED = ("verifying", "verified", "not_recovered", "unverified")  # states past a recorded `applied`
ApplyOutcome = Applied | Verified | Failed | Uncertain | Conflict | Refused


class Applier:
    def __init__(
        self,
        *,
        changes: ChangeStore,
        executor: Executor,
        notifier: Notifier,
        metrics: Metrics,
        trail: Trail,
        verifier: Verifier,
        silencing: Silencing,
        secret: str,
        preview_ttl: timedelta,
        approval_needed: Callable[[ChangeRow], Awaitable[bool]],
    ) -> None:
        self.changes, self.executor, self.notifier, self.metrics = changes, executor, notifier, metrics
        self.trail, self.verifier, self.secret, self.silencing = trail, verifier, secret, silencing
        self.preview_ttl, self.approval_needed = preview_ttl, approval_needed

    async def apply(self, actor: Actor, change: ChangeRow) -> ApplyOutcome:
        """Apply `change` (in state `applying`); any failure ends it as `failed`, audited."""
        try:
            return await self._apply_now(actor, change)
        except asyncio.CancelledError:
            await asyncio.shield(self._interrupted(actor, change))
            raise
        except Exception as exc:
            extra = {"incident_id": change.incident_id, "workload": change.workload, "remedy": change.remedy}
            log.exception("applying change %s failed", change.id, extra={**extra, "user": actor.id})
            return await self.failed(actor, change, f"{type(exc).__name__}: {exc}")

    async def _apply_now(self, actor: Actor, change: ChangeRow) -> ApplyOutcome:
        target = Target(change.environment, change.kind, change.namespace, change.workload)
        if change.remedy == "netcheck":
            return await self._netcheck(actor, change, target)
        if is_silencing(change.remedy):
            return await self.silencing.apply(actor, change, self.failed)
        try:
            obj, _ = await self.executor.read(target)
            meta = obj.get("metadata") or {}
            if change.generation is not None and meta.get("generation") != change.generation:
                why = (
                    f"{change.namespace}/{change.workload} changed since the preview (generation "
                    f"{change.generation} → {meta.get('generation')}); nothing applied; press Re-run triage"
                )
                return await self.failed(actor, change, why)
            params, version = self._params(change), str(meta.get("resourceVersion"))
            result = await self.executor.apply(
                target, change.remedy, params, version, before_send=self._keep_sent(change)
            )
        except (PlanError, SealError) as exc:
            return await self.failed(actor, change, str(exc))
        except LostAnswer as exc:
            return await self._lost_answer(actor, change, target, exc)
        except KubeError as exc:
            if exc.status == 409 or (exc.status == 422 and "test" in exc.message.lower()):
                return await self._conflict(actor, change)
            return await self.failed(
                actor, change, not_allowed(exc) if exc.status == 403 else f"{exc.short}: {exc.message}"
            )
        return await self._applied(actor, change, result)

    async def _applied(self, actor: Actor, change: ChangeRow, result: KubeObject, lost: str = "") -> Applied:
        new_meta = result.get("metadata") or {}
        detail = f"applied: generation {new_meta.get('generation')}, resourceVersion {new_meta.get('resourceVersion')}"
        detail = f"{lost}; {detail}" if lost else detail
        moved = await self.changes.move(change.id, ["applying"], "verifying")
        if moved is None:  # settled meanwhile by a re-read elsewhere (this instance was taken for dead)
            now = await self.changes.get(change.id) or change
            if now.state in SETTLED_APPLIED:
                return Applied(now, detail)  # recorded, told and watched there: not twice
            # settled `failed` before the answer came: the audit must still say the patch is in the workload
            detail = f"{detail}; it had been recorded {now.state} meanwhile: check the workload"
            log.warning("change %s was applied after it had been settled as %s", change.id, now.state)
        moved = moved or change
        await self.trail.record(actor, "applied", "ok", moved, detail=detail)
        self.metrics.actions.labels(change.remedy, "applied").inc()
        applied = Applied(moved, detail)
        await self.notifier.announce(applied)
        self.verifier.watch(moved)
        return applied

    async def _lost_answer(self, actor: Actor, change: ChangeRow, target: Target, exc: LostAnswer) -> ApplyOutcome:
        """The PATCH was sent but its answer lost: re-read and compare the workload with the patch sent."""
        lost = f"the answer to the PATCH was lost ({exc.short}: {exc.message})"
        found = await self.verifier.reread(target, exc.patch)
        if found.found and found.live is not None:
            return await self._applied(actor, change, found.live, f"{lost}; {found.detail}")
        if found.found is False:
            return await self.failed(actor, change, f"{lost}; {found.detail}")
        why = (
            f"{lost}, and {found.detail}: it is unknown whether the change was applied. The workload stays locked "
            "for other changes until a re-read settles it; check the workload before acting on it"
        )
        held = await self.changes.move(change.id, ["applying"], "applying", detail=why) or change
        self.verifier.hold(change.id)
        await self.trail.record(actor, "outcome_unknown", "error", held, detail=why)
        self.metrics.actions.labels(change.remedy, "unknown").inc()
        uncertain = Uncertain(held, why)
        await self.notifier.announce(uncertain)
        return uncertain

    def _keep_sent(self, change: ChangeRow) -> Callable[[PatchPlan], Awaitable[None]]:
        """Keep the patch about to be sent on the change, sealed, in SQL; a change that moved on sends nothing."""

        async def keep(patch: PatchPlan) -> None:
            sealed = seal_patch(self.secret, patch)
            if await self.changes.move(change.id, ["applying"], "applying", held_patch=sealed) is None:
                raise PlanError("the change moved on before its patch was sent; nothing applied")

        return keep

    async def _interrupted(self, actor: Actor, change: ChangeRow) -> None:
        """Shutdown mid-apply: a change whose patch was never sent failed; one whose patch may have landed is left
        `applying`, for the settling re-read of a live (or the restarted) instance once this one is gone."""
        now = await self.changes.get(change.id)
        if now is not None and now.state == "applying" and now.held_patch:
            log.warning("shutdown while applying change %s: left for the settling re-read", change.id)
            return
        await self.failed(actor, change, "interrupted while applying (shutdown): nothing applied")

    def _params(self, change: ChangeRow) -> dict[str, Any]:
        literal = unseal(self.secret, change.sealed_value) if change.sealed_value else None
        return with_literal(change.params, literal)

    async def _conflict(self, actor: Actor, change: ChangeRow) -> Conflict | Failed | Refused:
        """409: the workload moved under us. Re-read, preview again, ask again."""
        target = Target(change.environment, change.kind, change.namespace, change.workload)
        detail = "409 Conflict: the workload changed; re-read and asked again"
        await self.trail.record(actor, "failed", "error", change, detail=detail)
        try:
            preview = await self.executor.preview(target, change.remedy, self._params(change))
        except (KubeError, KubeConfigError, PlanError, SealError) as exc:
            return await self.failed(actor, change, f"after a conflict the preview failed: {exc}")
        moved = await self.changes.move(
            change.id,
            ["applying"],
            "previewed",
            diff=preview.diff,
            summary=preview.plan.summary,
            generation=preview.generation,
            expires_at=datetime.now(UTC) + self.preview_ttl,
        )
        if moved is None:
            return Refused(Rule.STATE, "the change moved on meanwhile", change=change)
        approval = await self.approval_needed(moved)  # the environment's rule or a remedy loop, as at confirm
        if actor.id != moved.requested_by:  # the approver clicked: the requester confirms again
            conflict = Conflict(moved, approval, requester_asked=True)
            await self.notifier.to_requester(moved, conflict)
            return conflict
        return Conflict(moved, approval, requester_asked=False)

    async def failed(self, actor: Actor, change: ChangeRow, why: str) -> Failed:
        moved = await self.changes.move(change.id, ["applying", "previewed", "awaiting_approval"], "failed", detail=why)
        await self.trail.record(actor, "failed", "error", change, detail=why)
        self.metrics.actions.labels(change.remedy, "failed").inc()
        failed = Failed(moved or change, why)
        await self.notifier.announce(failed)
        return failed

    async def _netcheck(self, actor: Actor, change: ChangeRow, target: Target) -> Verified | Failed:
        host, port = str(change.params["host"]), port_of(change.params)
        try:
            result = await self.executor.netcheck(target, host, port, dry_run=False)
        except (KubeError, PlanError) as exc:
            why = not_allowed(exc) if isinstance(exc, KubeError) and exc.status == 403 else str(exc)
            return await self.failed(actor, change, why)
        assert isinstance(result, NetcheckResult)
        verdict = netcheck_verdict(host, port, result)
        moved = await self.changes.move(change.id, ["applying"], "verified", detail=verdict)
        await self.trail.record(actor, "applied", "ok", change, detail="netcheck pod ran and was deleted")
        await self.trail.record(actor, "verified", "ok", change, detail=verdict)
        self.metrics.actions.labels("netcheck", "applied").inc()
        done = Verified(moved or change, verdict, tuple(result.lines))
        await self.notifier.announce(done)
        return done


def port_of(params: dict[str, Any]) -> int | None:
    """The netcheck port as a number (None: no port); PlanError for anything else."""
    port = params.get("port")
    if port in (None, ""):
        return None
    if not str(port).isdigit() or not 0 < int(port) < 65536:
        raise PlanError(f"port {port!r} is not a number from 1 to 65535")
    return int(port)


def with_literal(params: dict[str, Any], literal: str | None) -> dict[str, Any]:
    """The parameters with a set_env literal value added back (it is stored sealed, apart from them)."""
    return {**params, "value": literal} if literal is not None else dict(params)
