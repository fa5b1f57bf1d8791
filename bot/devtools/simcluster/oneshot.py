"""Status and logs of a pod that runs to completion (a netcheck pod), as the kubelet reports them at a given moment.

While it runs the pod is `Running` and Ready. When its containers exit the pod is `Succeeded` (all exited 0:
`terminated` with reason `Completed`; Ready and ContainersReady `False` with reason `PodCompleted`) or `Failed`
(reason `Error`). When the run would outlast `activeDeadlineSeconds` (counted from `status.startTime`), the kubelet
stops it at the deadline: phase `Failed`, pod reason `DeadlineExceeded`, the container killed (exit code 137) and
its log cut at that moment. The kill is immediate (no termination grace period), a simplification.
"""

from __future__ import annotations

from typing import Any

from .clock import rfc3339, rfc3339_nano
from .errors import bad_request
from .ids import container_id, image_id
from .logs import select
from .podlogs import LogRequest
from .podstatus import qos_class
from .runtime import ContainerRun, OneShot, Output, PodRuntime

JsonObj = dict[str, Any]

DEADLINE_REASON = "DeadlineExceeded"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
KILLED_EXIT_CODE = 137
_NO_OUTPUT = Output(())


def _exit_code(job: OneShot, run: ContainerRun) -> int:
    if run.init:
        return 0  # init containers of a one-shot pod complete at once
    if job.deadline_exceeded:
        return KILLED_EXIT_CODE
    return job.outputs.get(run.name, _NO_OUTPUT).exit_code


def phase(job: OneShot, pod: PodRuntime, now: float) -> str:
    if not job.done(now):
        return "Running"
    if job.deadline_exceeded or any(_exit_code(job, r) != 0 for r in pod.main_runs):
        return "Failed"
    return "Succeeded"


def _container_status(pod: PodRuntime, job: OneShot, run: ContainerRun, now: float) -> JsonObj:
    cid = container_id(pod.uid, run.name, 0)
    running = not run.init and not job.done(now)
    if running:
        state: JsonObj = {"running": {"startedAt": rfc3339(job.started)}}
    else:
        code = _exit_code(job, run)
        state = {
            "terminated": {
                "exitCode": code,
                "reason": "Completed" if code == 0 else "Error",
                "startedAt": rfc3339(job.started),
                "finishedAt": rfc3339(job.started if run.init else job.ends),
                "containerID": cid,
            }
        }
    return {
        "name": run.name,
        "state": state,
        "lastState": {},
        "ready": running,
        "restartCount": 0,
        "image": run.image,
        "imageID": image_id(run.image),
        "containerID": cid,
        "started": running,
    }


def _condition(type_: str, ok: bool, since: float, reason: str = "", message: str = "") -> JsonObj:
    cond: JsonObj = {
        "type": type_,
        "status": "True" if ok else "False",
        "lastProbeTime": None,
        "lastTransitionTime": rfc3339(since),
    }
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _conditions(pod: PodRuntime, job: OneShot, now: float) -> list[JsonObj]:
    started = job.started
    if not job.done(now):
        return [
            _condition(kind, True, started)
            for kind in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")
        ]
    succeeded = phase(job, pod, now) == "Succeeded"
    unready = f"containers with unready status: [{' '.join(r.name for r in pod.main_runs)}]"
    reason, message = ("PodCompleted", "") if succeeded else ("ContainersNotReady", unready)
    return [
        _condition("PodReadyToStartContainers", False, job.ends),
        _condition("Initialized", True, started, "PodCompleted" if succeeded else ""),
        _condition("Ready", False, job.ends, reason, message),
        _condition("ContainersReady", False, job.ends, reason, message),
        _condition("PodScheduled", True, started),
    ]


def one_shot_status(pod: PodRuntime, job: OneShot, spec: JsonObj, now: float) -> JsonObj:
    status: JsonObj = {"phase": phase(job, pod, now), "conditions": _conditions(pod, job, now)}
    if job.done(now) and job.deadline_exceeded:
        status.update(message=DEADLINE_MESSAGE, reason=DEADLINE_REASON)
    status.update(
        hostIP=pod.node.ip,
        hostIPs=[{"ip": pod.node.ip}],
        podIP=pod.pod_ip,
        podIPs=[{"ip": pod.pod_ip}],
        startTime=rfc3339(pod.created),
    )
    if pod.init_runs:
        status["initContainerStatuses"] = [_container_status(pod, job, r, now) for r in pod.init_runs]
    main = sorted(pod.main_runs, key=lambda r: r.name)
    status["containerStatuses"] = [_container_status(pod, job, r, now) for r in main]
    status["qosClass"] = qos_class(spec)
    return status


def one_shot_logs(pod: PodRuntime, job: OneShot, container: str, request: LogRequest, now: float) -> str:
    """The lines the container has printed by now (all of them once it exited; up to the deadline if killed)."""
    if request.previous:
        raise bad_request(f'previous terminated container "{container}" in pod "{pod.name}" not found')
    until = min(now, job.ends)
    lines = []
    for offset, text in job.outputs.get(container, _NO_OUTPUT).lines:
        at = job.started + offset
        if at <= until:
            lines.append(f"{rfc3339_nano(at)} {text}" if request.timestamps else text)
    return select(lines, request.tail_lines, request.limit_bytes)
