"""Pod `status` exactly as the kubelet writes it, computed from a pod's runtime record at a given moment.

Field names and order follow the Go structs (`containerStatuses[].state.waiting.reason`,
`lastState.terminated.exitCode`, ...), and derived values follow the kubelet: the back-off in a
CrashLoopBackOff message doubles from 10 s to 5 min, a pod whose init container fails stays `Pending` with its
containers waiting on `PodInitializing`, the QoS class follows requests and limits.
"""

from __future__ import annotations

from typing import Any

from .clock import go_duration, rfc3339
from .ids import container_id, image_id
from .logs import fill
from .quantity import parse_quantity
from .runtime import ContainerRun, PodRuntime
from .scenarios import Termination

JsonObj = dict[str, Any]

_DEFAULT_TERMINATION = Termination(reason="Error", exit_code=1)


def backoff_seconds(restarts: int) -> float:
    return float(min(300, 10 * 2 ** max(0, restarts - 1)))


def crash_termination(pod: PodRuntime, run: ContainerRun, now: float) -> JsonObj:
    """`lastState.terminated` of a crash-looping container: its most recent crash."""
    assert run.loop is not None
    assert run.mode is not None
    term = run.mode.last_termination or _DEFAULT_TERMINATION
    finished = run.loop.last_crash(now)
    started = max(pod.created, finished - term.ran_for)
    if term.reason == "StartError":
        started = 0.0  # the process never started: containerd reports the zero time
    result: JsonObj = {"exitCode": term.exit_code}
    if term.signal is not None:
        result["signal"] = term.signal
    result["reason"] = term.reason
    if term.message:
        result["message"] = fill(term.message, {**pod.values(), "container": run.name, "image": run.image})
    result["startedAt"] = rfc3339(started)
    result["finishedAt"] = rfc3339(finished)
    result["containerID"] = container_id(pod.uid, run.name, max(0, run.loop.restarts(now) - 1))
    return result


def last_start(pod: PodRuntime, run: ContainerRun, now: float) -> float:
    """When the most recent instance of a crash-looping container started."""
    assert run.loop is not None
    assert run.mode is not None
    term = run.mode.last_termination or _DEFAULT_TERMINATION
    return max(pod.created, run.loop.last_crash(now) - term.ran_for)


def _waiting(pod: PodRuntime, run: ContainerRun, now: float) -> JsonObj:
    if not run.reached:
        return {"reason": "PodInitializing"}
    if run.config_error is not None:
        return {"reason": "CreateContainerConfigError", "message": run.config_error}
    assert run.mode is not None
    message = run.mode.waiting_message
    if message is None and run.crash_looping:
        back_off = go_duration(backoff_seconds(run.restart_count(now)))
        message = (
            f"back-off {back_off} restarting failed container={run.name} pod={pod.name}_{pod.namespace}({pod.uid})"
        )
    waiting: JsonObj = {"reason": run.mode.waiting_reason}
    if message:
        waiting["message"] = fill(message, {**pod.values(), "container": run.name, "image": run.image})
    return waiting


def _state(pod: PodRuntime, run: ContainerRun, now: float) -> tuple[JsonObj, JsonObj]:
    """(state, lastState) of one container."""
    last: JsonObj = {}
    if run.crash_looping:
        last = {"terminated": crash_termination(pod, run, now)}
    elif run.last_termination is not None:
        last = {"terminated": dict(run.last_termination)}
    elif run.mode is not None and run.mode.last_termination is not None and run.reached:
        last = {"terminated": _scenario_termination(pod, run, now)}
    if not run.healthy:
        return {"waiting": _waiting(pod, run, now)}, last
    assert run.started_at is not None
    if run.init:
        cid = container_id(pod.uid, run.name, run.restarts)
        finished = rfc3339(run.started_at + 1)
        return {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": rfc3339(run.started_at),
                "finishedAt": finished,
                "containerID": cid,
            }
        }, last
    return {"running": {"startedAt": rfc3339(run.started_at)}}, last


def _scenario_termination(pod: PodRuntime, run: ContainerRun, now: float) -> JsonObj:
    assert run.mode is not None
    assert run.mode.last_termination is not None
    term = run.mode.last_termination
    finished = now - term.finished_ago
    result: JsonObj = {"exitCode": term.exit_code, "reason": term.reason}
    if term.message:
        result["message"] = fill(term.message, {**pod.values(), "container": run.name, "image": run.image})
    result.update(startedAt=rfc3339(finished - term.ran_for), finishedAt=rfc3339(finished))
    return result


def container_status(pod: PodRuntime, run: ContainerRun, now: float) -> JsonObj:
    state, last = _state(pod, run, now)
    ready = run.healthy
    restarts = run.restart_count(now)
    status: JsonObj = {
        "name": run.name,
        "state": state,
        "lastState": last,
        "ready": ready,
        "restartCount": restarts,
        "image": run.image,
        "imageID": image_id(run.image) if run.created else "",
    }
    if run.created:
        status["containerID"] = container_id(pod.uid, run.name, max(0, restarts - (0 if ready else 1)))
    status["started"] = bool(ready and not run.init)
    return status


def qos_class(spec: JsonObj) -> str:
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    requests_limits = [
        ((c.get("resources") or {}).get("requests") or {}, (c.get("resources") or {}).get("limits") or {})
        for c in containers
    ]
    if not any(r or lim for r, lim in requests_limits):
        return "BestEffort"
    for requests, limits in requests_limits:
        for name in ("cpu", "memory"):
            if name not in limits:
                return "Burstable"
            if name in requests and parse_quantity(requests[name]) != parse_quantity(limits[name]):
                return "Burstable"
    return "Guaranteed"


def _condition(type_: str, ok: bool, since: float, reason: str = "", message: str = "") -> JsonObj:
    cond: JsonObj = {
        "type": type_,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": rfc3339(since),
    }
    if not ok:
        cond.update(reason=reason, message=message)
    return cond


def _conditions(pod: PodRuntime, ready: bool) -> list[JsonObj]:
    incomplete = [r.name for r in pod.init_runs if not r.healthy]
    unready = [r.name for r in pod.main_runs if not r.healthy]
    init_msg = f"containers with incomplete status: [{' '.join(incomplete)}]"
    ready_msg = f"containers with unready status: [{' '.join(unready)}]"
    return [
        _condition("PodReadyToStartContainers", True, pod.created),
        _condition("Initialized", not incomplete, pod.created, "ContainersNotInitialized", init_msg),
        _condition("Ready", ready, pod.ready_since, "ContainersNotReady", ready_msg),
        _condition("ContainersReady", ready, pod.ready_since, "ContainersNotReady", ready_msg),
        _condition("PodScheduled", True, pod.created),
    ]


def pod_ready(pod: PodRuntime) -> bool:
    return pod.initialized and all(r.healthy for r in pod.main_runs)


def _phase(pod: PodRuntime) -> str:
    if not pod.initialized:
        return "Pending"
    started = any(r.healthy or r.crash_looping or r.last_termination for r in pod.main_runs)
    return "Running" if started else "Pending"


def pod_status(pod: PodRuntime, spec: JsonObj, now: float) -> JsonObj:
    ready = pod_ready(pod)
    status: JsonObj = {
        "phase": _phase(pod),
        "conditions": _conditions(pod, ready),
        "hostIP": pod.node.ip,
        "hostIPs": [{"ip": pod.node.ip}],
        "podIP": pod.pod_ip,
        "podIPs": [{"ip": pod.pod_ip}],
        "startTime": rfc3339(pod.created),
    }
    if pod.init_runs:
        status["initContainerStatuses"] = [container_status(pod, r, now) for r in pod.init_runs]
    main = sorted(pod.main_runs, key=lambda r: r.name)  # the kubelet sorts them by name
    status["containerStatuses"] = [container_status(pod, r, now) for r in main]
    status["qosClass"] = qos_class(spec)
    return status
