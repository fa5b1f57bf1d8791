"""What the simulated kubelet remembers about each pod: node, IP, and each container's run history.

The API objects only hold what was written; the running state (is this container crash-looping since when,
how many restarts had it when it recovered, what did its last instance print) lives here and is turned into
`status` when the pod is read. A pod that runs to completion (a netcheck pod) also carries a `OneShot`: when it
started, when it ends on its own or is stopped by its `activeDeadlineSeconds`, and what each container prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .scenarios import FailureMode


@dataclass(frozen=True)
class NodeInfo:
    name: str
    ip: str
    pod_prefix: str  # the node's podCIDR without the last octet, e.g. 10.244.1


@dataclass(frozen=True)
class WorkloadRef:
    namespace: str
    kind: str
    name: str


@dataclass
class CrashLoop:
    """A container crashing since `anchor` (when it had `base` restarts), restarted once per `period`."""

    anchor: float
    period: float
    base: int
    ended: float | None = None

    def crashes(self, now: float) -> int:
        until = now if self.ended is None else min(now, self.ended)
        if self.period <= 0 or until <= self.anchor:
            return 0
        return math.floor((until - self.anchor) / self.period)

    def restarts(self, now: float) -> int:
        return self.base + self.crashes(now)

    def last_crash(self, now: float) -> float:
        return self.anchor + self.crashes(now) * self.period


@dataclass
class ContainerRun:
    name: str
    init: bool
    image: str
    reached: bool = False  # False while an init container before it has not completed
    mode: FailureMode | None = None
    config_error: str | None = None
    loop: CrashLoop | None = None  # the current or most recent crash loop
    restarts: int = 0  # restartCount while not crash-looping
    started_at: float | None = None  # running (or, for init containers, completed) since
    last_termination: dict[str, object] | None = None  # frozen lastState.terminated after recovering
    previous: tuple[FailureMode, float] | None = None  # the last terminated instance: its mode and start

    @property
    def crash_looping(self) -> bool:
        return self.mode is not None and self.mode.crash_loops and self.config_error is None

    @property
    def healthy(self) -> bool:
        return self.reached and self.mode is None and self.config_error is None

    @property
    def created(self) -> bool:
        """A container (instance) exists or existed: it has an image ID and a container ID."""
        return self.healthy or self.crash_looping or self.last_termination is not None

    def restart_count(self, now: float) -> int:
        return self.loop.restarts(now) if self.crash_looping and self.loop else self.restarts


@dataclass(frozen=True)
class Output:
    """What one container of a run-to-completion pod prints (seconds into its run, line) and how it exits."""

    lines: tuple[tuple[float, str], ...]
    exit_code: int = 0


@dataclass
class OneShot:
    """A pod whose containers run once for `seconds` and exit, unless `deadline` (absolute) comes first."""

    started: float
    seconds: float
    deadline: float | None
    outputs: dict[str, Output]
    reported: bool = False  # its end has been written to the API (a status update watchers saw)

    @property
    def finishes(self) -> float:
        return self.started + self.seconds

    @property
    def deadline_exceeded(self) -> bool:
        return self.deadline is not None and self.finishes > self.deadline

    @property
    def ends(self) -> float:
        """When the containers stop: they exit on their own, or the kubelet kills them at the deadline."""
        if self.deadline is not None and self.deadline_exceeded:
            return self.deadline
        return self.finishes

    def done(self, now: float) -> bool:
        return now >= self.ends


@dataclass
class PodRuntime:
    uid: str
    name: str
    namespace: str
    node: NodeInfo
    pod_ip: str
    created: float
    workload: WorkloadRef | None
    runs: dict[str, ContainerRun] = field(default_factory=dict)
    seeded: bool = False
    ready_since: float = 0.0
    was_ready: bool = False
    one_shot: OneShot | None = None

    @property
    def init_runs(self) -> list[ContainerRun]:
        return [r for r in self.runs.values() if r.init]

    @property
    def main_runs(self) -> list[ContainerRun]:
        return [r for r in self.runs.values() if not r.init]

    @property
    def initialized(self) -> bool:
        return all(r.healthy for r in self.init_runs)

    def values(self) -> dict[str, str]:
        return {
            "pod": self.name,
            "namespace": self.namespace,
            "node": self.node.name,
            "pod_ip": self.pod_ip,
            "uid": self.uid,
        }
