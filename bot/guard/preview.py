"""The checks before anything is consumed or changed: parameters, one change per workload, the dry run, staleness.

Each raises `Refusal` naming its rule; the guard (`bot.guard.flow`) turns that into an audited refusal and the
proposal stays usable. Parameter checks come from the remedy's spec (`bot.remedies.registry`) and compare with
the configured limits, the live container and the namespace's service accounts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.core.config import Config
from bot.guard.apply import port_of, with_literal
from bot.guard.executor import Executor, Target, not_allowed
from bot.guard.outcomes import Rule
from bot.guard.silencing import Silencing
from bot.guard.trail import Refusal
from bot.kube.client import KubeConfigError, KubeError, KubeObject
from bot.remedies import validation
from bot.remedies.patches import PlanError
from bot.remedies.registry import is_silencing, spec_of, title_of
from bot.store.changes import ChangeRow, ChangeStore
from bot.store.rows import ProposalRow


class Previewer:
    def __init__(self, *, config: Config, executor: Executor, changes: ChangeStore, silencing: Silencing) -> None:
        self.config, self.executor, self.changes, self.silencing = config, executor, changes, silencing

    def static(self, remedy: str, params: dict[str, Any]) -> None:
        """The parameter checks that need no cluster (limits, grammar)."""
        self._validate(remedy, params, validation.Limits(self.config.limits.max_memory, silence_seconds=self._silence))

    @property
    def _silence(self) -> tuple[int, int]:
        """The shortest and the longest silence allowed (crashloop.yaml `silences`), in seconds."""
        s = self.config.silences
        return s.min_minutes * 60, s.max_hours * 3600

    async def one_change(self, proposal: ProposalRow) -> None:
        """Refusal when the workload already has a change in progress (an abandoned, expired one does not count)."""
        other = await self.changes.active_for(proposal.environment, proposal.namespace, proposal.workload)
        abandoned = other is not None and other.state in ("previewed", "awaiting_approval")
        if other is not None and not (abandoned and other.expires_at <= datetime.now(UTC)):
            raise Refusal(Rule.ONE_CHANGE, busy(other))

    async def preview(self, proposal: ProposalRow, params: dict[str, Any], literal: str | None) -> tuple[str, str]:
        """Every parameter checked against the live workload, then the API server's dry run: (summary, diff)."""
        t = Target(proposal.environment, proposal.kind, proposal.namespace, proposal.workload)
        cannot = f"cannot {proposal.remedy} on {t.namespace}/{t.name}"
        try:
            if proposal.remedy == "netcheck":
                return await self._netcheck(t, params)
            if is_silencing(proposal.remedy):
                self.static(proposal.remedy, params)
                return await self.silencing.preview(proposal, params)
            live = await self.executor.read(t)
            limits = await self._limits(t, proposal.remedy, params, live[0])
            self._validate(proposal.remedy, with_literal(params, literal), limits)
            preview = await self.executor.preview(t, proposal.remedy, with_literal(params, literal), live)
        except PlanError as exc:
            raise Refusal(Rule.PARAMETER, f"{cannot}: {exc}") from exc
        except KubeError as exc:
            why = not_allowed(exc) if exc.status == 403 else f"the dry run failed: {exc.short}: {exc.message}"
            raise Refusal(Rule.CLUSTER, why) from exc
        except (KubeConfigError, KeyError, ValueError) as exc:
            raise Refusal(Rule.CLUSTER, f"{cannot}: {exc}") from exc
        if proposal.generation is not None and preview.generation != proposal.generation:
            raise Refusal(
                Rule.STALE,
                f"{t.namespace}/{t.name} changed since the triage (generation {proposal.generation} → "
                f"{preview.generation}): this proposal is stale; press Re-run triage",
            )
        return preview.plan.summary, preview.diff

    async def _netcheck(self, t: Target, params: dict[str, Any]) -> tuple[str, str]:
        self.static("netcheck", params)
        manifest = await self.executor.netcheck(t, str(params["host"]), port_of(params), dry_run=True)
        assert isinstance(manifest, dict)
        pod, where = manifest["metadata"]["name"], f"{params['host']}:{params.get('port')}"
        summary = f"run pod {pod} (busybox:1.36, 30 s max) to check {where}"
        return summary, "+ a throwaway pod, deleted after the check; no change to the workload"

    def _validate(self, remedy: str, params: dict[str, Any], limits: validation.Limits) -> None:
        try:
            spec_of(remedy).validate(params, limits)
        except validation.ParamRefused as exc:
            raise Refusal(Rule.PARAMETER, f"{title_of(remedy)}: {exc}", exc.field) from exc
        except (KeyError, ValueError) as exc:
            raise Refusal(Rule.PARAMETER, f"unknown remedy {remedy!r}") from exc

    async def _limits(self, t: Target, remedy: str, params: dict[str, Any], obj: KubeObject) -> validation.Limits:
        """What the parameter checks compare against, from the live workload (and the namespace's accounts)."""
        accounts = await self.executor.service_accounts(t) if remedy == "service_account" else None
        memory = current_memory(obj, params.get("container"))
        return validation.Limits(self.config.limits.max_memory, memory, accounts, self._silence)


def busy(other: ChangeRow) -> str:
    where, what = f"{other.namespace}/{other.workload}", f"{other.remedy} by {other.requested_by}"
    return f"one change per workload at a time: {what} is in progress on {where} ({other.state})"


def current_memory(obj: KubeObject, container: Any) -> str | None:
    """The named container's memory limit (or request) in the live workload, as written there."""
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if c.get("name") == container:
            resources = c.get("resources") or {}
            value = (resources.get("limits") or {}).get("memory") or (resources.get("requests") or {}).get("memory")
            return str(value) if value is not None else None
    return None
