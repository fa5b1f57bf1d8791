"""Small builders of hand-made evidence, with sensible defaults, so the test tables stay readable.

The defaults describe one Deployment `shop/web` with one pod `web-7f9c6d5b8-x2x4q` (created from ReplicaSet
`web-7f9c6d5b8`) whose only container `app` is crash-looping; every builder takes keyword overrides. The builders
construct the model directly (never through `bot.kube.parse`) so that they do not depend on the code under test.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from runbooks.model import (
    Change,
    ContainerSpec,
    ContainerStatus,
    Event,
    Evidence,
    LogExcerpt,
    ObjectRef,
    PodInfo,
    Probe,
    ReadFailure,
    Revision,
    Rollout,
    Termination,
    Workload,
)

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
NS = "shop"
WORKLOAD = "web"
POD = "web-7f9c6d5b8-x2x4q"
CONTAINER = "app"
IMAGE = "registry.example.com/shop/web:1.5.0"
OLD_IMAGE = "registry.example.com/shop/web:1.4.2"
CURRENT_RS = "web-7f9c6d5b8"
PREVIOUS_RS = "web-5d8b7c9f4"


def ago(minutes: float = 0, seconds: float = 0, hours: float = 0) -> datetime:
    return NOW - timedelta(hours=hours, minutes=minutes, seconds=seconds)


def term(
    reason: str | None = "Error",
    exit_code: int | None = 1,
    *,
    signal: int | None = None,
    message: str | None = None,
) -> Termination:
    return Termination(
        reason=reason,
        exit_code=exit_code,
        signal=signal,
        message=message,
        started_at=ago(minutes=2),
        finished_at=ago(minutes=1),
    )


def crashing(
    name: str = CONTAINER,
    *,
    last: Termination | None = None,
    waiting: str | None = "CrashLoopBackOff",
    waiting_message: str | None = None,
    restarts: int = 6,
    image: str = IMAGE,
    init: bool = False,
    terminated: Termination | None = None,
) -> ContainerStatus:
    """A container in CrashLoopBackOff whose last run ended with `last` (default: exit 1, reason Error)."""
    if waiting == "CrashLoopBackOff" and waiting_message is None:
        waiting_message = f"back-off 5m0s restarting failed container={name} pod={POD}"
    return ContainerStatus(
        name=name,
        image=image,
        init=init,
        ready=False,
        started=False,
        restart_count=restarts,
        waiting_reason=waiting,
        waiting_message=waiting_message,
        terminated=terminated,
        last_termination=term() if last is None else last,
    )


def waiting(reason: str, message: str | None = None, *, name: str = CONTAINER, image: str = IMAGE) -> ContainerStatus:
    """A container that never started: ImagePullBackOff, CreateContainerConfigError, ContainerCreating…"""
    return ContainerStatus(
        name=name,
        image=image,
        ready=False,
        started=False,
        restart_count=0,
        waiting_reason=reason,
        waiting_message=message,
    )


def running(name: str = CONTAINER, *, image: str = IMAGE, restarts: int = 0) -> ContainerStatus:
    """A healthy container: running and ready."""
    return ContainerStatus(
        name=name,
        image=image,
        ready=True,
        started=True,
        restart_count=restarts,
        running_since=ago(hours=3),
    )


def pod(
    *containers: ContainerStatus,
    name: str = POD,
    revision: str | None = CURRENT_RS,
    ready: bool | None = None,
    phase: str = "Running",
) -> PodInfo:
    statuses = containers or (crashing(),)
    is_ready = all(c.ready for c in statuses) if ready is None else ready
    return PodInfo(
        name=name,
        phase=phase,
        node="node-a",
        created=ago(minutes=30),
        revision=revision,
        containers=tuple(statuses),
        ready=is_ready,
    )


def probe(
    kind: str = "liveness",
    *,
    http: tuple[int, str] | None = (8080, "/healthz"),
    tcp: int | None = None,
    initial_delay: int = 0,
    period: int = 10,
    timeout: int = 1,
    failures: int = 3,
) -> Probe:
    """A probe with its raw JSON filled in the way the apiserver returns it."""
    raw: dict[str, Any]
    if tcp is not None:
        raw = {"tcpSocket": {"port": tcp}}
        handler = f"tcpSocket :{tcp}"
    else:
        assert http is not None
        raw = {"httpGet": {"path": http[1], "port": http[0], "scheme": "HTTP"}}
        handler = f"httpGet :{http[0]}{http[1]}"
    raw |= {
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "successThreshold": 1,
        "failureThreshold": failures,
    }
    return Probe(
        kind=kind,
        handler=handler,
        initial_delay_seconds=initial_delay,
        period_seconds=period,
        timeout_seconds=timeout,
        failure_threshold=failures,
        raw=raw,
    )


def spec(
    name: str = CONTAINER,
    *,
    image: str = IMAGE,
    memory: str | None = "256Mi",
    request_memory: str | None = "128Mi",
    probes: Iterable[Probe] = (),
    env: Iterable[str] = ("PORT",),
    refs: Iterable[ObjectRef] = (),
    command: Iterable[str] = (),
    args: Iterable[str] = (),
) -> ContainerSpec:
    limits = {"cpu": "500m"} | ({"memory": memory} if memory else {})
    requests = {"cpu": "100m"} | ({"memory": request_memory} if request_memory else {})
    return ContainerSpec(
        name=name,
        image=image,
        command=tuple(command),
        args=tuple(args),
        requests=requests,
        limits=limits,
        probes={p.kind: p for p in probes},
        env_names=tuple(env),
        refs=tuple(refs),
    )


def workload(
    *specs: ContainerSpec,
    name: str = WORKLOAD,
    namespace: str = NS,
    kind: str = "Deployment",
    service_account: str = "default",
) -> Workload:
    return Workload(
        kind=kind,
        name=name,
        namespace=namespace,
        uid="0b6c3d0e-1111-4a4a-9b9b-000000000001",
        replicas=1,
        ready_replicas=0,
        selector={"app": name},
        service_account=service_account,
        containers=specs or (spec(),),
    )


def event(
    reason: str,
    message: str,
    *,
    count: int = 1,
    type: str = "Warning",
    last_seen: datetime | None = None,
    first_seen: datetime | None = None,
    kind: str = "Pod",
    name: str = POD,
) -> Event:
    last = last_seen or ago(minutes=1)
    return Event(
        type=type,
        reason=reason,
        message=message,
        count=count,
        first_seen=first_seen or last - timedelta(minutes=10 if count > 1 else 0),
        last_seen=last,
        object_kind=kind,
        object_name=name,
    )


def liveness_kill(container: str = CONTAINER, count: int = 4) -> Event:
    return event(
        "Killing", f"Container {container} failed liveness probe, will be restarted", count=count, type="Normal"
    )


def revision(
    number: int,
    *,
    image: str = IMAGE,
    name: str | None = None,
    created: datetime | None = None,
    container: str = CONTAINER,
) -> Revision:
    return Revision(
        number=number,
        name=name or f"{WORKLOAD}-rev{number}",
        created=created,
        images={container: image},
        containers=(spec(container, image=image),),
    )


def rollout(
    *,
    previous: Revision | None = None,
    current: Revision | None = None,
    changes: Iterable[Change] | None = None,
) -> Rollout:
    """A rollout whose current revision (7, ReplicaSet CURRENT_RS) changed the image of `app` 10 minutes ago."""
    prev = previous or revision(6, image=OLD_IMAGE, name=PREVIOUS_RS, created=ago(hours=30))
    cur = current or revision(7, image=IMAGE, name=CURRENT_RS, created=ago(minutes=10))
    if changes is None:
        before, after = prev.images.get(CONTAINER, ""), cur.images.get(CONTAINER, "")
        changes = (Change(CONTAINER, "image", before, after),) if before != after else ()
    return Rollout(revisions=(prev, cur), current=cur, previous=prev, changes=tuple(changes))


def logs(*lines: str, container: str = CONTAINER, pod_name: str = POD, previous: bool = True) -> LogExcerpt:
    return LogExcerpt(pod=pod_name, container=container, previous=previous, lines=tuple(lines))


def evidence(
    *,
    status: ContainerStatus | None = None,
    others: Iterable[ContainerStatus] = (),
    pods: Iterable[PodInfo] | None = None,
    log_lines: Iterable[str] = (),
    events: Iterable[Event] = (),
    specs: Iterable[ContainerSpec] | None = None,
    rollout: Rollout | None = None,
    failures: Iterable[ReadFailure] = (),
    service_account: str = "default",
    service_account_exists: bool | None = True,
    service_accounts: Iterable[str] = ("default",),
    focus_container: str | None = CONTAINER,
    workload_name: str = WORKLOAD,
    collected_at: datetime | None = NOW,
) -> Evidence:
    """Evidence about `shop/web`: by default one pod whose container `app` crash-loops with exit 1 and no logs."""
    if pods is None:
        focus = status or crashing()
        pods = (pod(focus, *others),)
    pods = tuple(pods)
    lines = tuple(log_lines)
    log_pod = pods[0].name if pods else POD
    excerpts = (logs(*lines, container=focus_container or CONTAINER, pod_name=log_pod),) if lines else ()
    wl = workload(
        *(tuple(specs) if specs is not None else (spec(),)),
        name=workload_name,
        service_account=service_account,
    )
    return Evidence(
        environment="prod",
        workload=wl,
        pods=pods,
        focus_pod=pods[0].name if pods else None,
        focus_container=focus_container if pods else None,
        logs=excerpts,
        events=tuple(events),
        rollout=rollout,
        service_account_exists=service_account_exists,
        service_accounts=tuple(service_accounts),
        failures=tuple(failures),
        collected_at=collected_at,
    )


def remedy_ids(finding: Any) -> list[str]:
    return [str(r.id) for r in finding.remedies]


def remedy(finding: Any, remedy_id: str) -> Any:
    """The remedy with that id; fails the test with the ids offered when there is none."""
    for r in finding.remedies:
        if str(r.id) == remedy_id:
            return r
    raise AssertionError(f"no {remedy_id} remedy; offered: {remedy_ids(finding)}")


def quotes(finding: Any) -> list[str]:
    return [r.quote for r in finding.reasons if r.quote]
