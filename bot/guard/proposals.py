"""Turning a triage's remedies into proposals: the stored, single-use, expiring things a Slack button points at."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.store import Store
from bot.store.rows import ProposalRow
from runbooks.model import Evidence, Remedy


async def propose(
    store: Store, ev: Evidence, remedy: str, params: dict[str, Any], *, minutes: int, incident_id: int | None = None
) -> ProposalRow:
    """One proposal for `remedy` on the evidence's workload, bound to the generation the triage saw."""
    return await store.add_proposal(
        ttl=timedelta(minutes=minutes),
        incident_id=incident_id,
        environment=ev.environment,
        namespace=ev.workload.namespace,
        workload=ev.workload.name,
        kind=ev.workload.kind,
        remedy=remedy,
        params=params,
        resource_version=ev.workload.resource_version,
        generation=ev.workload.generation,
    )


async def buttons(
    store: Store, ev: Evidence, remedies: tuple[Remedy, ...], *, minutes: int, incident_id: int | None = None
) -> list[tuple[Remedy, str]]:
    """(remedy, proposal id) for each remedy: what the message's buttons carry."""
    return [
        (r, (await propose(store, ev, str(r.id), r.params, minutes=minutes, incident_id=incident_id)).id)
        for r in remedies
    ]


async def for_workload(
    store: Store,
    *,
    environment: str,
    namespace: str,
    workload: str,
    kind: str,
    remedy: str,
    params: dict[str, Any],
    minutes: int,
    incident_id: int | None = None,
) -> ProposalRow:
    """A proposal for an action asked for on a known workload without a fresh triage (silence, unsilence): it
    touches no workload, so it is bound to no generation."""
    return await store.add_proposal(
        ttl=timedelta(minutes=minutes),
        incident_id=incident_id,
        environment=environment,
        namespace=namespace,
        workload=workload,
        kind=kind,
        remedy=remedy,
        params=params,
        resource_version=None,
        generation=None,
    )
