"""Every remedy as one typed spec: id, title, parameters with their checks, form, patch, kubectl, success.

A remedy used to be spread over modules keyed by strings (titles in the Slack messages, form fields in the
forms, checks in the planner, kubectl in the hints). Here each is one `PatchRemedy` (or the `NetcheckRemedy`,
which runs a throwaway pod instead of patching, or an `AlertmanagerAction`, which silences the workload's alerts
instead of touching the cluster) and every door — buttons, forms, slash commands, the CLI — reads the same spec;
`tests/unit/test_remedy_registry.py` fails if a `RemedyId` lacks a complete one.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.remedies import kubectl_hints as kubectl
from bot.remedies import validation as check
from runbooks.model import Remedy, RemedyId, Workload

if TYPE_CHECKING:  # the planner is imported when a patch is built: a read-only triage only shows kubectl lines
    from bot.remedies.patches import PatchPlan

Check = Callable[[dict[str, Any], check.Limits], None]
Kubectl = Callable[[str, str, dict[str, Any]], list[str]]


@dataclass(frozen=True)
class Param:
    """One parameter: its key, the label a form shows, and how it is entered."""

    name: str
    label: str
    optional: bool = False
    in_form: bool = True  # asked in the Slack form (others come from the proposal or key=value only)
    sealed: bool = False  # a literal secret: never prefilled, never shown, sealed before it is stored


@dataclass(frozen=True)
class _Spec:
    id: RemedyId
    title: str
    params: tuple[Param, ...]
    checks: tuple[Check, ...]
    kubectl: Kubectl
    success: str

    @property
    def form(self) -> tuple[Param, ...]:
        """The fields the Slack form asks for (empty: no form, the button previews at once)."""
        return tuple(p for p in self.params if p.in_form)

    def validate(self, params: dict[str, Any], limits: check.Limits) -> None:
        """ParamRefused naming the first parameter outside what this environment allows."""
        for run in self.checks:
            run(params, limits)


@dataclass(frozen=True)
class PatchRemedy(_Spec):
    """A remedy that is one patch of the workload's pod template."""

    def build_patch(
        self,
        params: dict[str, Any],
        workload: dict[str, Any],
        history: list[dict[str, Any]],
        now: datetime | None = None,
    ) -> PatchPlan:
        from bot.remedies.patches import plan

        return plan(str(self.id), params, workload, history, now=now)


@dataclass(frozen=True)
class NetcheckRemedy(_Spec):
    """Not a patch: a throwaway pod in the workload's namespace checks DNS and TCP to a dependency."""


@dataclass(frozen=True)
class AlertmanagerAction(_Spec):
    """Not a patch and not a pod: a silence of the workload's alerts in its environment's Alertmanager (or its
    expiry). It goes through the same guard as every change — who may, parameters checked, preview, confirm,
    approval where required, audited — because muting an incident's alerts is a change to what people are told,
    but its preview, apply and verify talk to Alertmanager (`bot.guard.silencing`), never to the cluster."""


_CONTAINER = Param("container", "Container", in_form=False)
_VERIFY = "the workload's pods are all Ready and their restart counts stop growing (actions.verify_*)"

PATCH_REMEDIES: dict[RemedyId, PatchRemedy] = {
    r.id: r
    for r in (
        PatchRemedy(
            RemedyId.BUMP_MEMORY,
            "Bump memory",
            (_CONTAINER, Param("to", "New memory limit"), Param("request_to", "New memory request", True, False)),
            (check.container, check.memory),
            kubectl.bump_memory,
            f"no new OOMKilled; {_VERIFY}",
        ),
        PatchRemedy(
            RemedyId.PATCH_PROBES,
            "Relax probes",
            (_CONTAINER, Param("probes", "Probe settings", in_form=False)),
            (check.container, check.probes),
            kubectl.patch_probes,
            f"no more probe-failure kills; {_VERIFY}",
        ),
        PatchRemedy(
            RemedyId.SET_ENV,
            "Set env var",
            (
                _CONTAINER,
                Param("name", "Variable name"),
                Param("value", "Literal value (kept sealed, never shown)", True, sealed=True),
                Param("secret", "…or from Secret (name/key)", True),
                Param("configmap", "…or from ConfigMap (name/key)", True),
            ),
            (check.container, check.env_name),
            kubectl.set_env,
            f"the app starts with the variable set; {_VERIFY}",
        ),
        PatchRemedy(
            RemedyId.SET_IMAGE,
            "Set image",
            (_CONTAINER, Param("image", "Image")),
            (check.container, check.image),
            kubectl.set_image,
            f"the image pulls and the container starts; {_VERIFY}",
        ),
        PatchRemedy(
            RemedyId.ROLLOUT_UNDO,
            "Roll back",
            (Param("to_revision", "Revision", True, False),),
            (check.revision,),
            kubectl.rollout_undo,
            f"the previous revision runs; {_VERIFY}",
        ),
        PatchRemedy(
            RemedyId.ROLLOUT_RESTART,
            "Restart rollout",
            (),
            (check.nothing,),
            kubectl.rollout_restart,
            f"new pods replace the old ones; {_VERIFY}",
        ),
        PatchRemedy(
            RemedyId.SERVICE_ACCOUNT,
            "Switch service account",
            (Param("service_account", "Service account (must exist)"),),
            (check.service_account,),
            kubectl.service_account,
            f"no more permission errors at start; {_VERIFY}",
        ),
    )
}

NETCHECK = NetcheckRemedy(
    RemedyId.NETCHECK,
    "Check dependency",
    (Param("host", "Host"), Param("port", "Port", True)),
    (check.host_port,),
    kubectl.netcheck,
    "the dependency resolves in DNS and accepts TCP on its port, or the report says which of them fails",
)


SILENCE = AlertmanagerAction(
    RemedyId.SILENCE,
    "Silence alerts",
    (Param("duration", "For how long (e.g. 30m, 2h, 1d)"), Param("comment", "Why (shown in Alertmanager)", True)),
    (check.duration,),
    kubectl.silence,
    "Alertmanager holds an active silence with exactly the workload's matchers; its alerts are suppressed",
)

UNSILENCE = AlertmanagerAction(
    RemedyId.UNSILENCE,
    "Unsilence alerts",
    (Param("silence_id", "Silence", in_form=False),),
    (check.silence_id,),
    kubectl.unsilence,
    "Alertmanager reports the silence expired; the workload's alerts notify again",
)

ALERTMANAGER_ACTIONS: dict[RemedyId, AlertmanagerAction] = {SILENCE.id: SILENCE, UNSILENCE.id: UNSILENCE}


def spec_of(remedy: str | RemedyId) -> PatchRemedy | NetcheckRemedy | AlertmanagerAction:
    """The spec of `remedy`; KeyError for an unknown id."""
    remedy_id = RemedyId(remedy)
    if remedy_id in ALERTMANAGER_ACTIONS:
        return ALERTMANAGER_ACTIONS[remedy_id]
    return NETCHECK if remedy_id is RemedyId.NETCHECK else PATCH_REMEDIES[remedy_id]


def is_silencing(remedy: str) -> bool:
    """Whether `remedy` acts on Alertmanager rather than on the cluster (silence, unsilence)."""
    return remedy in (RemedyId.SILENCE, RemedyId.UNSILENCE)


def title_of(remedy: str) -> str:
    """The remedy's title, or its id when it is unknown (old audit rows)."""
    try:
        return spec_of(remedy).title
    except (KeyError, ValueError):
        return remedy


def kubectl_command(w: Workload, remedy: Remedy) -> list[str]:
    """The runbook's command(s) for `remedy` on workload `w`.

    A bare pod has no template: only what a pod itself allows (its containers' images; a netcheck beside it).
    """
    if w.kind == "Pod" and remedy.id not in (RemedyId.SET_IMAGE, RemedyId.NETCHECK, *ALERTMANAGER_ACTIONS):
        return []
    return spec_of(remedy.id).kubectl(f"{w.kind.lower()}/{w.name}", shlex.quote(w.namespace), remedy.params)
