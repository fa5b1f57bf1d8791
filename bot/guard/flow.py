"""The one guard around every remedy, whichever door it comes through: request → preview → confirm → approve → apply.

Buttons and forms, the slash command and `crashloop act` all call this class and only render what it returns
(`bot.guard.outcomes`); it speaks no Slack. Every rule lives here, in this order:
1. the proposal (single use, 15 minutes, bound to the workload's generation at triage) or the change exists;
2. the actor is a responder for the environment (groups re-read uncached right before anything is applied);
3. read-only mode is off;
4. every parameter is within what the environment allows (`bot.guard.preview`) — a refusal here does not use
   the proposal up: the person corrects the value and submits again;
5. one change per workload at a time; the API server dry-runs the patch; a proposal or preview whose workload
   moved on is stale; a door that cannot carry an approval is refused where one is required;
6. a *different* responder approves where the environment requires it, or where the same remedy was applied to
   the workload within `guard.remedy_repeat_days` (a remedy loop, `bot.guard.repeats`: the messages say what was
   done before and what to check next); requests and previews expire;
7. the patch carries the previewed resourceVersion (`bot.guard.apply`), then recovery is verified
   (`bot.guard.verify`).
Every step — and every refusal — is an audit row (`bot.guard.trail`). Replayed clicks and retries move a change
once: each step is a conditional update in SQL, and a step on a change that moved on is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.alertmanager.environments import Alertmanagers
from bot.core.config import Config
from bot.core.metrics import Metrics
from bot.core.sealing import seal
from bot.guard.access import AccessControl, Role
from bot.guard.apply import Applier, with_literal
from bot.guard.executor import Executor, Target
from bot.guard.notifier import Notifier
from bot.guard.outcomes import (
    AwaitingApproval,
    Ended,
    MayRequest,
    NotRecovered,
    Previewed,
    Refused,
    Rule,
    StepOutcome,
    Verified,
)
from bot.guard.preview import Previewer, busy
from bot.guard.repeats import LOOP_MARK, Repeat, Repeats, Subject
from bot.guard.silencing import Silencing
from bot.guard.trail import BOT, Actor, Refusal, Stop, Trail
from bot.guard.verify import Verifier
from bot.kube.client import KubeConfigError, KubeError
from bot.remedies.registry import is_silencing, title_of
from bot.store import Store
from bot.store.audit import AuditLog
from bot.store.changes import ActiveChangeExists, ChangeRow
from bot.store.rows import ProposalRow


@dataclass(frozen=True)
class GuardSettings:
    preview_ttl: timedelta = timedelta(minutes=15)
    approval_ttl: timedelta = timedelta(minutes=30)
    verify_timeout: float = 180.0
    verify_stable: float = 20.0
    verify_interval: float = 2.0


def guard_settings(config: Config) -> GuardSettings:
    a = config.actions
    return GuardSettings(
        preview_ttl=timedelta(minutes=a.proposal_minutes),
        approval_ttl=timedelta(minutes=a.approval_minutes),
        verify_timeout=a.verify_timeout_seconds,
        verify_stable=a.verify_stable_seconds,
        verify_interval=a.verify_interval_seconds,
    )


class Guard:
    """The change flow's one entry: each public method is a step a door asks for, and returns an outcome."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        audit: AuditLog,
        access: AccessControl,
        executor: Executor,
        notifier: Notifier,
        metrics: Metrics,
        signing_secret: str,
        alertmanagers: Alertmanagers | None = None,
        settings: GuardSettings | None = None,
        is_leader: Callable[[], bool] = lambda: True,
        background_verify: bool = True,
    ) -> None:
        """`is_leader`: whether this replica does the singleton work (recovery checks, see bot.kube.leader);
        `background_verify`: watch recovery in the background (the bot) or leave it to `verify` (the terminal)."""
        self.config, self.store, self.access = config, store, access
        self.executor, self.notifier = executor, notifier
        self.secret = signing_secret
        self.settings = s = settings or GuardSettings()
        self.trail = Trail(audit=audit, access=access, metrics=metrics)
        self.verifier = Verifier(
            executor=executor,
            changes=store.changes,
            notifier=notifier,
            metrics=metrics,
            record=self._record,
            secret=signing_secret,
            within=s.verify_timeout,
            stable=s.verify_stable,
            interval=s.verify_interval,
            is_leader=is_leader,
            background=background_verify,
        )
        self.silencing = Silencing(
            config=config,
            alertmanagers=alertmanagers or Alertmanagers(config),
            executor=executor,
            silences=store.silences,
            changes=store.changes,
            trail=self.trail,
            notifier=notifier,
            metrics=metrics,
        )
        self.checks = Previewer(config=config, executor=executor, changes=store.changes, silencing=self.silencing)
        self.repeats = Repeats(store=store, triager=executor.triager, days=config.guard.remedy_repeat_days)
        self.applier = Applier(
            changes=store.changes,
            executor=executor,
            notifier=notifier,
            metrics=metrics,
            trail=self.trail,
            verifier=self.verifier,
            silencing=self.silencing,
            secret=signing_secret,
            preview_ttl=s.preview_ttl,
            approval_needed=self._approval_needed_for,
        )

    # --- the door's first question: may this actor change workloads here at all? ---------------------------

    async def admit(self, actor: Actor, environment: str, workload: str, remedy: str) -> Refused | None:
        """Before a door reads the cluster on the actor's behalf (slash command, CLI): role and read-only."""
        decision = await self.access.role(actor.id, environment)
        if decision.role < Role.RESPONDER:
            why = f"you may not change workloads in {environment}: {decision.why} (responders only)"
            return await self.trail.refuse_early(actor, environment, workload, remedy, Refusal(Rule.ROLE, why))
        if self.config.limits.read_only:
            why = f"{remedy} refused: the bot is in read-only mode (limits.read_only)"
            return await self.trail.refuse_early(actor, environment, workload, remedy, Refusal(Rule.READ_ONLY, why))
        return None

    # --- request: the proposal, who, parameters, preview -------------------------------------------------------

    async def may_request(self, actor: Actor, proposal_id: str) -> MayRequest | Refused:
        """The proposal when `actor` may act on it now, else a refusal (audited)."""
        proposal = await self.store.get_proposal(proposal_id)
        if proposal is None:
            return Refused(Rule.UNKNOWN, "this button refers to no known proposal; press Re-run triage for a fresh one")
        try:
            await self._proposal_allowed(actor, proposal)
        except Refusal as exc:
            return await self.trail.refuse(actor, proposal, exc)
        return MayRequest(proposal)

    async def check_params(
        self, actor: Actor, proposal_id: str, overrides: dict[str, Any], *, literal: str | None = None
    ) -> Refused | None:
        """The checks that need no cluster (limits, grammar): a form can show a refusal next to the field."""
        proposal = await self.store.get_proposal(proposal_id)
        if proposal is None:
            return Refused(Rule.UNKNOWN, "this form refers to no known proposal; press Re-run triage")
        params = with_literal({**proposal.params, **overrides}, literal)
        try:
            self.checks.static(proposal.remedy, params)
        except Refusal as exc:
            return await self.trail.refuse(actor, proposal, exc, params=params)
        return None

    async def request(
        self,
        actor: Actor,
        proposal_id: str,
        *,
        overrides: dict[str, Any] | None = None,
        literal: str | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
    ) -> Previewed | Refused:
        """Check everything, dry-run, use the proposal up and record the change; the actor confirms next."""
        proposal = await self.store.get_proposal(proposal_id)
        if proposal is None:
            return Refused(Rule.UNKNOWN, "this button refers to no known proposal; press Re-run triage for a fresh one")
        params = {**proposal.params, **(overrides or {})}
        repeat: Repeat | None = None
        try:
            await self._proposal_allowed(actor, proposal)
            await self.checks.one_change(proposal)
            repeat = await self.repeats.of(Subject.of(proposal))
            self._door_can_approve(proposal.environment, repeat)
            summary, diff = await self.checks.preview(proposal, params, literal)
        except Refusal as exc:
            return await self.trail.refuse(actor, proposal, exc, params=params)
        if not await self.store.use_proposal(proposal.id, actor.id):
            raced = Refusal(Rule.USED, "this proposal was used a moment ago (double click or retry)")
            return await self.trail.refuse(actor, proposal, raced, params=params)
        loop = repeat.audit_detail if repeat else None
        await self.trail.record(actor, "requested", "ok", proposal, params=params, detail=loop)
        try:
            change = await self.store.changes.create(
                ttl=self.settings.preview_ttl,
                proposal_id=proposal.id,
                incident_id=proposal.incident_id,
                environment=proposal.environment,
                namespace=proposal.namespace,
                workload=proposal.workload,
                kind=proposal.kind,
                remedy=proposal.remedy,
                params=params,
                sealed_value=seal(self.secret, literal) if literal is not None else None,
                generation=proposal.generation,
                requested_by=actor.id,
                requested_by_name=actor.name,
                summary=summary,
                diff=diff,
                channel=channel,
                thread_ts=thread_ts,
            )
        except ActiveChangeExists as exc:
            return await self.trail.refuse(actor, proposal, Refusal(Rule.ONE_CHANGE, busy(exc.existing)))
        await self.trail.record(actor, "previewed", "ok", proposal, params=params, diff=diff, change=change)
        return Previewed(change, self._approval_needed(change.environment) or repeat is not None, repeat)

    def _door_can_approve(self, environment: str, repeat: Repeat | None) -> None:
        """Refuse where an approval is required (by the environment, or by a remedy loop) and this door cannot
        carry one (the terminal)."""
        if self.notifier.carries_approvals:
            return
        if repeat is not None:
            raise Refusal(Rule.REPEAT, repeat.refusal)
        if self._approval_needed(environment):
            why = f"{environment} requires a second responder's approval, which this door cannot ask for"
            raise Refusal(Rule.APPROVAL, f"{why}: use the Slack flow")

    async def _proposal_allowed(self, actor: Actor, proposal: ProposalRow) -> None:
        what = f"{title_of(proposal.remedy)} on {proposal.namespace}/{proposal.workload}"
        decision = await self.access.role(actor.id, proposal.environment)
        if decision.role < Role.RESPONDER:
            raise Refusal(Rule.ROLE, f"you may not {what}: {decision.why} (responders only)")
        if self.config.limits.read_only:
            raise Refusal(Rule.READ_ONLY, f"{what} refused: the bot is in read-only mode (limits.read_only)")
        if proposal.used_at is not None:
            raise Refusal(Rule.USED, f"{what} was already requested by {proposal.used_by}")
        if proposal.expires_at <= datetime.now(UTC):
            expired = f"this proposal to {what} expired at {proposal.expires_at:%H:%M} UTC; press Re-run triage"
            raise Refusal(Rule.EXPIRED, expired)

    # --- confirm, approve, reject, cancel ---------------------------------------------------------------------

    async def confirm(self, actor: Actor, change_id: str) -> StepOutcome:
        """The requester confirms: sent for approval where required, else applied."""
        try:
            change = await self._current(actor, change_id)
            if actor.id != change.requested_by:
                why = f"only {change.requested_by}, who asked for it, can confirm this change"
                raise Stop(await self.trail.refuse(actor, change, Refusal(Rule.NOT_REQUESTER, why)))
            if change.state != "previewed":
                raise Stop(await self._moved_on(actor, change, "this change was already confirmed"))
            change = await self._unchanged(actor, await self._still_allowed(actor, change, "confirm"))
        except Stop as stop:
            return stop.outcome
        repeat = await self.repeats.of(Subject.of(change), change.created_at)
        if self._approval_needed(change.environment) or repeat is not None:
            expires = datetime.now(UTC) + self.settings.approval_ttl
            moved = await self.store.changes.move(change.id, ["previewed"], "awaiting_approval", expires_at=expires)
            if moved is None:
                return await self._moved_on(actor, change, "this change was already confirmed")
            waiting = AwaitingApproval(moved, repeat)
            await self.notifier.announce(waiting)
            return waiting
        moved = await self.store.changes.move(change.id, ["previewed"], "applying")
        if moved is None:
            return await self._moved_on(actor, change, "this change was already confirmed")
        return await self.applier.apply(actor, moved)

    async def approve(self, actor: Actor, change_id: str) -> StepOutcome:
        """A second responder approves: applied at once."""
        try:
            change = await self._current(actor, change_id)
            if change.state != "awaiting_approval":
                raise Stop(await self._moved_on(actor, change, "this change is not awaiting approval"))
            change = await self._still_allowed(actor, change, "approve")
            if actor.id == change.requested_by:
                why = "self-approval is not allowed: a different responder must approve"
                raise Stop(await self.trail.refuse(actor, change, Refusal(Rule.SELF_APPROVAL, why)))
            change = await self._unchanged(actor, change)
        except Stop as stop:
            return stop.outcome
        repeated = await self.repeats.previous(Subject.of(change), change.created_at)
        moved = await self.store.changes.move(
            change.id, ["awaiting_approval"], "applying", approved_by=actor.id, approved_by_name=actor.name
        )
        if moved is None:
            return await self._moved_on(actor, change, "this change is not awaiting approval")
        loop = f"{LOOP_MARK}: approved anyway, a repeat of change {repeated[0].change.id}" if repeated else None
        await self.trail.record(actor, "approved", "ok", moved, detail=loop)
        return await self.applier.apply(actor, moved)

    async def reject(self, actor: Actor, change_id: str) -> StepOutcome:
        """A responder rejects a change awaiting approval (or a preview)."""
        try:
            change = await self._current(actor, change_id)
            decision = await self.access.role(actor.id, change.environment)
            if decision.role < Role.RESPONDER:
                why = f"you may not reject: {decision.why} (responders only)"
                raise Stop(await self.trail.refuse(actor, change, Refusal(Rule.ROLE, why)))
        except Stop as stop:
            return stop.outcome
        moved = await self.store.changes.move(
            change.id, ["awaiting_approval", "previewed"], "rejected", detail=f"rejected by {actor.id}"
        )
        if moved is None:
            return await self._moved_on(actor, change, "nothing to reject")
        await self.trail.record(actor, "rejected", "ok", moved)
        ended = Ended(moved, actor.id, cancelled=False)
        await self.notifier.announce(ended)
        return ended

    async def cancel(self, actor: Actor, change_id: str) -> StepOutcome:
        """The requester withdraws the change: nothing is applied."""
        try:
            change = await self._current(actor, change_id)
            if actor.id != change.requested_by:
                why = f"only {change.requested_by} can cancel this change"
                raise Stop(await self.trail.refuse(actor, change, Refusal(Rule.NOT_REQUESTER, why)))
        except Stop as stop:
            return stop.outcome
        moved = await self.store.changes.move(change.id, ["previewed", "awaiting_approval"], "cancelled")
        if moved is None:
            return await self._moved_on(actor, change, "nothing to cancel")
        await self.trail.record(actor, "rejected", "ok", moved, detail="cancelled by the requester")
        return Ended(moved, actor.id, cancelled=True)

    async def status(self, change_id: str) -> ChangeRow | None:
        """The change as it is now (a door shows its state where its buttons were)."""
        return await self.store.changes.get(change_id)

    async def _current(self, actor: Actor, change_id: str) -> ChangeRow:
        """The change; a preview or approval request past its time is expired, and the step refused."""
        change = await self.store.changes.get(change_id)
        if change is None:
            raise Stop(Refused(Rule.UNKNOWN, "unknown change"))
        if change.state in ("previewed", "awaiting_approval") and change.expires_at <= datetime.now(UTC):
            await self.store.changes.move(change.id, [change.state], "expired")
            when = f"{change.expires_at:%H:%M} UTC"
            why = f"this {change.state.replace('_', ' ')} change expired at {when}; press Re-run triage"
            ended = await self.store.changes.get(change.id)
            raise Stop(await self.trail.refuse(actor, ended or change, Refusal(Rule.EXPIRED, why)))
        return change

    async def _still_allowed(self, actor: Actor, change: ChangeRow, step: str) -> ChangeRow:
        """Checked again at every step, group membership re-read uncached: right before an apply, a responder
        removed from their group, or read-only switched on, stops the change."""
        if self.config.limits.read_only:
            moved = await self.store.changes.move(
                change.id, ["previewed", "awaiting_approval"], "rejected", detail="read-only mode"
            )
            why = "the bot is in read-only mode (limits.read_only): nothing will be applied"
            raise Stop(await self.trail.refuse(actor, moved or change, Refusal(Rule.READ_ONLY, why)))
        decision = await self.access.role(actor.id, change.environment, fresh=True)
        if decision.role < Role.RESPONDER:
            why = f"you may not {step}: {decision.why} (responders only)"
            raise Stop(await self.trail.refuse(actor, change, Refusal(Rule.ROLE, why)))
        return change

    async def _unchanged(self, actor: Actor, change: ChangeRow) -> ChangeRow:
        """Refuse (and end) a change whose workload moved on since its preview: what was confirmed is not what
        would be applied. The resourceVersion precondition still catches a change in the last moment. A silence
        does not touch the workload: there is nothing to compare."""
        if is_silencing(change.remedy):
            return change
        target = Target(change.environment, change.kind, change.namespace, change.workload)
        try:
            obj, _ = await self.executor.read(target)
        except (KubeError, KubeConfigError) as exc:
            unreadable = Refusal(Rule.CLUSTER, f"the workload could not be read: {exc}")
            raise Stop(await self.trail.refuse(actor, change, unreadable)) from exc
        generation = (obj.get("metadata") or {}).get("generation")
        if change.generation is None or change.remedy == "netcheck" or generation == change.generation:
            return change
        moved = await self.store.changes.move(change.id, ["previewed", "awaiting_approval"], "rejected", detail="stale")
        why = (
            f"{change.namespace}/{change.workload} changed since the preview (generation {change.generation} → "
            f"{generation}): nothing applied; press Re-run triage"
        )
        raise Stop(await self.trail.refuse(actor, moved or change, Refusal(Rule.STALE, why)))

    async def _moved_on(self, actor: Actor, change: ChangeRow, why: str) -> Refused:
        """A step on a change that already moved on (a replay, a retry, a second click): refused, audited."""
        now = await self.store.changes.get(change.id) or change
        return await self.trail.refuse(actor, now, Refusal(Rule.STATE, f"{why} (it is {now.state} now)"))

    def _approval_needed(self, environment: str) -> bool:
        env = self.config.environments.get(environment)
        return bool(env and env.require_approval)

    async def _approval_needed_for(self, change: ChangeRow) -> bool:
        """The environment requires an approval, or the change repeats a remedy (the remedy-loop guard)."""
        if self._approval_needed(change.environment):
            return True
        return await self.repeats.previous(Subject.of(change), change.created_at) is not None

    # --- after an apply: recovery ---------------------------------------------------------------------------

    async def verify(self, actor: Actor, change_id: str) -> Verified | NotRecovered | Refused:
        """Watch an applied change's workload until it recovers or the time is up (the terminal waits here)."""
        change = await self.store.changes.get(change_id)
        if change is None or change.state != "verifying":
            return Refused(Rule.STATE, f"change {change_id} is not waiting for verification")
        return await self.verifier.verify(change, actor) or Refused(Rule.STATE, "another watcher recorded the outcome")

    async def leave_unwatched(self, change_id: str) -> None:
        """The terminal asked not to wait: the change ends `unverified` and no longer holds the workload."""
        await self.store.changes.move(
            change_id, ["verifying"], "unverified", detail="recovery not watched (--no-verify)"
        )

    async def resume_verifications(self) -> int:
        """On the leader: watch every change applied but not yet verified."""
        return await self.verifier.resume()

    async def drain(self, within: float) -> None:
        """Wait for in-flight verifications (shutdown); unfinished ones stay `verifying` in SQL."""
        await self.verifier.drain(within)

    async def _record(
        self, action: str, outcome: str, change: ChangeRow, *, detail: str, by: object | None = None
    ) -> None:
        await self.trail.record(by if isinstance(by, Actor) else BOT, action, outcome, change, detail=detail)
