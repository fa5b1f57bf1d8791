"""The events the kubelet records about a pod's containers: pulls, creates, starts, back-offs, failures.

Events of a crash-looping container keep growing (`Started (x15 over 70m)`): their count and lastTimestamp are
derived from the container's crash loop when read. A scenario's own events (Unhealthy, Killing, Failed, ...)
replace the automatic one of the same reason.
"""

from __future__ import annotations

from typing import Any

from .clock import Clock
from .events import EVENT_TTL, EventRecorder, Growth, Occurrence, Source
from .logs import fill
from .runtime import ContainerRun, PodRuntime
from .scenarios import EventSpec

JsonObj = dict[str, Any]


def field_path(run: ContainerRun) -> str:
    return f"spec.{'initContainers' if run.init else 'containers'}{{{run.name}}}"


def _restart_growth(run: ContainerRun, scale: int = 1, offset: int = 1) -> Growth:
    def grow(now: float) -> tuple[int, float] | None:
        if run.loop is None:
            return None
        restarts = run.loop.restarts(now)
        return max(1, restarts * scale + offset), run.loop.last_crash(now)

    return grow


class PodEvents:
    """Records kubelet events for one cluster's pods."""

    def __init__(self, recorder: EventRecorder, clock: Clock) -> None:
        self._recorder = recorder
        self._clock = clock

    def scheduled(self, pod: JsonObj, rt: PodRuntime) -> None:
        self._recorder.record_scheduled(pod, rt.node.name)

    def started(self, pod: JsonObj, rt: PodRuntime, run: ContainerRun, pull: bool) -> None:
        """Pulling/Pulled, Created, Started: counts follow the restarts while the container crash-loops."""
        source = Source("kubelet", rt.node.name)
        path = field_path(run)
        growth = _restart_growth(run)
        if pull:
            self._event(pod, "Normal", "Pulling", f'Pulling image "{run.image}"', source, path, None)
            message = (
                f'Successfully pulled image "{run.image}" in 2.184s (2.184s including waiting). '
                "Image size: 48213527 bytes."
            )
            self._event(pod, "Normal", "Pulled", message, source, path, None)
        else:
            message = f'Container image "{run.image}" already present on machine'
            self._event(pod, "Normal", "Pulled", message, source, path, growth)
        if run.config_error is not None:
            self._event(pod, "Warning", "Failed", f"Error: {run.config_error}", source, path, None)
            return
        if run.mode is not None and not run.mode.crash_loops:
            return  # never created: the failure's own events tell why
        self._event(pod, "Normal", "Created", f"Created container: {run.name}", source, path, growth)
        term = run.mode.last_termination if run.mode else None
        if term is None or term.reason != "StartError":
            self._event(pod, "Normal", "Started", f"Started container {run.name}", source, path, growth)

    def failing(self, pod: JsonObj, rt: PodRuntime, run: ContainerRun, seeded: bool) -> None:
        """The failure's own events, plus the automatic BackOff of a crash loop unless the scenario has one."""
        assert run.mode is not None
        if seeded and run.crash_looping and rt.created < self._clock.started - EVENT_TTL:
            self._restart_events(pod, rt, run)
        specs = list(run.mode.events)
        if run.crash_looping and not any(s.reason == "BackOff" for s in specs):
            specs.append(self._auto_backoff(rt, run))
        for spec in specs:
            self._scenario_event(pod, rt, run, spec, seeded)

    def _crashing_for(self, rt: PodRuntime, run: ContainerRun) -> float:
        assert run.mode is not None
        if run.mode.failing_since is not None:
            return run.mode.failing_since
        return max(0.0, self._clock.started - rt.created - 10)

    def _restart_events(self, pod: JsonObj, rt: PodRuntime, run: ContainerRun) -> None:
        """A pod older than the event TTL still has the aggregated events of its recent restarts."""
        source, path = Source("kubelet", rt.node.name), field_path(run)
        now = self._clock.now()
        first = self._clock.started - self._crashing_for(rt, run)
        last = run.loop.last_crash(now) if run.loop is not None else first
        when = Occurrence(run.restart_count(now), first, last)
        messages = [
            ("Pulled", f'Container image "{run.image}" already present on machine'),
            ("Created", f"Created container: {run.name}"),
            ("Started", f"Started container {run.name}"),
        ]
        for reason, message in messages:
            self._recorder.record(
                pod, "Normal", reason, message, source, field_path=path, when=when, growth=_restart_growth(run, 1, 0)
            )

    def _auto_backoff(self, rt: PodRuntime, run: ContainerRun) -> EventSpec:
        """The kubelet re-records BackOff on every sync during back-off: a few per restart."""
        message = "Back-off restarting failed container {container} in pod {pod}_{namespace}({uid})"
        restarts = run.restart_count(self._clock.now())
        since_first_crash = self._crashing_for(rt, run)
        return EventSpec(
            "Warning",
            "BackOff",
            message,
            count=max(1, 3 * restarts),
            first_seen=since_first_crash,
            last_seen=5,
            grows=True,
            per_restart=3,
        )

    def deadline_exceeded(self, pod: JsonObj, rt: PodRuntime, at: float, reason: str, message: str) -> None:
        """The kubelet's active-deadline handler: a pod event, then the containers it kills."""
        source, when = Source("kubelet", rt.node.name), Occurrence(1, at, at)
        self._recorder.record(pod, "Normal", reason, message, source, when=when)
        for run in rt.main_runs:
            message = f"Stopping container {run.name}"
            self._recorder.record(pod, "Normal", "Killing", message, source, field_path=field_path(run), when=when)

    def stopping(self, pod: JsonObj, rt: PodRuntime) -> None:
        for run in rt.main_runs:
            if run.healthy:
                source = Source("kubelet", rt.node.name)
                self._event(pod, "Normal", "Killing", f"Stopping container {run.name}", source, field_path(run), None)

    def _scenario_event(self, pod: JsonObj, rt: PodRuntime, run: ContainerRun, spec: EventSpec, seeded: bool) -> None:
        now = self._clock.now()
        values = {**rt.values(), "container": run.name, "image": run.image}
        if seeded:
            first = max(rt.created, self._clock.started - spec.first_seen)
            when = Occurrence(spec.count, first, self._clock.started - spec.last_seen)
        else:
            when = Occurrence(1, now, now)
        growth = _restart_growth(run, spec.per_restart, when.count - spec.per_restart * run.restart_count(now))
        source = Source(spec.source, rt.node.name if spec.source == "kubelet" else "")
        self._recorder.record(
            pod,
            spec.type,
            spec.reason,
            fill(spec.message, values),
            source,
            field_path=field_path(run),
            when=when,
            growth=growth if spec.grows else None,
        )

    def _event(
        self, pod: JsonObj, type_: str, reason: str, message: str, source: Source, path: str, growth: Growth | None
    ) -> None:
        self._recorder.record(pod, type_, reason, message, source, field_path=path, growth=growth)
