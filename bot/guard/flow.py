"""The one guard around every remedy, whichever door it comes through: request → preview → confirm → approve → apply.

Buttons and forms, the slash command and `crashloop act` all call this class and only render what it returns
(`bot.guard.outcomes`); it speaks no Slack. Every rule lives here, in this order:
1. the proposal (single use, 15 minutes, bound to the workload's generation at triage) or the change exists;
2. the actor is a responder for the environment (groups re-read uncached right before anything is applied);
3. read-only mode is off;
4. every parameter is within what the environment allows (`bot.remedies.validation`) — a refusal here does not
   use the proposal up: the person corrects the value and submits again;
5. one change per workload at a time; the API server dry-runs the patch; a proposal whose workload moved on is
   stale; a door that cannot carry an approval is refused where one is required;
6. a *different* responder approves where the environment requires it; requests expire;
7. the patch carries the previewed resourceVersion (409 re-reads and asks again), then recovery is verified
   (`bot.guard.verify`).
Every step — and every refusal — is an audit row. Replayed clicks and retries move a change once: each step is
a conditional update in SQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.config import Config
from bot.core.metrics import Metrics
from bot.core.sealing import SealError, seal, unseal
from bot.guard.access import AccessControl, Role
from bot.guard.executor import Executor, Target, not_allowed
from bot.guard.notifier import Notifier
from bot.guard.outcomes import (
    Applied,
    AwaitingApproval,
    Conflict,
    Ended,
    Failed,
    MayRequest,
    NotRecovered,
    Previewed,
    Refused,
    Rule,
    StepOutcome,
    Verified,
)
from bot.guard.verify import Verifier, netcheck_verdict
from bot.kube.client import KubeConfigError, KubeError, KubeObject
from bot.remedies import validation
from bot.remedies.patches import NetcheckResult, PlanError
from bot.remedies.registry import spec_of, title_of
from bot.store import Store
from bot.store.audit import AuditEvent, AuditLog
from bot.store.changes import ActiveChangeExists, ChangeRow
from bot.store.rows import ProposalRow

log = logging.getLogger("crashloop.guard")


@dataclass(frozen=True)
class Actor:
    """Who acts: a Slack user id, `cli:<user>` or `bot`."""

    id: str
    name: str | None = None


BOT = Actor("bot", "crashloop-bot")


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


def title(subject: ProposalRow | ChangeRow) -> str:
    """ "Bump memory · shop/ledger-api": what a change is about, in words."""
    return f"{title_of(subject.remedy)} · {subject.namespace}/{subject.workload}"


class _Refusal(Exception):
    """Raised inside a step: refuse by `rule` with `reason` (and the `field` to correct)."""

    def __init__(self, rule: Rule, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.rule, self.field = rule, field


class Guard:
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
        settings: GuardSettings | None = None,
        is_leader: Callable[[], bool] = lambda: True,
        background_verify: bool = True,
    ) -> None:
        """`is_leader`: whether this replica does the singleton work (recovery checks, see bot.kube.leader);
        `background_verify`: watch recovery in the background (the bot) or leave it to `verify` (the terminal)."""
        self.config, self.store, self.audit, self.access = config, store, audit, access
        self.executor, self.notifier, self.metrics = executor, notifier, metrics
        self.secret = signing_secret
        self.settings = settings or GuardSettings()
        s = self.settings
        self.verifier = Verifier(
            executor=executor,
            changes=store.changes,
            notifier=notifier,
            metrics=metrics,
            record=self._record,
            within=s.verify_timeout,
            stable=s.verify_stable,
            interval=s.verify_interval,
            is_leader=is_leader,
            background=background_verify,
        )

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
        await self._audit(by if isinstance(by, Actor) else BOT, action, outcome, change, detail=detail)

    # --- the door's first question: may this actor change workloads here at all? ---------------------------

    async def admit(self, actor: Actor, environment: str, workload: str, remedy: str) -> Refused | None:
        """Before a door reads the cluster on the actor's behalf (slash command, CLI): role and read-only."""
        decision = await self.access.role(actor.id, environment)
        why: tuple[Rule, str] | None = None
        if decision.role < Role.RESPONDER:
            why = Rule.ROLE, f"you may not change workloads in {environment}: {decision.why} (responders only)"
        elif self.config.limits.read_only:
            why = Rule.READ_ONLY, f"{remedy} refused: the bot is in read-only mode (limits.read_only)"
        if why is None:
            return None
        event = AuditEvent(
            action="denied",
            outcome="refused",
            actor_id=actor.id,
            actor_name=actor.name or await self.access.name_of(actor.id),
            environment=environment,
            namespace="",
            workload=workload,
            remedy=remedy,
            detail=why[1],
        )
        await self.audit.append(event)
        self.metrics.actions.labels(remedy, "denied").inc()
        return Refused(why[0], why[1])

    # --- 1–5: the proposal, who, parameters, preview ---------------------------------------------------------

    async def may_request(self, actor: Actor, proposal_id: str) -> MayRequest | Refused:
        """The proposal when `actor` may act on it now, else a refusal (audited)."""
        proposal = await self.store.get_proposal(proposal_id)
        if proposal is None:
            return Refused(Rule.UNKNOWN, "this button refers to no known proposal; press Re-run triage for a fresh one")
        try:
            await self._proposal_allowed(actor, proposal)
        except _Refusal as exc:
            return await self._refuse(actor, proposal, exc)
        return MayRequest(proposal)

    async def check_params(
        self, actor: Actor, proposal_id: str, overrides: dict[str, Any], *, literal: str | None = None
    ) -> Refused | None:
        """The checks that need no cluster (limits, grammar): a form can show a refusal next to the field."""
        proposal = await self.store.get_proposal(proposal_id)
        if proposal is None:
            return Refused(Rule.UNKNOWN, "this form refers to no known proposal; press Re-run triage")
        params = _with_literal({**proposal.params, **overrides}, literal)
        try:
            self._validate(proposal.remedy, params, validation.Limits(self.config.limits.max_memory))
        except _Refusal as exc:
            return await self._refuse(actor, proposal, exc, params=params)
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
        target = Target(proposal.environment, proposal.kind, proposal.namespace, proposal.workload)
        try:
            await self._proposal_allowed(actor, proposal)
            await self._one_change(proposal)
            if self._approval_needed(proposal.environment) and not self.notifier.carries_approvals:
                raise _Refusal(
                    Rule.APPROVAL,
                    f"{proposal.environment} requires a second responder's approval, which this door cannot ask "
                    "for: use the Slack flow",
                )
            summary, diff = await self._preview(target, proposal, params, literal)
        except _Refusal as exc:
            return await self._refuse(actor, proposal, exc, params=params)
        if not await self.store.use_proposal(proposal.id, actor.id):
            why = _Refusal(Rule.USED, "this proposal was used a moment ago (double click or retry)")
            return await self._refuse(actor, proposal, why, params=params)
        await self._audit(actor, "requested", "ok", proposal, params=params)
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
            return await self._refuse(actor, proposal, _Refusal(Rule.ONE_CHANGE, _busy(exc.existing)))
        await self._audit(actor, "previewed", "ok", proposal, params=params, diff=diff, change=change)
        return Previewed(change, self._approval_needed(change.environment))

    async def _proposal_allowed(self, actor: Actor, proposal: ProposalRow) -> None:
        what = f"{title_of(proposal.remedy)} on {proposal.namespace}/{proposal.workload}"
        decision = await self.access.role(actor.id, proposal.environment)
        if decision.role < Role.RESPONDER:
            raise _Refusal(Rule.ROLE, f"you may not {what}: {decision.why} (responders only)")
        if self.config.limits.read_only:
            raise _Refusal(Rule.READ_ONLY, f"{what} refused: the bot is in read-only mode (limits.read_only)")
        if proposal.used_at is not None:
            raise _Refusal(Rule.USED, f"{what} was already requested by {proposal.used_by}")
        if proposal.expires_at <= datetime.now(UTC):
            raise _Refusal(
                Rule.EXPIRED, f"this proposal to {what} expired at {proposal.expires_at:%H:%M} UTC; press Re-run triage"
            )

    async def _one_change(self, proposal: ProposalRow) -> None:
        other = await self.store.changes.active_for(proposal.environment, proposal.namespace, proposal.workload)
        abandoned = other is not None and other.state in ("previewed", "awaiting_approval")
        if other is not None and not (abandoned and other.expires_at <= datetime.now(UTC)):
            raise _Refusal(Rule.ONE_CHANGE, _busy(other))

    def _validate(self, remedy: str, params: dict[str, Any], limits: validation.Limits) -> None:
        try:
            spec_of(remedy).validate(params, limits)
        except (KeyError, ValueError) as exc:
            if isinstance(exc, validation.ParamRefused):
                raise _Refusal(Rule.PARAMETER, f"{title_of(remedy)}: {exc}", exc.field) from exc
            raise _Refusal(Rule.PARAMETER, f"unknown remedy {remedy!r}") from exc

    async def _preview(
        self, t: Target, proposal: ProposalRow, params: dict[str, Any], literal: str | None
    ) -> tuple[str, str]:
        cannot = f"cannot {proposal.remedy} on {t.namespace}/{t.name}"
        try:
            if proposal.remedy == "netcheck":
                self._validate(proposal.remedy, params, validation.Limits(self.config.limits.max_memory))
                manifest = await self.executor.netcheck(t, str(params["host"]), _port(params), dry_run=True)
                assert isinstance(manifest, dict)
                pod, where = manifest["metadata"]["name"], f"{params['host']}:{params.get('port')}"
                summary = f"run pod {pod} (busybox:1.36, 30 s max) to check {where}"
                return summary, "+ a throwaway pod, deleted after the check; no change to the workload"
            live = await self.executor.read(t)
            limits = await self._limits(t, proposal.remedy, params, live[0])
            self._validate(proposal.remedy, _with_literal(params, literal), limits)
            preview = await self.executor.preview(t, proposal.remedy, _with_literal(params, literal), live)
        except PlanError as exc:
            raise _Refusal(Rule.PARAMETER, f"{cannot}: {exc}") from exc
        except KubeError as exc:
            why = not_allowed(exc) if exc.status == 403 else f"the dry run failed: {exc.short}: {exc.message}"
            raise _Refusal(Rule.CLUSTER, why) from exc
        except (KubeConfigError, KeyError, ValueError) as exc:
            raise _Refusal(Rule.CLUSTER, f"{cannot}: {exc}") from exc
        if proposal.generation is not None and preview.generation != proposal.generation:
            raise _Refusal(
                Rule.STALE,
                f"{t.namespace}/{t.name} changed since the triage (generation {proposal.generation} → "
                f"{preview.generation}): this proposal is stale; press Re-run triage",
            )
        return preview.plan.summary, preview.diff

    async def _limits(self, t: Target, remedy: str, params: dict[str, Any], obj: KubeObject) -> validation.Limits:
        """What the parameter checks compare against, from the live workload (and the namespace's accounts)."""
        accounts = await self.executor.service_accounts(t) if remedy == "service_account" else None
        return validation.Limits(self.config.limits.max_memory, _current_memory(obj, params.get("container")), accounts)

    # --- confirm, approve, reject, cancel ---------------------------------------------------------------------

    async def confirm(self, actor: Actor, change_id: str) -> StepOutcome:
        """The requester confirms: sent for approval where required, else applied."""
        try:
            change = await self._current(actor, change_id)
            if actor.id != change.requested_by:
                why = f"only {change.requested_by}, who asked for it, can confirm this change"
                raise _Step(await self._refuse(actor, change, _Refusal(Rule.NOT_REQUESTER, why)))
            if change.state != "previewed":
                raise _Step(await self._moved_on(actor, change, "this change was already confirmed"))
            change = await self._unchanged(actor, await self._still_allowed(actor, change, "confirm"))
        except _Step as step:
            return step.outcome
        if self._approval_needed(change.environment):
            expires = datetime.now(UTC) + self.settings.approval_ttl
            moved = await self.store.changes.move(change.id, ["previewed"], "awaiting_approval", expires_at=expires)
            if moved is None:
                return await self._moved_on(actor, change, f"this change is already {change.state}")
            waiting = AwaitingApproval(moved)
            await self.notifier.announce(waiting)
            return waiting
        moved = await self.store.changes.move(change.id, ["previewed"], "applying")
        if moved is None:
            return await self._moved_on(actor, change, f"this change is already {change.state}")
        return await self._apply(actor, moved)

    async def approve(self, actor: Actor, change_id: str) -> StepOutcome:
        """A second responder approves: applied at once."""
        try:
            change = await self._current(actor, change_id)
            if change.state != "awaiting_approval":
                raise _Step(await self._moved_on(actor, change, "this change is not awaiting approval"))
            change = await self._still_allowed(actor, change, "approve")
            if actor.id == change.requested_by:
                why = "self-approval is not allowed: a different responder must approve"
                raise _Step(await self._refuse(actor, change, _Refusal(Rule.SELF_APPROVAL, why)))
            change = await self._unchanged(actor, change)
        except _Step as step:
            return step.outcome
        moved = await self.store.changes.move(
            change.id, ["awaiting_approval"], "applying", approved_by=actor.id, approved_by_name=actor.name
        )
        if moved is None:
            return await self._moved_on(actor, change, f"this change is {change.state}; nothing to approve")
        await self._audit(actor, "approved", "ok", moved)
        return await self._apply(actor, moved)

    async def reject(self, actor: Actor, change_id: str) -> StepOutcome:
        """A responder rejects a change awaiting approval (or a preview)."""
        try:
            change = await self._current(actor, change_id)
            decision = await self.access.role(actor.id, change.environment)
            if decision.role < Role.RESPONDER:
                why = f"you may not reject: {decision.why} (responders only)"
                raise _Step(await self._refuse(actor, change, _Refusal(Rule.ROLE, why)))
        except _Step as step:
            return step.outcome
        moved = await self.store.changes.move(
            change.id, ["awaiting_approval", "previewed"], "rejected", detail=f"rejected by {actor.id}"
        )
        if moved is None:
            return await self._moved_on(actor, change, f"this change is {change.state}; nothing to reject")
        await self._audit(actor, "rejected", "ok", moved)
        ended = Ended(moved, actor.id, cancelled=False)
        await self.notifier.announce(ended)
        return ended

    async def cancel(self, actor: Actor, change_id: str) -> StepOutcome:
        """The requester withdraws the change: nothing is applied."""
        try:
            change = await self._current(actor, change_id)
            if actor.id != change.requested_by:
                why = f"only {change.requested_by} can cancel this change"
                raise _Step(await self._refuse(actor, change, _Refusal(Rule.NOT_REQUESTER, why)))
        except _Step as step:
            return step.outcome
        moved = await self.store.changes.move(change.id, ["previewed", "awaiting_approval"], "cancelled")
        if moved is None:
            return await self._moved_on(actor, change, f"this change is {change.state}; nothing to cancel")
        await self._audit(actor, "rejected", "ok", moved, detail="cancelled by the requester")
        return Ended(moved, actor.id, cancelled=True)

    async def _moved_on(self, actor: Actor, change: ChangeRow, why: str) -> Refused:
        """A step on a change that already moved on (a replay, a retry, a second click): refused, audited."""
        now = await self.store.changes.get(change.id) or change
        return await self._refuse(actor, now, _Refusal(Rule.STATE, f"{why} (it is {now.state} now)"))

    async def _unchanged(self, actor: Actor, change: ChangeRow) -> ChangeRow:
        """Refuse (and end) a change whose workload moved on since its preview: what was confirmed is not what
        would be applied. The resourceVersion precondition still catches a change in the last moment."""
        target = Target(change.environment, change.kind, change.namespace, change.workload)
        try:
            obj, _ = await self.executor.read(target)
        except (KubeError, KubeConfigError) as exc:
            unreadable = _Refusal(Rule.CLUSTER, f"the workload could not be read: {exc}")
            raise _Step(await self._refuse(actor, change, unreadable)) from exc
        generation = (obj.get("metadata") or {}).get("generation")
        if change.generation is None or change.remedy == "netcheck" or generation == change.generation:
            return change
        moved = await self.store.changes.move(change.id, ["previewed", "awaiting_approval"], "rejected", detail="stale")
        why = (
            f"{change.namespace}/{change.workload} changed since the preview (generation {change.generation} → "
            f"{generation}): nothing applied; press Re-run triage"
        )
        raise _Step(await self._refuse(actor, moved or change, _Refusal(Rule.STALE, why)))

    async def status(self, change_id: str) -> ChangeRow | None:
        """The change as it is now (a door shows its state where its buttons were)."""
        return await self.store.changes.get(change_id)

    async def _still_allowed(self, actor: Actor, change: ChangeRow, step: str) -> ChangeRow:
        """Checked again at every step, group membership re-read uncached: right before an apply, a responder
        removed from their group, or read-only switched on, stops the change."""
        if self.config.limits.read_only:
            moved = await self.store.changes.move(
                change.id, ["previewed", "awaiting_approval"], "rejected", detail="read-only mode"
            )
            why = "the bot is in read-only mode (limits.read_only): nothing will be applied"
            raise _Step(await self._refuse(actor, moved or change, _Refusal(Rule.READ_ONLY, why)))
        decision = await self.access.role(actor.id, change.environment, fresh=True)
        if decision.role < Role.RESPONDER:
            why = f"you may not {step}: {decision.why} (responders only)"
            raise _Step(await self._refuse(actor, change, _Refusal(Rule.ROLE, why)))
        return change

    async def _current(self, actor: Actor, change_id: str) -> ChangeRow:
        change = await self.store.changes.get(change_id)
        if change is None:
            raise _Step(Refused(Rule.UNKNOWN, "unknown change"))
        if change.state in ("previewed", "awaiting_approval") and change.expires_at <= datetime.now(UTC):
            await self.store.changes.move(change.id, [change.state], "expired")
            why = (
                f"this {change.state.replace('_', ' ')} change expired at {change.expires_at:%H:%M} UTC; "
                "press Re-run triage"
            )
            ended = await self.store.changes.get(change.id)
            raise _Step(await self._refuse(actor, ended or change, _Refusal(Rule.EXPIRED, why)))
        return change

    def _approval_needed(self, environment: str) -> bool:
        env = self.config.environments.get(environment)
        return bool(env and env.require_approval)

    # --- apply ------------------------------------------------------------------------------------------------

    async def _apply(self, actor: Actor, change: ChangeRow) -> Applied | Verified | Failed | Conflict | Refused:
        """Apply, and never leave the change in `applying`: any failure ends it as `failed`, audited."""
        try:
            return await self._apply_now(actor, change)
        except asyncio.CancelledError:
            await asyncio.shield(
                self._failed(actor, change, "interrupted while applying (shutdown): check the workload")
            )
            raise
        except Exception as exc:
            extra = {"incident_id": change.incident_id, "workload": change.workload, "remedy": change.remedy}
            log.exception("applying change %s failed", change.id, extra={**extra, "user": actor.id})
            return await self._failed(actor, change, f"{type(exc).__name__}: {exc}")

    async def _apply_now(self, actor: Actor, change: ChangeRow) -> Applied | Verified | Failed | Conflict | Refused:
        target = Target(change.environment, change.kind, change.namespace, change.workload)
        if change.remedy == "netcheck":
            return await self._netcheck(actor, change, target)
        try:
            obj, _ = await self.executor.read(target)
            meta = obj.get("metadata") or {}
            if change.generation is not None and meta.get("generation") != change.generation:
                return await self._failed(
                    actor,
                    change,
                    f"{change.namespace}/{change.workload} changed since the preview (generation "
                    f"{change.generation} → {meta.get('generation')}); nothing applied; press Re-run triage",
                )
            params = _with_literal(
                change.params, unseal(self.secret, change.sealed_value) if change.sealed_value else None
            )
            result = await self.executor.apply(target, change.remedy, params, str(meta.get("resourceVersion")))
        except (PlanError, SealError) as exc:
            return await self._failed(actor, change, str(exc))
        except KubeError as exc:
            if exc.status == 409 or (exc.status == 422 and "test" in exc.message.lower()):
                return await self._conflict(actor, change)
            landed = (
                await self.verifier.landed_anyway(target, change) if exc.status is None or exc.status >= 500 else None
            )
            if landed is None:
                why = not_allowed(exc) if exc.status == 403 else f"{exc.short}: {exc.message}"
                return await self._failed(actor, change, why)
            result = landed  # the answer was lost (timeout), but the patch reached the API server
        moved = await self.store.changes.move(change.id, ["applying"], "verifying")
        new_meta = result.get("metadata") or {}
        detail = f"applied: generation {new_meta.get('generation')}, resourceVersion {new_meta.get('resourceVersion')}"
        await self._audit(actor, "applied", "ok", moved or change, detail=detail)
        self.metrics.actions.labels(change.remedy, "applied").inc()
        applied = Applied(moved or change, detail)
        await self.notifier.announce(applied)
        self.verifier.watch(moved or change)
        return applied

    async def _conflict(self, actor: Actor, change: ChangeRow) -> Conflict | Failed | Refused:
        """409: the workload moved under us. Re-read, preview again, ask again."""
        target = Target(change.environment, change.kind, change.namespace, change.workload)
        await self._audit(
            actor, "failed", "error", change, detail="409 Conflict: the workload changed; re-read and asked again"
        )
        try:
            literal = unseal(self.secret, change.sealed_value) if change.sealed_value else None
            preview = await self.executor.preview(target, change.remedy, _with_literal(change.params, literal))
        except (KubeError, KubeConfigError, PlanError, SealError) as exc:
            return await self._failed(actor, change, f"after a conflict the preview failed: {exc}")
        moved = await self.store.changes.move(
            change.id,
            ["applying"],
            "previewed",
            diff=preview.diff,
            summary=preview.plan.summary,
            generation=preview.generation,
            expires_at=datetime.now(UTC) + self.settings.preview_ttl,
        )
        if moved is None:
            return Refused(Rule.STATE, "the change moved on meanwhile", change=change)
        approval = self._approval_needed(moved.environment)
        if actor.id != moved.requested_by:  # the approver clicked: the requester confirms again
            conflict = Conflict(moved, approval, requester_asked=True)
            await self.notifier.to_requester(moved, conflict)
            return conflict
        return Conflict(moved, approval, requester_asked=False)

    async def _failed(self, actor: Actor, change: ChangeRow, why: str) -> Failed:
        moved = await self.store.changes.move(
            change.id, ["applying", "previewed", "awaiting_approval"], "failed", detail=why
        )
        await self._audit(actor, "failed", "error", change, detail=why)
        self.metrics.actions.labels(change.remedy, "failed").inc()
        failed = Failed(moved or change, why)
        await self.notifier.announce(failed)
        return failed

    async def _netcheck(self, actor: Actor, change: ChangeRow, target: Target) -> Verified | Failed:
        host, port = str(change.params["host"]), _port(change.params)
        try:
            result = await self.executor.netcheck(target, host, port, dry_run=False)
        except (KubeError, PlanError) as exc:
            why = not_allowed(exc) if isinstance(exc, KubeError) and exc.status == 403 else str(exc)
            return await self._failed(actor, change, why)
        assert isinstance(result, NetcheckResult)
        verdict = netcheck_verdict(host, port, result)
        moved = await self.store.changes.move(change.id, ["applying"], "verified", detail=verdict)
        await self._audit(actor, "applied", "ok", change, detail="netcheck pod ran and was deleted")
        await self._audit(actor, "verified", "ok", change, detail=verdict)
        self.metrics.actions.labels("netcheck", "applied").inc()
        done = Verified(moved or change, verdict, tuple(result.lines))
        await self.notifier.announce(done)
        return done

    # --- plumbing ---------------------------------------------------------------------------------------------

    async def _refuse(
        self,
        actor: Actor,
        subject: ProposalRow | ChangeRow,
        refusal: _Refusal,
        *,
        params: dict[str, Any] | None = None,
    ) -> Refused:
        """Audit the refusal and say it; the proposal stays usable."""
        await self._audit(actor, "denied", "refused", subject, params=params, detail=str(refusal))
        self.metrics.actions.labels(subject.remedy, "denied").inc()
        change = subject if isinstance(subject, ChangeRow) else None
        return Refused(refusal.rule, str(refusal), refusal.field, change)

    async def _audit(
        self,
        actor: Actor,
        action: str,
        outcome: str,
        subject: ProposalRow | ChangeRow,
        *,
        params: dict[str, Any] | None = None,
        diff: str | None = None,
        detail: str | None = None,
        change: ChangeRow | None = None,
    ) -> None:
        change = change or (subject if isinstance(subject, ChangeRow) else None)
        await self.audit.append(
            AuditEvent(
                action=action,
                outcome=outcome,
                actor_id=actor.id,
                actor_name=actor.name or await self.access.name_of(actor.id),
                environment=subject.environment,
                namespace=subject.namespace,
                workload=subject.workload,
                remedy=subject.remedy,
                params={k: v for k, v in (params if params is not None else subject.params).items() if k != "value"},
                diff=diff if diff is not None else (change.diff if change and action == "applied" else None),
                detail=detail,
                incident_id=subject.incident_id,
                slack_channel=change.channel if change else None,
                slack_ts=change.thread_ts if change else None,
                proposal_id=subject.id if isinstance(subject, ProposalRow) else subject.proposal_id,
                change_id=change.id if change else None,
            )
        )


class _Step(Exception):
    """Ends a step early with `outcome` (a refusal)."""

    def __init__(self, outcome: Refused) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


def _busy(other: ChangeRow) -> str:
    where = f"{other.namespace}/{other.workload}"
    what = f"{other.remedy} by {other.requested_by}"
    return f"one change per workload at a time: {what} is in progress on {where} ({other.state})"


def _port(params: dict[str, Any]) -> int | None:
    port = params.get("port")
    if port in (None, ""):
        return None
    if not str(port).isdigit() or not 0 < int(port) < 65536:
        raise PlanError(f"port {port!r} is not a number from 1 to 65535")
    return int(port)


def _with_literal(params: dict[str, Any], literal: str | None) -> dict[str, Any]:
    return {**params, "value": literal} if literal is not None else dict(params)


def _current_memory(obj: KubeObject, container: Any) -> str | None:
    """The named container's memory limit (or request) in the live workload, as written there."""
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if c.get("name") == container:
            resources = c.get("resources") or {}
            value = (resources.get("limits") or {}).get("memory") or (resources.get("requests") or {}).get("memory")
            return str(value) if value is not None else None
    return None
