"""After an apply: watch the pods until they are Ready and restarts stop, and say how it ended.

In the bot this is singleton work: the leader watches in the background (and picks up changes another replica
applied, or that were in flight when a replica died); every outcome is recorded with a conditional update so
two watchers record it once. The terminal waits for it inline and prints what it waits for.

It also settles a PATCH whose answer was lost (`reread`): the workload is read again and compared with the patch
that was sent; a change whose re-read failed stays `applying` (holding its workload's lock) until the resume loop's
next re-read settles it. The held patch lives in this process: after a restart (or from `crashloop act`, which
exits) the change is settled like any interrupted apply, by its generation after five minutes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.core.metrics import Metrics
from bot.guard.executor import Executor, Recovery, Target
from bot.guard.inplace import in_place
from bot.guard.notifier import Notifier
from bot.guard.outcomes import Applied, Failed, NotRecovered, Verified
from bot.kube.client import KubeConfigError, KubeError, KubeObject
from bot.remedies.patches import NetcheckResult, PatchPlan
from bot.remedies.registry import is_silencing
from bot.store.changes import ChangeRow, ChangeStore

REREAD_DELAYS = (0.5, 1.0, 2.0)  # backoff between re-reads after a lost PATCH answer: ~3.5 s in all


@dataclass(frozen=True)
class Reread:
    """What re-reading the workload after a lost PATCH answer found (`found` None: the re-read itself failed)."""

    found: bool | None
    live: KubeObject | None
    detail: str


class Recorder(Protocol):
    """Audits a step; `by` is who watched (None: the bot)."""

    async def __call__(
        self, action: str, outcome: str, change: ChangeRow, *, detail: str, by: object | None = None
    ) -> None: ...


class Verifier:
    def __init__(
        self,
        *,
        executor: Executor,
        changes: ChangeStore,
        notifier: Notifier,
        metrics: Metrics,
        record: Recorder,
        within: float,
        stable: float,
        interval: float,
        is_leader: Callable[[], bool],
        background: bool,
    ) -> None:
        self.executor, self.changes, self.notifier, self.metrics = executor, changes, notifier, metrics
        self.record = record
        self.within, self.stable, self.interval = within, stable, interval
        self.is_leader = is_leader
        self.background = background
        self._tasks: set[asyncio.Task[None]] = set()
        self._watching: set[str] = set()
        self._uncertain: dict[str, PatchPlan] = {}  # change id → the patch whose answer was lost
        self.reread_delays = REREAD_DELAYS

    async def verify(self, change: ChangeRow, by: object | None = None) -> Verified | NotRecovered | None:
        """Watch `change`'s workload; the outcome, recorded (as `by`, else the bot) and announced (None: another
        watcher recorded it)."""
        target = Target(change.environment, change.kind, change.namespace, change.workload)
        recovery: Recovery | None = None

        async def heard(state: Recovery) -> None:
            await self.notifier.progress(
                change, f"waiting for the pods to be Ready and restarts to stop: {state.detail}"
            )

        try:
            recovery = await self.executor.recovery(
                target, within=self.within, stable=self.stable, interval=self.interval, on_observe=heard
            )
            detail = recovery.detail
        except (KubeError, KubeConfigError) as exc:
            detail = f"could not watch the pods: {exc}"
        outcome: Verified | NotRecovered
        if recovery is not None and recovery.recovered:
            if await self.changes.move(change.id, ["verifying"], "verified", detail=detail) is None:
                return None  # another replica (a newer leader) already recorded the outcome
            await self.record("verified", "ok", change, detail=detail, by=by)
            outcome = Verified(change, f"{recovery.ready}/{recovery.desired} pods Ready, restarts stopped")
        else:
            if await self.changes.move(change.id, ["verifying"], "not_recovered", detail=detail) is None:
                return None
            await self.record("not_recovered", "error", change, detail=detail, by=by)
            outcome = NotRecovered(change, detail, await self._next_branch(change))
        self.metrics.actions.labels(
            change.remedy, "verified" if isinstance(outcome, Verified) else "not_recovered"
        ).inc()
        await self.notifier.announce(outcome)
        return outcome

    async def _next_branch(self, change: ChangeRow) -> str:
        try:
            result = await self.executor.triager.triage(change.environment, change.workload, namespace=change.namespace)
        except Exception as exc:  # the suggestion is a courtesy; the outcome is already recorded
            return f"(re-triage failed: {exc})"
        f = result.finding
        if f.branch is None:
            return f"Re-triage: {f.summary}"
        step = f.remedies[0].title if f.remedies else f.next_step
        return f"Re-triage now says: {f.summary} — next: {step}"

    async def reread(self, target: Target, patch: PatchPlan) -> Reread:
        """After a lost PATCH answer: re-read the workload (retrying with backoff) until the patch is in place.

        `found` is False when every re-read shows the workload without the change, None when none succeeded.
        """
        failure, live = "", None
        for delay in (0.0, *self.reread_delays):
            await asyncio.sleep(delay)
            try:
                live, _ = await self.executor.read(target)
            except (KubeError, KubeConfigError) as exc:
                failure = str(exc)
                continue
            if in_place(patch, live):
                return Reread(True, live, "re-read: the change is in place")
        if live is not None:
            return Reread(False, live, "re-read: the change is not in place; nothing applied")
        return Reread(None, None, f"the workload could not be re-read ({failure})")

    def hold(self, change_id: str, patch: PatchPlan) -> None:
        """Keep the patch of a change whose outcome is unknown, for the resume loop's next re-read."""
        self._uncertain[change_id] = patch

    async def landed_anyway(self, target: Target, change: ChangeRow) -> KubeObject | None:
        """After a timeout or a 5xx: the workload when its generation moved past the previewed one, else None."""
        try:
            obj, _ = await self.executor.read(target)
        except (KubeError, KubeConfigError):
            return None
        generation = (obj.get("metadata") or {}).get("generation")
        moved_on = change.generation is not None and isinstance(generation, int) and generation > change.generation
        return obj if moved_on else None

    def watch(self, change: ChangeRow) -> None:
        """In the bot, on the leader: verify in the background (a follower leaves it to the leader, via SQL)."""
        if not self.background or not self.is_leader() or change.id in self._watching:
            return
        self._watching.add(change.id)

        async def run() -> None:
            try:
                await self.verify(change)
            finally:
                self._watching.discard(change.id)

        task: asyncio.Task[None] = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def resume(self) -> int:
        """On the leader: watch every change applied but not yet verified (by another replica, or before a crash)."""
        if not self.is_leader():
            return 0
        await self._settle_interrupted()
        pending = [c for c in await self.changes.in_state("verifying") if c.id not in self._watching]
        for change in pending:
            self.watch(change)
        return len(pending)

    async def _settle_interrupted(self, after: timedelta = timedelta(minutes=5)) -> None:
        """Changes left in `applying` by a replica that died mid-apply: applied (watch them) or failed.

        A change whose PATCH answer was lost here (its patch held) is settled by a re-read at once, by the patch.
        """
        now = datetime.now(UTC)
        for change in await self.changes.in_state("applying"):
            if change.id in self._uncertain:
                await self._settle_uncertain(change, self._uncertain[change.id])
                continue
            if now - change.updated_at < after:
                continue
            if is_silencing(change.remedy):  # Alertmanager, not the workload, would show whether it landed
                why = "interrupted while talking to Alertmanager: check its silences for one this change created"
                if await self.changes.move(change.id, ["applying"], "failed", detail=why):
                    await self.record("failed", "error", change, detail=why)
                continue
            target = Target(change.environment, change.kind, change.namespace, change.workload)
            landed = await self.landed_anyway(target, change)
            if landed is not None and await self.changes.move(change.id, ["applying"], "verifying"):
                await self.record("applied", "ok", change, detail="found applied after an interrupted apply")
            elif await self.changes.move(change.id, ["applying"], "failed", detail="interrupted while applying"):
                await self.record("failed", "error", change, detail="interrupted while applying; not applied")

    async def _settle_uncertain(self, change: ChangeRow, patch: PatchPlan) -> None:
        target = Target(change.environment, change.kind, change.namespace, change.workload)
        found = await self.reread(target, patch)
        if found.found is None:
            return  # still unknown: the change keeps the workload's lock until a re-read succeeds
        self._uncertain.pop(change.id, None)
        if found.found:
            moved = await self.changes.move(change.id, ["applying"], "verifying")
            if moved is not None:
                detail = f"the PATCH answer was lost; a later {found.detail}: applied"
                await self.record("applied", "ok", moved, detail=detail)
                await self.notifier.announce(Applied(moved, detail))
                self.watch(moved)
            return
        why = f"the PATCH answer was lost; a later {found.detail}"
        moved = await self.changes.move(change.id, ["applying"], "failed", detail=why)
        if moved is not None:
            await self.record("failed", "error", moved, detail=why)
            await self.notifier.announce(Failed(moved, why))

    async def drain(self, within: float) -> None:
        """Wait for in-flight verifications (shutdown); unfinished ones stay `verifying` in SQL."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=within)


def netcheck_verdict(host: str, port: int | None, r: NetcheckResult) -> str:
    dns = f"DNS {host} → {r.address}" if r.dns_ok else f"DNS {host} does not resolve"
    if port is None:
        return dns
    tcp = (
        f"TCP {port} reachable"
        if r.tcp_ok
        else f"TCP {port} refused or filtered: the dependency is down or a NetworkPolicy blocks it"
    )
    return f"{dns}; {tcp}"
