"""The guard's steps for silence and unsilence: preview, apply and verify against Alertmanager, not the cluster.

A silence goes through the same guard as every change (`bot.guard.flow`: who may, parameters, one change per
workload, confirm, approval where the environment requires it, every step audited); what differs is where its
preview, apply and verify happen, so they live here, the way netcheck's pod lives apart from the patches:

- preview: the matchers the workload's alerts really carry (`bot.alertmanager.matchers`), refused outside the
  environment's namespaces, when they would also match a pod another owner runs in the namespace, or when they
  match none (or not all) of the workload's own pods; the alerts they match in Alertmanager right now;
- apply: the namespace and the pods checked again (an approval may come long after the preview), then
  POST the silence (or DELETE it, for unsilence), recorded in `silences` with its id;
- verify: GET it back — active with exactly those matchers (or expired, for unsilence). A silence that comes
  back with other matchers is expired again at once: the bot never leaves a silence wider than the workload.

Alertmanager unreachable or answering 4xx/5xx: a refusal at preview, a failed change at apply — each said in
words (what was tried, what came back) and audited.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.alertmanager.client import AlertmanagerClient, AlertmanagerError, Silence
from bot.alertmanager.environments import Alertmanagers
from bot.alertmanager.matchers import (
    Matcher,
    UnsupportedKind,
    foreign_pods,
    from_api,
    pod_pattern,
    same,
    uncovered_pods,
    workload_matchers,
)
from bot.core.config import Config
from bot.core.metrics import Metrics
from bot.core.redact import redact
from bot.guard.executor import Executor, Target
from bot.guard.notifier import Notifier
from bot.guard.outcomes import Failed, Rule, Verified
from bot.guard.trail import Actor, Refusal, Trail
from bot.kube.client import KubeConfigError, KubeError
from bot.remedies import kubectl_hints
from bot.store.changes import ChangeRow, ChangeStore
from bot.store.intake import StoreUnavailable
from bot.store.rows import ProposalRow
from bot.store.silences import SilenceStore
from runbooks.model import RemedyId
from runbooks.silence import format_duration, parse_duration

MAX_LISTED_ALERTS = 20
ENDS_TOLERANCE_SECONDS = 5  # Alertmanager stores times at its own precision: an end read back may differ a little
Fail = Callable[[Actor, ChangeRow, str], Awaitable[Failed]]


def outside(environment: str, namespace: str, namespaces: list[str]) -> str:
    """Why a namespace the environment does not watch is refused (every door says the same)."""
    return (
        f"namespace {namespace} is not one of {environment}'s namespaces ({', '.join(namespaces)}): "
        "the bot silences only the workloads it watches"
    )


class Silencing:
    def __init__(
        self,
        *,
        config: Config,
        alertmanagers: Alertmanagers,
        executor: Executor,
        silences: SilenceStore,
        changes: ChangeStore,
        trail: Trail,
        notifier: Notifier,
        metrics: Metrics,
    ) -> None:
        self.config, self.alertmanagers, self.executor = config, alertmanagers, executor
        self.silences, self.changes, self.trail, self.notifier, self.metrics = (
            silences,
            changes,
            trail,
            notifier,
            metrics,
        )

    def matchers(self, environment: str, kind: str, namespace: str, workload: str) -> tuple[Matcher, ...]:
        """The workload's matchers (UnsupportedKind for a kind whose pods cannot be told apart)."""
        cluster = self.config.environments[environment].cluster_label
        return workload_matchers(kind=kind, namespace=namespace, workload=workload, cluster=cluster)

    def _watched(self, environment: str, namespace: str) -> None:
        """Refusal unless `namespace` is one of the environment's: a silence never reaches beyond what the bot
        watches, whatever door (a typed `ns/name`, the CLI, a forged proposal) named the workload."""
        env = self.config.environments.get(environment)
        if env is None or namespace not in env.namespaces:
            raise Refusal(Rule.PARAMETER, outside(environment, namespace, env.namespaces if env else []))

    def _client(self, environment: str) -> AlertmanagerClient:
        client = self.alertmanagers.of(environment)
        if client is None:
            why = f"silences are not configured for {environment}: it has no alertmanager_url in crashloop.yaml"
            raise Refusal(Rule.ALERTMANAGER, why)
        return client

    # --- preview -------------------------------------------------------------------------------------------

    async def preview(self, proposal: ProposalRow, params: dict[str, Any]) -> tuple[str, str]:
        """(summary, diff) of the silence or its expiry; Refusal when it cannot or must not be done."""
        client = self._client(proposal.environment)
        if proposal.remedy == RemedyId.UNSILENCE:
            return await self._preview_unsilence(client, proposal, str(params["silence_id"]))
        self._watched(proposal.environment, proposal.namespace)
        where = f"{proposal.namespace}/{proposal.workload}"
        try:
            matchers = self.matchers(proposal.environment, proposal.kind, proposal.namespace, proposal.workload)
        except UnsupportedKind as exc:
            raise Refusal(Rule.PARAMETER, f"cannot silence {where}: {exc}") from exc
        await self._only_this_workload(proposal.environment, proposal.kind, proposal.namespace, proposal.workload)
        try:
            alerts = await client.alerts(matchers)
        except AlertmanagerError as exc:
            raise Refusal(Rule.ALERTMANAGER, str(exc)) from exc
        seconds = int(parse_duration(str(params["duration"])) or 0)
        until = datetime.now(UTC) + timedelta(seconds=seconds)
        firing = [a for a in alerts if a.state != "suppressed"]
        summary = (
            f"silence the alerts of {where} in Alertmanager for {format_duration(seconds)} "
            f"(until about {until:%Y-%m-%d %H:%M} UTC): {len(alerts)} alert(s) match now, "
            f"{len(firing)} not yet silenced"
        )
        lines = ["+ silence with matchers (all must match):", *(f"+   {m.text()}" for m in matchers)]
        lines.append(f"alerts matching now ({len(alerts)}):" if alerts else "no alert matches right now")
        for a in alerts[:MAX_LISTED_ALERTS]:
            lines.append(f"    {a.labels.get('alertname', '?')} pod={a.labels.get('pod', '?')} ({a.state})")
        if len(alerts) > MAX_LISTED_ALERTS:
            lines.append(f"    … and {len(alerts) - MAX_LISTED_ALERTS} more")
        cluster = self.config.environments[proposal.environment].cluster_label
        ref, ns = f"{proposal.kind.lower()}/{proposal.workload}", shlex.quote(proposal.namespace)
        lines += [
            "amtool equivalent (to check, or to run by hand):",
            *kubectl_hints.silence(ref, ns, {**params, "cluster": cluster}),
        ]
        return summary, "\n".join(lines)

    async def _only_this_workload(self, environment: str, kind: str, namespace: str, workload: str) -> None:
        """Refuse when the pod pattern also matches a pod another owner runs in the namespace, or misses the
        workload's own pods. Run at the preview and again right before the silence is created (after the
        approval, which may come much later); a pod created after that is the residual risk the module
        `bot.alertmanager.matchers` describes."""
        if kind == "Pod":
            return  # an equality matcher on the pod's own name
        try:
            pods = await self.executor.namespace_pods(Target(environment, kind, namespace, workload))
        except (KubeError, KubeConfigError) as exc:
            raise Refusal(
                Rule.CLUSTER, f"the namespace's pods could not be listed to check the matchers: {exc}"
            ) from exc
        pattern = pod_pattern(kind, workload)
        foreign = foreign_pods(pods, kind, workload, pattern)
        if foreign:
            why = (
                f"the pod matcher of {namespace}/{workload} would also silence "
                f"{', '.join(foreign[:5])} (not its pods): silence by hand in Alertmanager"
            )
            raise Refusal(Rule.PARAMETER, why)
        own, missed = uncovered_pods(pods, kind, workload, pattern)
        if not own:
            why = f"{kind} {namespace}/{workload} has no pods right now: a silence by pod name would cover nothing"
            raise Refusal(Rule.PARAMETER, why)
        if missed:
            why = (
                f"the pod matcher of {namespace}/{workload} would not cover {len(missed)} of its {own} pod(s) "
                f"({', '.join(missed[:5])}): nothing silenced; silence by hand in Alertmanager"
            )
            raise Refusal(Rule.PARAMETER, why)

    async def _preview_unsilence(
        self, client: AlertmanagerClient, proposal: ProposalRow, silence_id: str
    ) -> tuple[str, str]:
        row = await self.silences.get(silence_id)
        if row is None or (row.environment, row.namespace, row.workload) != (
            proposal.environment,
            proposal.namespace,
            proposal.workload,
        ):
            raise Refusal(
                Rule.UNKNOWN, f"the bot created no silence {silence_id} for {proposal.namespace}/{proposal.workload}"
            )
        try:
            silence = await client.silence(silence_id)
        except AlertmanagerError as exc:
            raise Refusal(Rule.ALERTMANAGER, str(exc)) from exc
        if silence.state == "expired":
            await self.silences.expired(silence_id, "alertmanager", silence.ends_at)
            raise Refusal(Rule.STATE, f"silence {silence_id} already ended at {silence.ends_at:%Y-%m-%d %H:%M} UTC")
        who = row.created_by_name or row.created_by
        summary = (
            f"expire silence {silence_id} of {proposal.namespace}/{proposal.workload} (set by {who}, "
            f"until {silence.ends_at:%Y-%m-%d %H:%M} UTC): {await self._then(proposal, silence_id)}"
        )
        lines = ["- silence with matchers:", *(f"-   {m.text()}" for m in from_api(silence.matchers))]
        return summary, "\n".join(lines)

    # --- apply and verify ------------------------------------------------------------------------------------

    async def apply(self, actor: Actor, change: ChangeRow, failed: Fail) -> Verified | Failed:
        """POST (or DELETE) in Alertmanager, then read it back; every step audited, the outcome announced."""
        try:
            client = self._client(change.environment)
            if change.remedy == RemedyId.UNSILENCE:
                return await self._unsilence(actor, change, client, failed)
            return await self._silence(actor, change, client, failed)
        except Refusal as exc:
            return await failed(actor, change, str(exc))
        except AlertmanagerError as exc:
            return await failed(actor, change, f"{exc}; nothing was silenced or unsilenced that the bot knows of")

    async def _silence(
        self, actor: Actor, change: ChangeRow, client: AlertmanagerClient, failed: Fail
    ) -> Verified | Failed:
        self._watched(change.environment, change.namespace)  # again: the configuration may have changed since
        try:
            matchers = self.matchers(change.environment, change.kind, change.namespace, change.workload)
        except UnsupportedKind as exc:
            return await failed(actor, change, str(exc))
        # again after the confirmation or the approval: the namespace's pods may have changed since the preview
        await self._only_this_workload(change.environment, change.kind, change.namespace, change.workload)
        seconds = int(parse_duration(str(change.params["duration"])) or 0)
        starts = datetime.now(UTC)
        ends = starts + timedelta(seconds=seconds)
        requester = change.requested_by_name or change.requested_by
        # Alertmanager is one more place the bot writes to: the comment is redacted like Slack and SQL text (the
        # stored parameters already are, by their column type; this holds whatever the parameters' source)
        comment = redact(str(change.params.get("comment") or "") or f"silenced from crashloop-bot for {requester}")
        created_by = f"{requester} via crashloop-bot"
        adopted = ""
        try:
            silence_id = await client.create_silence(
                matchers, starts_at=starts, ends_at=ends, created_by=created_by, comment=comment
            )
        except AlertmanagerError as exc:
            if exc.status is not None or not exc.sent:  # refused, or never sent: nothing was created
                raise
            found = await self._created_anyway(client, matchers, created_by, comment, ends, exc)
            if isinstance(found, str):
                return await failed(actor, change, found)
            silence_id, adopted = found.id, " (found in Alertmanager after its answer was lost)"
        until = f"{ends:%Y-%m-%d %H:%M} UTC"
        try:
            await self.silences.add(
                id=silence_id,
                environment=change.environment,
                namespace=change.namespace,
                workload=change.workload,
                kind=change.kind,
                incident_id=change.incident_id,
                change_id=change.id,
                matchers=[m.api() for m in matchers],
                starts_at=starts,
                ends_at=ends,
                created_by=change.requested_by,
                created_by_name=change.requested_by_name,
                comment=comment,
            )
        except StoreUnavailable as exc:
            why = f"the bot could not record it ({exc})"
            return await self._take_back(actor, change, client, silence_id, until, why, failed)
        await self.trail.record(
            actor, "applied", "ok", change, detail=f"silence {silence_id} created until {until}{adopted}"
        )
        self.metrics.actions.labels(change.remedy, "applied").inc()
        try:
            back = await client.silence(silence_id)
        except AlertmanagerError as exc:
            return await failed(actor, change, f"silence {silence_id} was created but could not be read back: {exc}")
        off_by = abs((back.ends_at - ends).total_seconds())
        if (
            back.state not in ("active", "pending")
            or not same(back.matchers, matchers)
            or off_by > ENDS_TOLERANCE_SECONDS
        ):
            why = (
                f"it came back {back.state} until {back.ends_at:%Y-%m-%d %H:%M:%S} UTC with matchers "
                f"{', '.join(m.text() for m in from_api(back.matchers))}: not what was asked"
            )
            return await self._take_back(actor, change, client, silence_id, until, why, failed)
        detail = f"silence {silence_id} is {back.state} until {until}, with exactly the workload's matchers"
        return await self._verified(actor, change, detail, silence_id)

    async def _created_anyway(
        self,
        client: AlertmanagerClient,
        matchers: Sequence[Matcher],
        created_by: str,
        comment: str,
        ends: datetime,
        lost: AlertmanagerError,
    ) -> Silence | str:
        """After a POST whose answer was lost: the silence Alertmanager made of it (same matchers, the bot's
        createdBy and comment, the same end, not yet recorded by the bot), else why the change failed."""
        try:
            candidates = await client.silences(matchers)
        except AlertmanagerError as exc:
            return (
                f"{lost}; asking it whether the silence was created anyway failed too ({exc.message}): a silence "
                f"by {created_by!r} may be active — check Alertmanager's silences"
            )
        for silence in candidates:
            if (
                silence.state in ("active", "pending")
                and silence.created_by == created_by
                and silence.comment == comment
                and abs((silence.ends_at - ends).total_seconds()) <= ENDS_TOLERANCE_SECONDS
                and same(silence.matchers, matchers)
                and await self.silences.get(silence.id) is None
            ):
                return silence
        return f"{lost}; no silence by {created_by!r} with these matchers exists in Alertmanager: nothing was silenced"

    async def _take_back(
        self,
        actor: Actor,
        change: ChangeRow,
        client: AlertmanagerClient,
        silence_id: str,
        until: str,
        why: str,
        failed: Fail,
    ) -> Failed:
        """A silence that must not stay (unrecorded, or not what was asked): expired again, or said to be active
        when that fails — never "nothing was silenced" while it is."""
        try:
            await client.expire(silence_id)
        except AlertmanagerError as exc:
            return await failed(
                actor,
                change,
                f"silence {silence_id} was created, but {why}; expiring it again failed ({exc.message}): "
                f"it is ACTIVE in Alertmanager until {until} — expire it there by hand",
            )
        with contextlib.suppress(StoreUnavailable):  # recorded or not (the store may be what failed): ended
            await self.silences.expired(silence_id, "bot")
        return await failed(actor, change, f"silence {silence_id} was created, but {why}; it was expired again")

    async def _unsilence(
        self, actor: Actor, change: ChangeRow, client: AlertmanagerClient, failed: Fail
    ) -> Verified | Failed:
        silence_id = str(change.params["silence_id"])
        await client.expire(silence_id)
        await self.trail.record(actor, "applied", "ok", change, detail=f"silence {silence_id} expired")
        self.metrics.actions.labels(change.remedy, "applied").inc()
        try:
            back = await client.silence(silence_id)
        except AlertmanagerError as exc:
            return await failed(actor, change, f"silence {silence_id} was expired but could not be read back: {exc}")
        if back.state != "expired":
            return await failed(actor, change, f"silence {silence_id} is still {back.state} after it was expired")
        await self.silences.expired(silence_id, actor.id)
        detail = f"silence {silence_id} is expired: {await self._then(change, silence_id)}"
        return await self._verified(actor, change, detail, silence_id)

    async def _then(self, where: ChangeRow | ProposalRow, silence_id: str) -> str:
        """What expiring `silence_id` means for the workload's alerts: they notify again, unless another of the
        bot's silences still covers the workload."""
        other = await self.silences.in_force_for(
            where.environment, where.namespace, where.workload, excluding=silence_id
        )
        if other is None:
            return "its alerts notify again"
        return (
            f"other silences still cover this workload (silence {other.id} until "
            f"{other.ends_at:%Y-%m-%d %H:%M} UTC): its alerts stay silenced"
        )

    async def _verified(self, actor: Actor, change: ChangeRow, detail: str, silence_id: str) -> Verified:
        moved = await self.changes.move(change.id, ["applying"], "verified", detail=detail) or change
        await self.trail.record(actor, "verified", "ok", moved, detail=detail)
        self.metrics.actions.labels(change.remedy, "verified").inc()
        done = Verified(moved, detail, (silence_id,))
        await self.notifier.announce(done)
        return done
