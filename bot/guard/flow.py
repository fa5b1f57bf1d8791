"""The guard around every runbook remedy, in this order: who → preview → approval → apply → verify.

1. The button carries only a proposal id; the proposal (single use, 15 minutes, bound to the workload's
   generation at triage) says what to do. 2. The clicking user must be a responder for the environment (their
   Slack user groups included; a failed lookup denies). 3. The API server dry-runs the patch and the user sees the
   diff and confirms. 4. Where the environment requires it, a *different* responder approves. 5. The patch is
   applied with optimistic concurrency, one change per workload at a time; a stale proposal is refused. 6. The
   bot watches the pods until they are Ready and restarts stop, and says so in the thread.
Every step — and every refusal — is an audit row. Replayed clicks and Slack retries move a change once: each
step is a conditional update in SQL.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.config import Config
from bot.core.metrics import Metrics
from bot.core.sealing import SealError, seal, unseal
from bot.guard.access import AccessControl, Role
from bot.guard.executor import Executor, Recovery, Target, not_allowed
from bot.kube.client import KubeConfigError, KubeError
from bot.remedies.patches import NetcheckResult, PlanError
from bot.slack import blocks as sb
from bot.slack import change_messages as msg
from bot.slack.client import SlackOut, SlackSendError
from bot.store import Store
from bot.store.audit import AuditEvent, AuditLog
from bot.store.changes import ActiveChangeExists, ChangeRow
from bot.store.rows import ProposalRow

log = logging.getLogger("crashloop.guard")


@dataclass(frozen=True)
class Actor:
    id: str
    name: str | None = None


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


@dataclass(frozen=True)
class Reply:
    """What the acting user sees (only them)."""

    text: str
    blocks: list[dict[str, Any]]
    ok: bool = True


def refusal(text: str) -> Reply:
    return Reply(text, msg.text_blocks(f":no_entry: {text}"), ok=False)


class Guard:
    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        audit: AuditLog,
        access: AccessControl,
        executor: Executor,
        slack: SlackOut,
        metrics: Metrics,
        signing_secret: str,
        settings: GuardSettings | None = None,
        retriage: Callable[[int], Awaitable[Any]] | None = None,
    ) -> None:
        self.config, self.store, self.audit, self.access = config, store, audit, access
        self.executor, self.slack, self.metrics = executor, slack, metrics
        self.secret = signing_secret
        self.settings = settings or GuardSettings()
        self.retriage = retriage
        self.is_leader: Callable[[], bool] = lambda: True  # recovery checks are singleton work (see bot.kube.leader)
        self._tasks: set[asyncio.Task[None]] = set()
        self._watching: set[str] = set()

    # --- 1 + 2: the proposal and who may act ----------------------------------------------------------------

    async def may_request(self, actor: Actor, proposal_id: str) -> tuple[ProposalRow | None, Reply | None]:
        """The proposal when `actor` may act on it now, else a refusal (audited)."""
        proposal = await self.store.get_proposal(proposal_id)
        if proposal is None:
            return None, refusal("this button refers to no known proposal; press Re-run triage for a fresh one")
        what = f"{msg.REMEDY_TITLES.get(proposal.remedy, proposal.remedy)} on {proposal.namespace}/{proposal.workload}"
        decision = await self.access.role(actor.id, proposal.environment)
        if decision.role < Role.RESPONDER:
            return None, await self._deny(actor, proposal, f"you may not {what}: {decision.why} (responders only)")
        if self.config.limits.read_only:
            return None, await self._deny(
                actor, proposal, f"{what} refused: the bot is in read-only mode (limits.read_only)"
            )
        if proposal.used_at is not None:
            return None, await self._deny(actor, proposal, f"{what} was already requested by <@{proposal.used_by}>")
        if proposal.expires_at <= datetime.now(UTC):
            return None, await self._deny(
                actor,
                proposal,
                f"this proposal to {what} expired at {proposal.expires_at:%H:%M} UTC; press Re-run triage",
            )
        return proposal, None

    async def request(
        self,
        actor: Actor,
        proposal_id: str,
        *,
        overrides: dict[str, Any] | None = None,
        literal: str | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
    ) -> Reply:
        """Steps 1–3: check, consume the proposal, dry-run, and show the diff with Confirm/Cancel."""
        proposal, refused = await self.may_request(actor, proposal_id)
        if proposal is None:
            return refused or refusal("refused")
        if not await self.store.use_proposal(proposal.id, actor.id):
            return await self._deny(actor, proposal, "this proposal was used a moment ago (double click or retry)")
        params = {**proposal.params, **(overrides or {})}
        sealed = seal(self.secret, literal) if literal is not None else None
        await self._audit(actor, "requested", "ok", proposal, params=params)
        target = Target(proposal.environment, proposal.kind, proposal.namespace, proposal.workload)
        try:
            summary, diff = await self._preview(target, proposal, params, literal)
        except _Refused as exc:
            await self._audit(actor, "denied", "refused", proposal, params=params, detail=str(exc))
            return refusal(str(exc))
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
                sealed_value=sealed,
                generation=proposal.generation,
                requested_by=actor.id,
                requested_by_name=actor.name,
                summary=summary,
                diff=diff,
                channel=channel,
                thread_ts=thread_ts,
            )
        except ActiveChangeExists as exc:
            other = exc.existing
            where = f"{other.namespace}/{other.workload}"
            why = f"{other.remedy} by <@{other.requested_by}> is in progress on {where} ({other.state})"
            return await self._deny(actor, proposal, f"one change per workload at a time: {why}")
        await self._audit(actor, "previewed", "ok", proposal, params=params, diff=diff, change=change)
        approval = self._approval_needed(change)
        return Reply(f"Preview: {msg.title(change)}", msg.preview(change, approval))

    async def _preview(
        self, t: Target, proposal: ProposalRow, params: dict[str, Any], literal: str | None
    ) -> tuple[str, str]:
        try:
            if proposal.remedy == "netcheck":
                manifest = await self.executor.netcheck(t, str(params["host"]), _port(params), dry_run=True)
                assert isinstance(manifest, dict)
                pod, target = manifest["metadata"]["name"], f"{params['host']}:{params.get('port')}"
                summary = f"run pod {pod} (busybox:1.36, 30 s max) to check {target}"
                return summary, "+ a throwaway pod, deleted after the check; no change to the workload"
            preview = await self.executor.preview(t, proposal.remedy, _with_literal(params, literal))
        except PlanError as exc:
            raise _Refused(f"cannot {proposal.remedy} on {t.namespace}/{t.name}: {exc}") from exc
        except KubeError as exc:
            raise _Refused(
                not_allowed(exc) if exc.status == 403 else f"the dry run failed: {exc.short}: {exc.message}"
            ) from exc
        except (KubeConfigError, KeyError, ValueError) as exc:
            raise _Refused(f"cannot {proposal.remedy} on {t.namespace}/{t.name}: {exc}") from exc
        if proposal.generation is not None and preview.generation != proposal.generation:
            raise _Refused(
                f"{t.namespace}/{t.name} changed since the triage (generation {proposal.generation} → "
                f"{preview.generation}): this proposal is stale; press Re-run triage"
            )
        return preview.plan.summary, preview.diff

    # --- 3 + 4: confirm, approve, reject, cancel ----------------------------------------------------------

    async def confirm(self, actor: Actor, change_id: str) -> Reply:
        change = await self._current(change_id)
        if isinstance(change, Reply):
            return change
        if actor.id != change.requested_by:
            return await self._deny_change(
                actor, change, f"only <@{change.requested_by}>, who asked for it, can confirm this change"
            )
        refused = await self._still_allowed(actor, change, "confirm")
        if refused is not None:
            return refused
        if self._approval_needed(change):
            moved = await self.store.changes.move(
                change.id, ["previewed"], "awaiting_approval", expires_at=datetime.now(UTC) + self.settings.approval_ttl
            )
            if moved is None:
                return refusal(f"this change is already {change.state}")
            await self._post(moved, msg.approval_request(moved), f"Approval needed: {msg.title(moved)}")
            return Reply(
                "Waiting for approval",
                msg.text_blocks(":hourglass: Sent for approval by a second responder (in the thread)."),
            )
        moved = await self.store.changes.move(change.id, ["previewed"], "applying")
        if moved is None:
            return refusal(f"this change is already {change.state}")
        return await self._apply(actor, moved)

    async def approve(self, actor: Actor, change_id: str) -> Reply:
        change = await self._current(change_id)
        if isinstance(change, Reply):
            return change
        refused = await self._still_allowed(actor, change, "approve")
        if refused is not None:
            return refused
        if actor.id == change.requested_by:
            return await self._deny_change(
                actor, change, "self-approval is not allowed: a different responder must approve"
            )
        moved = await self.store.changes.move(
            change.id, ["awaiting_approval"], "applying", approved_by=actor.id, approved_by_name=actor.name
        )
        if moved is None:
            return refusal(f"this change is {change.state}; nothing to approve")
        await self._audit(actor, "approved", "ok", moved)
        return await self._apply(actor, moved)

    async def reject(self, actor: Actor, change_id: str) -> Reply:
        change = await self._current(change_id)
        if isinstance(change, Reply):
            return change
        decision = await self.access.role(actor.id, change.environment)
        if decision.role < Role.RESPONDER:
            return await self._deny_change(actor, change, f"you may not reject: {decision.why} (responders only)")
        moved = await self.store.changes.move(
            change.id, ["awaiting_approval", "previewed"], "rejected", detail=f"rejected by {actor.id}"
        )
        if moved is None:
            return refusal(f"this change is {change.state}; nothing to reject")
        await self._audit(actor, "rejected", "ok", moved)
        await self._post(
            moved, msg.text_blocks(f":x: <@{actor.id}> rejected: {sb.escape(msg.title(moved))}"), "Rejected"
        )
        return Reply("Rejected", msg.text_blocks("Rejected."))

    async def cancel(self, actor: Actor, change_id: str) -> Reply:
        change = await self._current(change_id)
        if isinstance(change, Reply):
            return change
        if actor.id != change.requested_by:
            return await self._deny_change(actor, change, f"only <@{change.requested_by}> can cancel this change")
        moved = await self.store.changes.move(change.id, ["previewed", "awaiting_approval"], "cancelled")
        if moved is None:
            return refusal(f"this change is {change.state}; nothing to cancel")
        await self._audit(actor, "rejected", "ok", moved, detail="cancelled by the requester")
        return Reply("Cancelled", msg.text_blocks("Cancelled: nothing was changed."))

    async def _still_allowed(self, actor: Actor, change: ChangeRow, step: str) -> Reply | None:
        """Checked again at every step: read-only may have been switched on, a role may have been revoked."""
        if self.config.limits.read_only:
            moved = await self.store.changes.move(
                change.id, ["previewed", "awaiting_approval"], "rejected", detail="read-only mode"
            )
            why = "the bot is in read-only mode (limits.read_only): nothing will be applied"
            return await self._deny_change(actor, moved or change, why)
        decision = await self.access.role(actor.id, change.environment)
        if decision.role < Role.RESPONDER:
            return await self._deny_change(actor, change, f"you may not {step}: {decision.why} (responders only)")
        return None

    async def _current(self, change_id: str) -> ChangeRow | Reply:
        change = await self.store.changes.get(change_id)
        if change is None:
            return refusal("unknown change")
        if change.state in ("previewed", "awaiting_approval") and change.expires_at <= datetime.now(UTC):
            if await self.store.changes.move(change.id, [change.state], "expired"):
                await self._audit(Actor("bot", "crashloop-bot"), "rejected", "refused", change, detail="expired")
            return refusal(
                f"this {change.state.replace('_', ' ')} change expired at {change.expires_at:%H:%M} UTC; "
                "press Re-run triage"
            )
        return change

    def _approval_needed(self, change: ChangeRow) -> bool:
        env = self.config.environments.get(change.environment)
        return bool(env and env.require_approval)

    # --- 5 + 6: apply and verify --------------------------------------------------------------------------

    async def _apply(self, actor: Actor, change: ChangeRow) -> Reply:
        """Apply, and never leave the change in `applying`: any failure ends it as `failed`, audited."""
        try:
            return await self._apply_now(actor, change)
        except asyncio.CancelledError:
            await asyncio.shield(
                self._failed(actor, change, "interrupted while applying (shutdown): check the workload")
            )
            raise
        except Exception as exc:
            log.exception(
                "applying change %s failed",
                change.id,
                extra={
                    "incident_id": change.incident_id,
                    "workload": change.workload,
                    "remedy": change.remedy,
                    "user": actor.id,
                },
            )
            return await self._failed(actor, change, f"{type(exc).__name__}: {exc}")

    async def _apply_now(self, actor: Actor, change: ChangeRow) -> Reply:
        target = Target(change.environment, change.kind, change.namespace, change.workload)
        if change.remedy == "netcheck":
            return await self._netcheck(actor, change, target)
        try:
            obj, _ = await self.executor.read(target)
            meta = obj.get("metadata") or {}
            if change.generation is not None and meta.get("generation") != change.generation:
                raise _Refused(
                    f"{change.namespace}/{change.workload} changed since the preview (generation "
                    f"{change.generation} → {meta.get('generation')}); nothing applied; press Re-run triage"
                )
            params = _with_literal(
                change.params, unseal(self.secret, change.sealed_value) if change.sealed_value else None
            )
            result = await self.executor.apply(target, change.remedy, params, str(meta.get("resourceVersion")))
        except (_Refused, PlanError, SealError) as exc:
            return await self._failed(actor, change, str(exc))
        except KubeError as exc:
            if exc.status == 409 or (exc.status == 422 and "test" in exc.message.lower()):
                return await self._conflict(actor, change)
            landed = await self._landed_anyway(target, change) if exc.status is None or exc.status >= 500 else None
            if landed is None:
                return await self._failed(
                    actor, change, not_allowed(exc) if exc.status == 403 else f"{exc.short}: {exc.message}"
                )
            result = landed  # the answer was lost (timeout), but the patch reached the API server
        moved = await self.store.changes.move(change.id, ["applying"], "verifying")
        new_meta = result.get("metadata") or {}
        detail = f"applied: generation {new_meta.get('generation')}, resourceVersion {new_meta.get('resourceVersion')}"
        await self._audit(actor, "applied", "ok", moved or change, detail=detail)
        self.metrics.actions.labels(change.remedy, "applied").inc()
        approved = f" (approved by <@{change.approved_by}>)" if change.approved_by else ""
        await self._post(
            change,
            msg.text_blocks(
                f":white_check_mark: <@{change.requested_by}> applied *{sb.escape(msg.title(change))}*{approved}: "
                f"{sb.escape(change.summary or '')}\nWatching the pods until they are Ready and restarts stop…"
            ),
            "Applied",
        )
        if self.is_leader():  # otherwise the leader picks it up from SQL (resume_verifications)
            self._watch(moved or change)
        return Reply("Applied", msg.text_blocks(f"Applied: {sb.escape(change.summary or '')}. Watching for recovery."))

    async def _landed_anyway(self, target: Target, change: ChangeRow) -> dict[str, Any] | None:
        """After a timeout or a 5xx: the workload when its generation moved past the previewed one, else None."""
        try:
            obj, _ = await self.executor.read(target)
        except (KubeError, KubeConfigError):
            return None
        generation = (obj.get("metadata") or {}).get("generation")
        moved_on = change.generation is not None and isinstance(generation, int) and generation > change.generation
        return obj if moved_on else None

    async def _conflict(self, actor: Actor, change: ChangeRow) -> Reply:
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
            return refusal("the change moved on meanwhile")
        blocks = [
            sb.section(
                ":warning: The workload changed while applying (409 Conflict). Nothing was applied. "
                "Here is the new preview:"
            ),
            *msg.preview(moved, self._approval_needed(moved)),
        ]
        if actor.id != moved.requested_by and moved.channel:  # the approver clicked: the requester confirms again
            try:
                await self.slack.ephemeral(moved.channel, moved.requested_by, "Confirm again", blocks)
            except SlackSendError as exc:
                log.warning("could not send the new preview of change %s: %s", moved.id, exc.error)
            note = "The workload changed while applying (409): nothing applied; the requester has a new preview."
            return Reply("Conflict", msg.text_blocks(note), ok=False)
        return Reply("Conflict: confirm again", blocks, ok=False)

    async def _failed(self, actor: Actor, change: ChangeRow, why: str) -> Reply:
        await self.store.changes.move(change.id, ["applying", "previewed", "awaiting_approval"], "failed", detail=why)
        await self._audit(actor, "failed", "error", change, detail=why)
        self.metrics.actions.labels(change.remedy, "failed").inc()
        await self._post(
            change, msg.text_blocks(f":x: *{sb.escape(msg.title(change))}* failed: {sb.escape(why)}"), "Failed"
        )
        return refusal(f"{msg.title(change)} failed: {why}")

    async def _netcheck(self, actor: Actor, change: ChangeRow, target: Target) -> Reply:
        host, port = str(change.params["host"]), _port(change.params)
        try:
            result = await self.executor.netcheck(target, host, port, dry_run=False)
        except (KubeError, PlanError) as exc:
            why = not_allowed(exc) if isinstance(exc, KubeError) and exc.status == 403 else str(exc)
            return await self._failed(actor, change, why)
        assert isinstance(result, NetcheckResult)
        verdict = _netcheck_verdict(host, port, result)
        await self.store.changes.move(change.id, ["applying"], "verified", detail=verdict)
        await self._audit(actor, "applied", "ok", change, detail="netcheck pod ran and was deleted")
        await self._audit(actor, "verified", "ok", change, detail=verdict)
        self.metrics.actions.labels("netcheck", "applied").inc()
        lines = "\n".join(result.lines)
        await self._post(
            change,
            [
                sb.section(f":mag: *Dependency check from {change.namespace}*: {sb.escape(verdict)}"),
                sb.code_section("*netcheck pod output*", lines.splitlines()),
            ],
            "Netcheck",
        )
        return Reply("Netcheck done", msg.text_blocks(sb.escape(verdict)))

    async def _verify(self, change: ChangeRow, target: Target) -> None:
        s = self.settings
        recovery: Recovery | None = None
        try:
            recovery = await self.executor.recovery(
                target, within=s.verify_timeout, stable=s.verify_stable, interval=s.verify_interval
            )
            detail = recovery.detail
        except (KubeError, KubeConfigError) as exc:
            detail = f"could not watch the pods: {exc}"
        bot = Actor("bot", "crashloop-bot")
        if recovery is not None and recovery.recovered:
            if await self.store.changes.move(change.id, ["verifying"], "verified", detail=detail) is None:
                return  # another replica (a newer leader) already recorded the outcome
            await self._audit(bot, "verified", "ok", change, detail=detail)
            self.metrics.actions.labels(change.remedy, "verified").inc()
            pods = f"{recovery.ready}/{recovery.desired} pods Ready"
            text = f":large_green_circle: *Recovered* after {sb.escape(msg.title(change))}: {pods}, restarts stopped."
        else:
            if await self.store.changes.move(change.id, ["verifying"], "not_recovered", detail=detail) is None:
                return
            await self._audit(bot, "not_recovered", "error", change, detail=detail)
            self.metrics.actions.labels(change.remedy, "not_recovered").inc()
            suggestion = await self._next_branch(change)
            text = (
                f":red_circle: *Not recovered* after {sb.escape(msg.title(change))}: {sb.escape(detail)}. {suggestion}"
            )
        await self._post(change, msg.text_blocks(text), "Verification")
        if change.incident_id is not None and self.retriage is not None:
            await self.retriage(change.incident_id)

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

    async def resume_verifications(self) -> int:
        """On the leader: watch every change applied but not yet verified (by another replica, or before a crash)."""
        if not self.is_leader():
            return 0
        await self._settle_interrupted()
        pending = [c for c in await self.store.changes.in_state("verifying") if c.id not in self._watching]
        for change in pending:
            self._watch(change)
        return len(pending)

    async def _settle_interrupted(self, after: timedelta = timedelta(minutes=5)) -> None:
        """Changes left in `applying` by a replica that died mid-apply: applied (watch them) or failed."""
        now = datetime.now(UTC)
        for change in await self.store.changes.in_state("applying"):
            if now - change.updated_at < after:
                continue
            target = Target(change.environment, change.kind, change.namespace, change.workload)
            landed = await self._landed_anyway(target, change)
            bot = Actor("bot", "crashloop-bot")
            if landed is not None and await self.store.changes.move(change.id, ["applying"], "verifying"):
                await self._audit(bot, "applied", "ok", change, detail="found applied after an interrupted apply")
            elif await self.store.changes.move(change.id, ["applying"], "failed", detail="interrupted while applying"):
                await self._audit(bot, "failed", "error", change, detail="interrupted while applying; not applied")

    def _watch(self, change: ChangeRow) -> None:
        if change.id in self._watching:
            return
        self._watching.add(change.id)
        target = Target(change.environment, change.kind, change.namespace, change.workload)

        async def verify() -> None:
            try:
                await self._verify(change, target)
            finally:
                self._watching.discard(change.id)

        self._spawn(verify())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, within: float) -> None:
        """Wait for in-flight verifications (shutdown); unfinished ones stay `verifying` in SQL."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=within)

    # --- plumbing ------------------------------------------------------------------------------------------

    async def _post(self, change: ChangeRow, blocks: list[dict[str, Any]], text: str) -> None:
        channel = change.channel or (
            self.config.environments[change.environment].channel
            if change.environment in self.config.environments
            else None
        )
        if not channel:
            return
        try:
            await self.slack.post(channel, f"{text}: {msg.title(change)}", blocks, thread_ts=change.thread_ts)
        except SlackSendError as exc:
            log.warning("could not tell Slack about change %s: %s", change.id, exc.error)

    async def _deny(self, actor: Actor, proposal: ProposalRow, why: str) -> Reply:
        await self._audit(actor, "denied", "refused", proposal, detail=why)
        self.metrics.actions.labels(proposal.remedy, "denied").inc()
        return refusal(why)

    async def _deny_change(self, actor: Actor, change: ChangeRow, why: str) -> Reply:
        await self._audit(actor, "denied", "refused", change, detail=why)
        self.metrics.actions.labels(change.remedy, "denied").inc()
        return refusal(why)

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
                actor_name=actor.name or await self._name(actor.id),
                environment=subject.environment,
                namespace=subject.namespace,
                workload=subject.workload,
                remedy=subject.remedy,
                params=params if params is not None else dict(subject.params),
                diff=diff if diff is not None else (change.diff if change and action == "applied" else None),
                detail=detail,
                incident_id=subject.incident_id,
                slack_channel=change.channel if change else None,
                slack_ts=change.thread_ts if change else None,
                proposal_id=subject.id if isinstance(subject, ProposalRow) else subject.proposal_id,
                change_id=change.id if change else None,
            )
        )

    async def _name(self, user: str) -> str | None:
        return None if user.startswith(("cli:", "bot")) else await self.access.name_of(user)


class _Refused(Exception):
    """A request refused before anything changed."""


def _port(params: dict[str, Any]) -> int | None:
    port = params.get("port")
    if port in (None, ""):
        return None
    if not str(port).isdigit() or not 0 < int(port) < 65536:
        raise PlanError(f"port {port!r} is not a number from 1 to 65535")
    return int(port)


def _with_literal(params: dict[str, Any], literal: str | None) -> dict[str, Any]:
    return {**params, "value": literal} if literal is not None else dict(params)


def _netcheck_verdict(host: str, port: int | None, r: NetcheckResult) -> str:
    dns = f"DNS {host} → {r.address}" if r.dns_ok else f"DNS {host} does not resolve"
    if port is None:
        return dns
    tcp = (
        f"TCP {port} reachable"
        if r.tcp_ok
        else f"TCP {port} refused or filtered: the dependency is down or a NetworkPolicy blocks it"
    )
    return f"{dns}; {tcp}"
