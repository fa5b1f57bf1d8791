"""The simulated kubelet: runs pods on two nodes and decides, per container, whether it is healthy.

On admission and whenever the cluster changes (a Secret appears, a dependency comes back), each container is
checked: a reference to a missing Secret/ConfigMap key is a `CreateContainerConfigError` for any pod; otherwise
the failure modes of the pod's workload apply until all their `heals_when` conditions hold. State changes are
recorded in the pod's runtime record; `status`, logs and growing restart counts are computed from it on read.

Netcheck pods (label `crashloop.dev/netcheck: "true"`) run to completion instead: their containers print the
check's result (`netcheck.py`) and exit after `netcheck_seconds` of the sim clock, or are stopped by the pod's
`activeDeadlineSeconds`. `finished` tells the API which of them ended since it last looked, so the status update
is written (and watchers hear of it) as a real kubelet's would be.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock
from .conditions import PodView
from .environment import StoreFacts, config_error
from .netcheck import Network, check, is_netcheck
from .oneshot import DEADLINE_MESSAGE, DEADLINE_REASON, one_shot_logs, one_shot_status
from .podevents import PodEvents
from .podlogs import LogRequest, container_name, read_logs
from .podstatus import crash_termination, last_start, pod_ready, pod_status
from .runtime import ContainerRun, CrashLoop, NodeInfo, OneShot, PodRuntime, WorkloadRef
from .scenarios import FailureMode
from .selectors import from_label_selector_object, labels_match
from .store import meta

JsonObj = dict[str, Any]

NODES = (NodeInfo("worker-1", "10.0.1.11", "10.244.1"), NodeInfo("worker-2", "10.0.1.12", "10.244.2"))
DEFAULT_HEALTHY_LOGS = "{t+0.000} INFO starting {container} image={image}\n{t+0.412} INFO listening on :8080\n"
DEFAULT_NETCHECK_SECONDS = 1.5  # how long a netcheck pod runs, in sim-clock seconds


@dataclass(frozen=True)
class Profile:
    """How a workload's containers behave: its failure modes and what its healthy containers print."""

    failures: tuple[FailureMode, ...] = ()
    healthy_logs: dict[str, str] = field(default_factory=dict)


class Kubelet:
    def __init__(
        self,
        clock: Clock,
        facts: StoreFacts,
        events: PodEvents,
        restart_period: float | None,
        netcheck_seconds: float = DEFAULT_NETCHECK_SECONDS,
    ) -> None:
        self._clock = clock
        self.facts = facts
        self._events = events
        self._restart_period = restart_period
        self.netcheck_seconds = max(0.0, netcheck_seconds)
        self._profiles: dict[WorkloadRef, Profile] = {}
        self._pods: dict[str, PodRuntime] = {}
        self._next_ip: dict[str, int] = {}
        self._images: set[tuple[str, str]] = set()  # (node, image) already pulled
        self._unfinished: dict[str, PodRuntime] = {}  # run-to-completion pods whose end is not reported yet
        self.replaying = False  # while seeding history: failure events come later, from `seed`

    def _profile(self, rt: PodRuntime) -> Profile | None:
        """The pod's workload profile; a bare pod (no owner) is its own workload."""
        return self._profiles.get(rt.workload or WorkloadRef(rt.namespace, "Pod", rt.name))

    def register(self, workload: WorkloadRef, profile: Profile) -> None:
        self._profiles[workload] = profile

    # -- placement and admission -------------------------------------------------------------------------

    def place(self, pod: JsonObj) -> None:
        """Schedule a pod that has no node yet onto the least busy node."""
        spec = pod.setdefault("spec", {})
        if not spec.get("nodeName"):
            load = {n.name: 0 for n in NODES}
            for rt in self._pods.values():
                load[rt.node.name] = load.get(rt.node.name, 0) + 1
            spec["nodeName"] = min(NODES, key=lambda n: load[n.name]).name

    def admit(self, pod: JsonObj, workload: WorkloadRef | None) -> None:
        """Start a stored pod: give it an IP, run its containers, record the kubelet's events."""
        m, spec = meta(pod), pod["spec"]
        node = next((n for n in NODES if n.name == spec.get("nodeName")), NODES[0])
        now = self._clock.now()
        rt = PodRuntime(
            str(m["uid"]),
            str(m["name"]),
            str(m["namespace"]),
            node,
            self._allocate_ip(node),
            now,
            workload,
            ready_since=now,
        )
        for field_name, init in (("initContainers", True), ("containers", False)):
            for c in spec.get(field_name) or []:
                rt.runs[c["name"]] = ContainerRun(c["name"], init, str(c.get("image", "")))
        self._pods[rt.uid] = rt
        self._events.scheduled(pod, rt)
        if workload is None and is_netcheck(pod):  # a bare pod: controllers' pods never run to completion here
            self._start_netcheck(pod, rt, now)
            return
        self._evaluate(pod, rt, now)

    def _allocate_ip(self, node: NodeInfo) -> str:
        octet = self._next_ip.get(node.name, 4) + 1
        self._next_ip[node.name] = octet if octet < 254 else 4
        return f"{node.pod_prefix}.{octet}"

    def forget(self, pod: JsonObj) -> None:
        rt = self._pods.pop(str(meta(pod).get("uid")), None)
        if rt is None:
            return
        self._unfinished.pop(rt.uid, None)
        now = self._clock.now()
        for run in rt.runs.values():
            if run.loop is not None and run.loop.ended is None:
                run.loop.ended = now
        if rt.one_shot is None or not rt.one_shot.done(now):
            self._events.stopping(pod, rt)

    def respec(self, pod: JsonObj) -> None:
        """A pod's spec was updated (only images may change): restart changed containers with the new image."""
        rt = self._pods.get(str(meta(pod).get("uid")))
        if rt is None:
            return
        if rt.one_shot is not None:
            self._redeadline(pod, rt.one_shot)
            return
        for container in [*(pod["spec"].get("initContainers") or []), *(pod["spec"].get("containers") or [])]:
            run = rt.runs.get(container["name"])
            if run is not None:
                run.image = str(container.get("image", run.image))
        self._evaluate(pod, rt, self._clock.now())

    # -- evaluation --------------------------------------------------------------------------------------

    def reevaluate(self, pods: Iterable[JsonObj]) -> list[JsonObj]:
        """Check pods again after the cluster changed, like the kubelet retrying; returns the pods that changed."""
        now = self._clock.now()
        changed = []
        for pod in pods:
            rt = self._pods.get(str(meta(pod).get("uid")))
            if rt is not None and rt.one_shot is None and self._evaluate(pod, rt, now):
                changed.append(pod)
        return changed

    def _evaluate(self, pod: JsonObj, rt: PodRuntime, now: float) -> bool:
        """Bring each container to the state its spec and the cluster imply; True if any changed."""
        spec = pod["spec"]
        blocked, changed = False, False
        for field_name in ("initContainers", "containers"):
            for container in spec.get(field_name) or []:
                run = rt.runs.get(container["name"])
                if run is None or blocked or (run.init and run.healthy):
                    continue  # init containers run once
                changed = self._apply(pod, rt, run, container, now) or changed
                blocked = run.init and not run.healthy
        ready = pod_ready(rt)
        if ready != rt.was_ready:
            rt.was_ready, rt.ready_since = ready, now
        return changed

    def _desired(
        self, rt: PodRuntime, spec: JsonObj, container: JsonObj, now: float
    ) -> tuple[FailureMode | None, str | None]:
        """(failing scenario mode, generic config error); a config error wins over a crash loop."""
        error = config_error(container, rt.namespace, self.facts)
        mode = self._failing_mode(rt, spec, container, now)
        if error is not None and (mode is None or mode.waiting_reason != "CreateContainerConfigError"):
            return None, error
        return mode, None

    def _failing_mode(self, rt: PodRuntime, spec: JsonObj, container: JsonObj, now: float) -> FailureMode | None:
        profile = self._profile(rt)
        view = PodView(rt.namespace, spec, container)
        for mode in profile.failures if profile else ():
            if mode.container != container["name"]:
                continue
            if mode.failing_since is not None and now < self._clock.started - mode.failing_since:
                continue
            if not mode.heals_when or not all(c.holds(view, self.facts) for c in mode.heals_when):
                return mode  # a failure with no heal condition (a recorded incident) never heals by itself
        return None

    def _apply(self, pod: JsonObj, rt: PodRuntime, run: ContainerRun, container: JsonObj, now: float) -> bool:
        mode, error = self._desired(rt, pod["spec"], container, now)
        if run.reached and run.mode is mode and run.config_error == error:
            return False
        if run.healthy and (error is not None or (mode is not None and not mode.crash_loops)):
            return False  # a running container's environment was resolved when it started: it keeps running
        first_start = not run.reached or run.config_error is not None
        was_looping = run.crash_looping
        if was_looping:
            self._end_loop(rt, run, now)
        run.reached, run.mode, run.config_error = True, mode, error
        if run.crash_looping and mode is not None:
            base = run.restarts + (0 if was_looping else 1)
            run.loop = CrashLoop(now, self._period(mode), base)
            run.started_at = None
        elif run.healthy:
            run.restarts += 1 if was_looping else 0
            run.started_at = now
        else:
            run.started_at = None
        self._record_transition(pod, rt, run, container, first_start)
        return True

    def _end_loop(self, rt: PodRuntime, run: ContainerRun, now: float) -> None:
        assert run.loop is not None
        assert run.mode is not None
        run.restarts = run.loop.restarts(now)
        run.last_termination = crash_termination(rt, run, now)
        run.previous = (run.mode, last_start(rt, run, now))
        run.loop.ended = now

    def _period(self, mode: FailureMode) -> float:
        return self._restart_period if self._restart_period is not None else mode.restart_period

    def _record_transition(
        self, pod: JsonObj, rt: PodRuntime, run: ContainerRun, container: JsonObj, first_start: bool
    ) -> None:
        if first_start:
            self._events.started(pod, rt, run, self._pull(rt, run, container))
        if run.mode is not None and run.config_error is None and not self.replaying:
            self._events.failing(pod, rt, run, seeded=False)

    def _pull(self, rt: PodRuntime, run: ContainerRun, container: JsonObj) -> bool:
        """Whether the node pulls the image (it is not there yet, or the policy is Always)."""
        pulled = (rt.node.name, run.image) in self._images
        self._images.add((rt.node.name, run.image))
        return str(container.get("imagePullPolicy", "IfNotPresent")) == "Always" or not pulled

    # -- netcheck pods: run to completion ------------------------------------------------------------------

    def _start_netcheck(self, pod: JsonObj, rt: PodRuntime, now: float) -> None:
        spec, net = pod["spec"], self._network()
        containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        outputs = {c["name"]: check(c, rt.namespace, net, self.netcheck_seconds) for c in spec.get("containers") or []}
        rt.one_shot = OneShot(now, self.netcheck_seconds, None, outputs)
        self._unfinished[rt.uid] = rt
        self._redeadline(pod, rt.one_shot)
        for container in containers:
            run = rt.runs[container["name"]]
            run.reached, run.started_at = True, now
            self._events.started(pod, rt, run, self._pull(rt, run, container))

    @staticmethod
    def _redeadline(pod: JsonObj, job: OneShot) -> None:
        """`activeDeadlineSeconds` counts from the pod's start (it may be lowered while the pod runs)."""
        seconds = pod["spec"].get("activeDeadlineSeconds")
        if not job.reported:
            job.deadline = job.started + float(seconds) if isinstance(seconds, int | float) else None

    def _network(self) -> Network:
        """The Services, the ready pods behind headless ones, and the dependencies, as a check sees them now."""
        services = tuple(self.facts.services())
        endpoints: dict[tuple[str, str], tuple[str, ...]] = {}
        for service in services:
            spec, m = service.get("spec") or {}, meta(service)
            if spec.get("clusterIP") == "None" and spec.get("selector"):
                wanted = from_label_selector_object({"matchLabels": spec["selector"]})
                endpoints[(str(m["namespace"]), str(m["name"]))] = tuple(
                    rt.pod_ip
                    for rt, labels in self._pod_labels(str(m["namespace"]))
                    if labels_match(wanted, labels) and pod_ready(rt) and rt.one_shot is None
                )
        return Network(services, endpoints, dict(self.facts.dependencies), dict(self.facts.host_ips))

    def _pod_labels(self, namespace: str) -> list[tuple[PodRuntime, JsonObj]]:
        found = []
        for pod in self.facts.pods(namespace):
            rt = self._pods.get(str(meta(pod).get("uid")))
            if rt is not None:
                found.append((rt, meta(pod).get("labels") or {}))
        return found

    def finished(self, now: float) -> list[tuple[str, str]]:
        """(namespace, name) of run-to-completion pods that ended by `now` and have not been reported yet."""
        return [
            (rt.namespace, rt.name)
            for rt in self._unfinished.values()
            if rt.one_shot is not None and rt.one_shot.done(now)
        ]

    def report_finished(self, pod: JsonObj) -> None:
        """The pod's end is written to the API now; a pod stopped at its deadline gets the kubelet's events."""
        rt = self._pods.get(str(meta(pod).get("uid")))
        if rt is None or rt.one_shot is None or rt.one_shot.reported:
            return
        job = rt.one_shot
        job.reported = True
        self._unfinished.pop(rt.uid, None)
        if job.deadline_exceeded:
            self._events.deadline_exceeded(pod, rt, job.ends, DEADLINE_REASON, DEADLINE_MESSAGE)

    # -- seeding -----------------------------------------------------------------------------------------

    def seed(self, pods: Iterable[JsonObj]) -> None:
        """Make the pods that exist at sim start look as the scenario says: restart counts, last crash, events."""
        start = self._clock.started
        for pod in pods:
            rt = self._pods.get(str(meta(pod).get("uid")))
            if rt is None:
                continue
            rt.seeded = True
            for run in rt.runs.values():
                self._seed_run(pod, rt, run, start)

    def _seed_run(self, pod: JsonObj, rt: PodRuntime, run: ContainerRun, start: float) -> None:
        mode = run.mode
        if mode is None or run.config_error is not None:
            return
        if run.crash_looping:
            finished_ago = mode.last_termination.finished_ago if mode.last_termination else 30.0
            run.loop = CrashLoop(start - finished_ago, self._period(mode), mode.restart_count)
        else:
            run.restarts = mode.restart_count
        self._events.failing(pod, rt, run, seeded=True)

    # -- reads -------------------------------------------------------------------------------------------

    def render(self, pod: JsonObj) -> JsonObj:
        rt = self._pods.get(str(meta(pod).get("uid")))
        if rt is not None and rt.one_shot is not None:
            pod["status"] = one_shot_status(rt, rt.one_shot, pod.get("spec") or {}, self._clock.now())
        elif rt is not None:
            pod["status"] = pod_status(rt, pod.get("spec") or {}, self._clock.now())
        return pod

    def is_ready(self, pod: JsonObj) -> bool:
        rt = self._pods.get(str(meta(pod).get("uid")))
        if rt is not None and rt.one_shot is not None:
            return not rt.one_shot.done(self._clock.now())
        return rt is not None and pod_ready(rt)

    def logs(self, pod: JsonObj, request: LogRequest) -> str:
        rt = self._pods.get(str(meta(pod).get("uid")))
        if rt is not None and rt.one_shot is not None:
            name = container_name(pod, request.container)
            return one_shot_logs(rt, rt.one_shot, name, request, self._clock.now())
        return read_logs(pod, rt, request, self._clock.now(), self._healthy_logs)

    def _healthy_logs(self, rt: PodRuntime, container: str) -> str:
        profile = self._profile(rt)
        if profile and container in profile.healthy_logs:
            return profile.healthy_logs[container]
        return DEFAULT_HEALTHY_LOGS
