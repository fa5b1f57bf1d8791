"""After an apply: watch the pods until they are Ready and restarts stop, and say how it ended.

In the bot this is singleton work: the leader watches in the background (and picks up changes another replica
applied, or that were in flight when a replica died); every outcome is recorded with a conditional update so
two watchers record it once. The terminal waits for it inline and prints what it waits for.

It also settles changes left `applying` (`settle_abandoned`, on every instance, every poll): those of an instance
that stopped beating (killed mid-apply; this process's own previous incarnation after a restart) within the
heartbeat's `dead_after` plus a poll, and this process's own PATCHes whose answer was lost and whose re-read
failed. Settling re-reads the workload and compares it with the exact patch sent, kept sealed in SQL
(`bot.guard.held`): in place → `applied`, watched; absent → `failed`, the workload's lock released; audited and
told in the thread either way. A re-read that fails leaves the change `applying` (locked) for the next poll. Without
a patch it can open (one written before migration 0010, or sealed by `crashloop act` with a key of its own run),
the workload's generation decides: moved past the previewed one → applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from bot.core.metrics import Metrics
from bot.guard.executor import Executor, Recovery, Target
from bot.guard.held import open_patch
from bot.guard.inplace import in_place
from bot.guard.notifier import Notifier
from bot.guard.outcomes import Applied, Failed, NotRecovered, Verified
from bot.kube.client import KubeConfigError, KubeError, KubeObject
from bot.remedies.patches import NetcheckResult, PatchPlan
from bot.remedies.registry import is_silencing
from bot.store.changes import ChangeRow, ChangeStore

REREAD_DELAYS = (0.5, 1.0, 2.0)  # backoff between re-reads after a lost PATCH answer: ~3.5 s in all
UNOWNED_AFTER = timedelta(minutes=5)  # a change `applying` with no recorded applier (written before 0006)


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
        secret: str,
        within: float,
        stable: float,
        interval: float,
        is_leader: Callable[[], bool],
        background: bool,
    ) -> None:
        self.executor, self.changes, self.notifier, self.metrics = executor, changes, notifier, metrics
        self.record, self.secret = record, secret
        self.within, self.stable, self.interval = within, stable, interval
        self.is_leader = is_leader
        self.background = background
        self._tasks: set[asyncio.Task[None]] = set()
        self._watching: set[str] = set()
        self._uncertain: set[str] = set()  # changes of this process whose PATCH answer was lost, re-read failed
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

    def hold(self, change_id: str) -> None:
        """This process gave up on a change whose outcome is unknown: the resume loop's re-reads settle it."""
        self._uncertain.add(change_id)

    async def by_generation(self, target: Target, change: ChangeRow) -> Reread:
        """Without the patch sent: applied when the workload's generation moved past the previewed one."""
        try:
            obj, _ = await self.executor.read(target)
        except (KubeError, KubeConfigError) as exc:
            return Reread(None, None, f"the workload could not be re-read ({exc})")
        generation = (obj.get("metadata") or {}).get("generation")
        if change.generation is not None and isinstance(generation, int) and generation > change.generation:
            return Reread(True, obj, f"re-read: the generation moved past the previewed {change.generation}")
        return Reread(False, obj, "re-read: the workload is as previewed; nothing applied")

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
        """Settle the changes left `applying` (any instance may), then, on the leader, watch every change applied
        but not yet verified (by another replica, or before a crash). Returns how many it started watching."""
        await self.settle_abandoned()
        if not self.is_leader():
            return 0
        pending = [c for c in await self.changes.in_state("verifying") if c.id not in self._watching]
        for change in pending:
            self.watch(change)
        return len(pending)

    async def settle_abandoned(self) -> int:
        """Settle this process's unknown outcomes and the changes a dead instance left `applying`; how many."""
        mine = (
            [c for c in await self.changes.in_state("applying") if c.id in self._uncertain] if self._uncertain else []
        )
        settled = 0
        for change in mine:
            settled += await self._settle(change, "the answer to the PATCH was lost")
        for change in await self.changes.abandoned(unowned_after=UNOWNED_AFTER):
            applier = f"instance {change.applied_by}" if change.applied_by else "an instance"
            settled += await self._settle(change, f"{applier} stopped while applying it")
        return settled

    async def _settle(self, change: ChangeRow, why: str) -> int:
        """Re-read the workload: the patch sent in place → applied (and watched), else failed; 0 when unknown."""
        target = Target(change.environment, change.kind, change.namespace, change.workload)
        if (unpatched := _without_patch(change)) is not None:
            found = unpatched
        elif (patch := open_patch(self.secret, change.held_patch)) is not None:
            found = await self.reread(target, patch)
        else:
            found = await self.by_generation(target, change)
        if found.found is None:
            return 0  # still unknown: the change keeps the workload's lock until a re-read succeeds
        self._uncertain.discard(change.id)
        detail = f"{why}; {found.detail}"
        if found.found:
            moved = await self.changes.move(change.id, ["applying"], "verifying", detail=detail)
            if moved is None:
                return 0  # another instance settled it first
            await self.record("applied", "ok", moved, detail=f"{detail}: applied")
            self.metrics.actions.labels(change.remedy, "applied").inc()
            await self.notifier.announce(Applied(moved, f"{detail}: applied"))
            self.watch(moved)
            return 1
        moved = await self.changes.move(change.id, ["applying"], "failed", detail=detail)
        if moved is None:
            return 0
        await self.record("failed", "error", moved, detail=detail)
        self.metrics.actions.labels(change.remedy, "failed").inc()
        await self.notifier.announce(Failed(moved, detail))
        return 1

    async def drain(self, within: float) -> None:
        """Wait for in-flight verifications (shutdown); unfinished ones stay `verifying` in SQL."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=within)


def _without_patch(change: ChangeRow) -> Reread | None:
    """How a change that sends no workload patch is settled when left `applying` (None: it sends a patch)."""
    if change.remedy == "netcheck":  # its pod deletes itself (activeDeadlineSeconds): nothing changed
        return Reread(False, None, "the check was interrupted; nothing changed")
    if is_silencing(change.remedy):  # Alertmanager, not the workload, would show whether it landed
        return Reread(
            False, None, "interrupted while talking to Alertmanager: check its silences for one this change created"
        )
    return None


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
