"""How a responder asks for a silence (or its end) in Slack: the root message's buttons and `/crashloop silence`.

Each door only finds the workload and the incident, makes a proposal and hands it to the guard
(`bot.guard.flow`), which checks who, the duration, previews in Alertmanager and waits for Confirm (and an
approval where the environment requires one) — exactly as for a remedy. The Silence button opens the remedy
form (duration, comment); its submission is the remedy form's (`handlers.slack_actions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.guard import proposals
from bot.guard.outcomes import Outcome, Refused, Rule
from bot.guard.silencing import outside
from bot.guard.trail import Actor
from bot.kube.client import KubeConfigError, KubeError
from bot.slack import blocks as sb
from bot.slack import change_messages
from bot.slack.ownership_messages import is_incident_id
from bot.store.rows import IncidentRow, ProposalRow
from bot.triage.locate import WorkloadNotFound, locate
from bot.wiring import Services
from runbooks.silence import parse_duration

Answer = tuple[str, list[dict[str, Any]]]
USAGE = "usage: `/crashloop silence ENV [NAMESPACE/]WORKLOAD DURATION [comment…]` (e.g. 2h, 90m, 1d)"
UNUSAGE = "usage: `/crashloop unsilence ENV [NAMESPACE/]WORKLOAD`"


@dataclass(frozen=True)
class Where:
    """The workload a silence is about, and its open incident (whose thread hears about it)."""

    environment: str
    namespace: str
    workload: str
    kind: str
    incident: IncidentRow | None

    @property
    def thread(self) -> tuple[str | None, str | None]:
        i = self.incident
        return (i.channel, i.root_ts) if i and i.root_ts and not i.root_ts.startswith("claim:") else (None, None)


def not_configured(environment: str) -> str:
    return f"silences are not configured for {environment}: it has no alertmanager_url in crashloop.yaml"


async def silence_proposal(services: Services, actor: Actor, incident_id: str) -> ProposalRow | Refused:
    """The Silence button (value: the incident id): a proposal for the form to fill in, or a refusal."""
    known = is_incident_id(incident_id)
    incident = await services.store.get_incident(int(incident_id)) if known else None
    if incident is None:
        return Refused(Rule.UNKNOWN, f"this button refers to no incident this bot posted ({incident_id[:40]!r})")
    if not services.alertmanagers.of(incident.environment):
        return Refused(Rule.ALERTMANAGER, not_configured(incident.environment))
    if not incident.kind:
        return Refused(Rule.UNKNOWN, "the workload's kind is not known yet (triage failed): press Re-run triage")
    where = Where(incident.environment, incident.namespace, incident.workload, incident.kind, incident)
    return await _propose(services, actor, where, "silence", {"duration": services.config.silences.default_duration})


async def unsilence(
    services: Services, actor: Actor, silence_id: str, channel: str | None, thread: str | None
) -> Outcome:
    """The Unsilence button (value: the silence id): the guard's preview of its expiry, or a refusal."""
    row = await services.store.silences.get(silence_id)
    if row is None:
        return Refused(Rule.UNKNOWN, f"the bot created no silence {silence_id!r}")
    incident = await services.store.get_incident(row.incident_id) if row.incident_id else None
    where = Where(row.environment, row.namespace, row.workload, row.kind, incident)
    proposal = await _propose(services, actor, where, "unsilence", {"silence_id": row.id})
    if isinstance(proposal, Refused):
        return proposal
    return await services.guard.request(actor, proposal.id, channel=channel, thread_ts=thread)


async def command(services: Services, user: str, name: str, args: list[str], channel: str | None) -> Answer:
    """`/crashloop silence …` and `/crashloop unsilence …`: the guard's preview for the asker, or why not."""
    tried = f"/crashloop {name} " + " ".join(args)
    silencing = name == "silence"
    if len(args) < (3 if silencing else 2) or (not silencing and len(args) > 2):
        return _error(tried, USAGE if silencing else UNUSAGE)
    env, workload = args[0], args[1]
    if env not in services.config.environments:
        return _error(
            tried, f"unknown environment `{env}`; configured: {', '.join(sorted(services.config.environments))}"
        )
    if not services.alertmanagers.of(env):
        return _error(tried, not_configured(env))
    if silencing and parse_duration(args[2]) is None:
        return _error(tried, f"`{sb.escape(args[2])}` is not a duration. {USAGE}")
    actor = Actor(user)
    refused = await services.guard.admit(actor, env, workload, name)
    if refused is not None:
        return _error(tried, sb.escape(refused.reason))
    namespace = workload.rpartition("/")[0]
    if namespace and namespace not in services.config.environments[env].namespaces:
        return _error(tried, sb.escape(outside(env, namespace, services.config.environments[env].namespaces)))
    try:
        where = await _find(services, env, workload)
    except WorkloadNotFound as exc:
        return _error(tried, sb.escape(exc.describe()))
    except (KubeError, KubeConfigError) as exc:
        return _error(tried, f"the cluster could not be read: {sb.escape(str(exc))}")
    if silencing:
        params = {"duration": args[2], **({"comment": " ".join(args[3:])} if args[3:] else {})}
        proposal = await _propose(services, actor, where, "silence", params)
    else:
        row = await services.store.silences.in_force_for(where.environment, where.namespace, where.workload)
        if row is None:
            return _error(tried, f"the bot holds no silence in force for {where.namespace}/{where.workload}")
        proposal = await _propose(services, actor, where, "unsilence", {"silence_id": row.id})
    if isinstance(proposal, Refused):
        return _error(tried, sb.escape(proposal.reason))
    fallback_channel, thread = where.thread
    outcome = await services.guard.request(actor, proposal.id, channel=fallback_channel or channel, thread_ts=thread)
    if isinstance(outcome, Refused):
        return _error(tried, sb.escape(outcome.reason))
    return change_messages.answer(outcome)


async def _find(services: Services, environment: str, name: str) -> Where:
    """The workload by `[namespace/]name`: its open incident when there is one, else the cluster says."""
    namespace, _, workload = name.rpartition("/")
    for incident in await services.store.list_incidents(environment=environment, status="open"):
        if incident.workload == workload and incident.kind and namespace in ("", incident.namespace):
            return Where(environment, incident.namespace, incident.workload, incident.kind, incident)
    env = services.config.environments[environment]
    triager = services.triager
    found = await locate(
        triager.kube, triager.reader(environment), [namespace] if namespace else env.namespaces, workload
    )
    located_name = str((found.obj.get("metadata") or {}).get("name") or workload)
    return Where(environment, found.namespace, located_name, found.kind, None)


async def _propose(
    services: Services, actor: Actor, where: Where, remedy: str, params: dict[str, Any]
) -> ProposalRow | Refused:
    refused = await services.guard.admit(actor, where.environment, where.workload, remedy)
    if refused is not None:
        return refused
    return await proposals.for_workload(
        services.store,
        environment=where.environment,
        namespace=where.namespace,
        workload=where.workload,
        kind=where.kind,
        remedy=remedy,
        params=params,
        minutes=services.config.actions.proposal_minutes,
        incident_id=where.incident.id if where.incident else None,
    )


def _error(tried: str, why: str) -> Answer:
    text = f":no_entry: `{tried}` — {why}"
    return text, [sb.section(text)]
