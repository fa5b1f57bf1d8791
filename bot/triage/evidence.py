"""Gathering the evidence an expert gathers by hand, concurrently, each call time-boxed.

After the workload is located (one round trip), two more rounds read everything else at once:
  2. its pods, its rollout history (ReplicaSets / ControllerRevisions), its events, the namespace's service
     accounts, and whether each Secret/ConfigMap its template references exists;
  3. for the crashing pods: their events and the `logs --previous` of each crashing container.
So a triage costs three round trips however many pods, containers and events there are. A failed read is
recorded in the evidence (and shown), never fatal. All text from the cluster is redacted before it is kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.core.redact import redact_lines
from bot.kube.client import KubeReader
from bot.kube.concurrent import AsyncKube
from bot.kube.parse import (
    parse_event,
    parse_pod,
    parse_workload,
    rollout_from_controller_revisions,
    rollout_from_replicasets,
    selector_string,
    sort_events,
)
from bot.triage.locate import Located
from runbooks.model import (
    ContainerSpec,
    ContainerStatus,
    Event,
    Evidence,
    LogExcerpt,
    ObjectRef,
    PodInfo,
    ReadFailure,
    Rollout,
    Workload,
)


@dataclass(frozen=True)
class GatherSettings:
    """Bounds on what is read."""

    log_tail_lines: int = 200
    log_max_bytes: int = 64 * 1024
    max_pods: int = 5
    check_secrets: bool = True  # False: no `get secrets` (RBAC may not grant it); Secret refs say "not checked"


async def gather(
    kube: AsyncKube,
    reader: KubeReader,
    environment: str,
    located: Located,
    settings: GatherSettings,
    focus_pod: str | None = None,
) -> Evidence:
    """Rounds 2 and 3 of a triage: everything about the located workload.

    Round 3 (logs and events of the crashing pods) needs only the pod list, so it starts as soon as the pods
    arrive, while the rest of round 2 (history, events, refs) is still in flight.
    """
    workload = parse_workload(located.kind, located.obj)
    focus_pod = focus_pod or (located.pod or {}).get("metadata", {}).get("name")
    pods_call, other_calls, keys = _round_two(kube, reader, located, workload, check_secrets=settings.check_secrets)
    if kube.sequential:  # the benchmark's baseline: every call after the previous one
        pods_raw = await pods_call
        others_task: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        others_task.set_result(await kube.all(other_calls))
    else:
        others_task = asyncio.ensure_future(kube.all(other_calls))
        pods_raw = await pods_call
    early = _own_pods(located, workload, pods_raw, None)
    focus = _focus(early, focus_pod)
    chosen = _crashing(early, focus)[: settings.max_pods]
    logs, pod_events, failures = await _round_three(kube, reader, workload.namespace, chosen, focus, settings)
    history, wl_events, accounts, *ref_results = await others_task
    refs = dict(zip(keys, ref_results, strict=True))
    failures = [
        *located.failures,
        *(r for r in (pods_raw, history, wl_events, accounts, *ref_results) if isinstance(r, ReadFailure)),
        *failures,
    ]
    rollout = _rollout(located, history)
    pods = _own_pods(located, workload, pods_raw, rollout)
    kept = {p.name for p in pods}
    events = [
        *(e for e in pod_events if e.object_name in kept),
        *([] if isinstance(wl_events, ReadFailure) else wl_events),
    ]
    return Evidence(
        environment=environment,
        workload=_with_ref_existence(workload, refs),
        pods=tuple(pods),
        focus_pod=focus[0] if focus else focus_pod,
        focus_container=focus[1] if focus else None,
        logs=tuple(log for log in logs if log.pod in kept),
        events=sort_events(events),
        rollout=rollout,
        service_account_exists=None if isinstance(accounts, ReadFailure) else workload.service_account in accounts,
        service_accounts=() if isinstance(accounts, ReadFailure) else tuple(accounts),
        failures=tuple(failures),
        collected_at=datetime.now(UTC),
    )


def _round_two(
    kube: AsyncKube, reader: KubeReader, located: Located, workload: Workload, *, check_secrets: bool
) -> tuple[Awaitable[Any], list[Awaitable[Any]], list[tuple[str, str]]]:
    """The pod list, and the other reads of round 2 (history, events, service accounts, each referenced object)."""
    ns, name, kind = workload.namespace, workload.name, located.kind
    selector = selector_string((located.obj.get("spec") or {}).get("selector"))
    if kind == "Pod":
        pods: Awaitable[Any] = _const([located.obj])
        history: Awaitable[Any] = _const([])
    else:
        pods = kube.attempt(f"list pods of {kind.lower()} {ns}/{name}", reader.list_pods, ns, selector)
        list_history = reader.list_replicasets if kind == "Deployment" else reader.list_controller_revisions
        history = kube.attempt(f"rollout history of {ns}/{name}", list_history, ns, selector)
    others = [
        history,
        _events(kube, reader, ns, name, None if kind == "Pod" else kind),
        kube.attempt(f"list serviceaccounts in {ns}", reader.list_service_accounts, ns),
    ]
    keys = sorted({(r.kind, r.name) for c in workload.containers for r in c.refs})
    others.extend(_reference(kube, reader, ns, k, n, check_secrets=check_secrets) for k, n in keys)
    return pods, others, keys


def _reference(
    kube: AsyncKube, reader: KubeReader, ns: str, kind: str, name: str, *, check_secrets: bool
) -> Awaitable[Any]:
    """Whether a referenced Secret/ConfigMap exists: the only `get secrets` of the bot, skipped when turned off."""
    what = f"get {kind.lower()} {ns}/{name}"
    if kind == "Secret" and not check_secrets:
        return _const(ReadFailure(what, _NOT_CHECKED, "Secret references are not checked (triage.check_secrets)"))
    return kube.attempt(what, reader.exists, kind, ns, name)


_NOT_CHECKED = "not checked: triage.check_secrets is false"


async def _const(value: Any) -> Any:
    return value


async def _events(
    kube: AsyncKube, reader: KubeReader, ns: str, name: str, kind: str | None
) -> list[Event] | ReadFailure:
    raw = await kube.attempt(f"events of {ns}/{name}", reader.list_events, ns, name, kind)
    return raw if isinstance(raw, ReadFailure) else [parse_event(e) for e in raw]


def _rollout(located: Located, history: Any) -> Rollout | None:
    if isinstance(history, ReadFailure) or not history:
        return None
    if located.kind == "Deployment":
        return rollout_from_replicasets(located.obj, history)
    return rollout_from_controller_revisions(located.obj, history)


def _own_pods(located: Located, workload: Workload, pods_raw: Any, rollout: Rollout | None) -> list[PodInfo]:
    if isinstance(pods_raw, ReadFailure):
        return []
    revision_names = {r.name for r in rollout.revisions} if rollout else set()
    pods = []
    for raw in pods_raw:
        pod = parse_pod(raw)
        owned = located.kind == "Pod" or _owned(raw, located, workload, revision_names)
        if owned:
            pods.append(pod)
    return pods


def _owned(raw: dict[str, Any], located: Located, workload: Workload, revision_names: set[str]) -> bool:
    """Whether a pod matched by the selector really belongs to the workload (selectors may overlap)."""
    for ref in (raw.get("metadata") or {}).get("ownerReferences") or []:
        if located.kind == "Deployment" and ref.get("kind") == "ReplicaSet":
            if revision_names:
                return ref.get("name") in revision_names
            return str(ref.get("name", "")).startswith(f"{workload.name}-")  # before the history has arrived
        if ref.get("kind") == located.kind:
            return bool(ref.get("uid") == workload.uid or ref.get("name") == workload.name)
    return False


def _severity(c: ContainerStatus) -> tuple[bool, bool, int]:
    looping = (c.waiting_reason or "") in ("CrashLoopBackOff", "CreateContainerConfigError", "ImagePullBackOff")
    return (c.is_failing, looping, c.restart_count)


def _focus(pods: list[PodInfo], pod_name: str | None) -> tuple[str, str] | None:
    """(pod, container) most worth explaining: failing now, crash-looping, most restarts."""
    everywhere = [(p, c) for p in pods for c in p.containers if c.is_troubled]
    if not everywhere:  # a pod that never starts (volume mount, config error) still names pod and container
        everywhere = [(p, c) for p in pods if not p.ready for c in p.containers if c.waiting_reason]
    named = [(p, c) for p, c in everywhere if p.name == pod_name]
    candidates = named or everywhere  # the named pod may be a healthy one (an alert about an old replica)
    if not candidates:
        return None
    pod, container = max(candidates, key=lambda pc: _severity(pc[1]))
    return pod.name, container.name


def _pod_severity(p: PodInfo) -> tuple[bool, bool, int]:
    return max((_severity(c) for c in p.containers), default=(False, False, 0))


def _crashing(pods: list[PodInfo], focus: tuple[str, str] | None) -> list[PodInfo]:
    troubled = [p for p in pods if not p.ready or any(c.is_troubled for c in p.containers)]
    troubled.sort(key=lambda p: (focus is not None and p.name == focus[0], _pod_severity(p)), reverse=True)
    return troubled


async def _round_three(
    kube: AsyncKube,
    reader: KubeReader,
    ns: str,
    pods: list[PodInfo],
    focus: tuple[str, str] | None,
    settings: GatherSettings,
) -> tuple[list[LogExcerpt], list[Event], list[ReadFailure]]:
    log_calls: list[Awaitable[LogExcerpt | ReadFailure]] = []
    for pod in pods:
        troubled = sorted((c for c in pod.containers if c.is_troubled), key=_severity, reverse=True)
        wanted = troubled if focus and pod.name == focus[0] else troubled[:1]
        log_calls.extend(_logs(kube, reader, ns, pod.name, c, settings) for c in wanted)
    event_calls = [_events(kube, reader, ns, pod.name, "Pod") for pod in pods]
    results = await kube.all([*log_calls, *event_calls])
    logs = [r for r in results[: len(log_calls)] if isinstance(r, LogExcerpt)]
    failures = [r for r in results if isinstance(r, ReadFailure)]
    events = [e for r in results[len(log_calls) :] if isinstance(r, list) for e in r]
    return logs, events, failures


async def _logs(
    kube: AsyncKube, reader: KubeReader, ns: str, pod: str, c: ContainerStatus, settings: GatherSettings
) -> LogExcerpt | ReadFailure:
    """`logs --previous` of a container that has crashed before; current logs when there is no previous run."""
    previous = c.last_termination is not None
    kwargs = {"previous": previous, "tail_lines": settings.log_tail_lines, "limit_bytes": settings.log_max_bytes}
    what = f"logs {'--previous ' if previous else ''}{ns}/{pod}/{c.name}"
    text = await kube.attempt(what, reader.read_log, ns, pod, c.name, **kwargs)
    note = None
    if isinstance(text, ReadFailure) and previous and text.status.startswith("400"):
        kwargs["previous"] = False
        note = "no previous run was kept: these are the current logs"
        text = await kube.attempt(f"logs {ns}/{pod}/{c.name}", reader.read_log, ns, pod, c.name, **kwargs)
        previous = False
    if isinstance(text, ReadFailure):
        return text
    lines = text.splitlines()
    truncated = len(text.encode()) >= settings.log_max_bytes or len(lines) >= settings.log_tail_lines
    if not lines:
        note = note or "the container wrote no logs"
    return LogExcerpt(pod, c.name, previous, tuple(redact_lines(lines)), truncated, note)


def _with_ref_existence(workload: Workload, refs: dict[tuple[str, str], bool | ReadFailure]) -> Workload:
    def mark(ref: ObjectRef) -> ObjectRef:
        found = refs.get((ref.kind, ref.name))
        return dataclasses.replace(ref, exists=found if isinstance(found, bool) else None)

    def spec(c: ContainerSpec) -> ContainerSpec:
        return dataclasses.replace(c, refs=tuple(mark(r) for r in c.refs))

    return dataclasses.replace(workload, containers=tuple(spec(c) for c in workload.containers))
