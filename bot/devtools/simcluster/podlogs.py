"""Reading a container's log the way the kubelet answers `GET .../pods/<name>/log`.

Which container (the only one, or the one named; otherwise a 400 naming the choices), which instance (the current
one, or with `previous` the last terminated one), and the kubelet's 400s when there is none: `previous terminated
container "app" in pod "x" not found`, `container "app" in pod "x" is waiting to start: CreateContainerConfigError`.
A crash-looping container's current log is its last run's, as on a real node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import bad_request
from .logs import render, select
from .podstatus import last_start
from .runtime import ContainerRun, PodRuntime
from .store import meta

JsonObj = dict[str, Any]


@dataclass(frozen=True)
class LogRequest:
    container: str | None
    previous: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    timestamps: bool = False


def container_name(pod: JsonObj, requested: str | None) -> str:
    spec, name = pod.get("spec") or {}, str(meta(pod).get("name"))
    containers = [str(c["name"]) for c in spec.get("containers") or []]
    inits = [str(c["name"]) for c in spec.get("initContainers") or []]
    if requested:
        if requested not in containers + inits:
            raise bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    if len(containers) == 1:
        return containers[0]
    message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
    if inits:
        message += f" or one of the init containers: [{' '.join(inits)}]"
    raise bad_request(message)


def _previous(rt: PodRuntime, run: ContainerRun, now: float) -> tuple[str, float]:
    if run.crash_looping and run.mode is not None:
        return run.mode.logs_previous, last_start(rt, run, now)
    if run.previous is not None:
        return run.previous[0].logs_previous, run.previous[1]
    raise bad_request(f'previous terminated container "{run.name}" in pod "{rt.name}" not found')


def _waiting_reason(run: ContainerRun) -> str:
    if not run.reached:
        return "PodInitializing"
    if run.config_error:
        return "CreateContainerConfigError"
    return run.mode.waiting_reason if run.mode else "ContainerCreating"


def log_source(rt: PodRuntime, run: ContainerRun, previous: bool, now: float, healthy: str) -> tuple[str, float]:
    """(log template, start time of the instance that printed it)."""
    if previous:
        return _previous(rt, run, now)
    if run.crash_looping and run.mode is not None:
        return run.mode.logs_current or run.mode.logs_previous, last_start(rt, run, now)
    if run.healthy and run.started_at is not None:
        return healthy, run.started_at
    raise bad_request(f'container "{run.name}" in pod "{rt.name}" is waiting to start: {_waiting_reason(run)}')


def read_logs(
    pod: JsonObj, rt: PodRuntime | None, request: LogRequest, now: float, healthy_logs: Callable[[PodRuntime, str], str]
) -> str:
    name = container_name(pod, request.container)
    if rt is None or name not in rt.runs:
        raise bad_request(f'container "{name}" in pod "{meta(pod).get("name")}" is waiting to start: ContainerCreating')
    run = rt.runs[name]
    template, started = log_source(rt, run, request.previous, now, healthy_logs(rt, name))
    values = {**rt.values(), "container": name, "image": run.image}
    return select(render(template, started, values, request.timestamps), request.tail_lines, request.limit_bytes)
