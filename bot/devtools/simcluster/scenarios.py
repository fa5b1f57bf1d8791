"""Scenarios as data: each `scenarios/<name>.yaml` describes one workload and how its containers fail.

A scenario declares its namespace, the workload manifest with its older revisions and their ages, the objects
around it (Secrets, ConfigMaps, ServiceAccounts, Services), dependencies that are up or down, and for each failing
container its failure mode: state, last termination, restart count, logs, events and `heals_when` conditions.
This module parses and checks those files; seeding them into a cluster is `seeding.py`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .clock import parse_age
from .conditions import Condition, parse_condition

JsonObj = dict[str, Any]

_PACKAGE = __name__.rpartition(".")[0]
DEFAULT_RESTART_PERIOD = 300.0  # the kubelet's back-off cap: a long-crashing container restarts every 5 minutes


class ScenarioError(ValueError):
    """A scenario file that does not describe a usable scenario."""


@dataclass(frozen=True)
class EventSpec:
    """An event a failing container produces (kubelet's Unhealthy, Killing, Failed, ...)."""

    type: str
    reason: str
    message: str
    count: int = 1
    first_seen: float = 60.0
    last_seen: float = 10.0
    grows: bool = False
    per_restart: int = 1
    source: str = "kubelet"


@dataclass(frozen=True)
class Termination:
    """`lastState.terminated` of the failing container: how its most recent run ended."""

    reason: str
    exit_code: int
    message: str = ""
    signal: int | None = None
    ran_for: float = 1.0
    finished_ago: float = 30.0


@dataclass(frozen=True)
class FailureMode:
    container: str
    waiting_reason: str
    waiting_message: str | None
    last_termination: Termination | None
    restart_count: int
    restart_period: float
    logs_previous: str
    logs_current: str | None
    events: tuple[EventSpec, ...]
    heals_when: tuple[Condition, ...]
    failing_since: float | None = None

    @property
    def crash_loops(self) -> bool:
        """Restarts keep coming (CrashLoopBackOff), as opposed to a container that never starts."""
        return self.waiting_reason == "CrashLoopBackOff"


@dataclass(frozen=True)
class Revision:
    number: int
    age: float
    template_patch: JsonObj
    change_cause: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    namespace: str
    manifest: JsonObj
    revision: int
    age: float
    change_cause: str | None
    history: tuple[Revision, ...]
    objects: tuple[JsonObj, ...] = ()
    dependencies: dict[str, bool] = field(default_factory=dict)
    failures: tuple[FailureMode, ...] = ()
    healthy_logs: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def workload_name(self) -> str:
        return str(self.manifest["metadata"]["name"])


def _event(raw: JsonObj) -> EventSpec:
    return EventSpec(
        type=str(raw.get("type", "Warning")),
        reason=str(raw["reason"]),
        message=str(raw["message"]),
        count=int(raw.get("count", 1)),
        first_seen=parse_age(raw.get("first_seen", "1m")),
        last_seen=parse_age(raw.get("last_seen", "10s")),
        grows=bool(raw.get("grows", False)),
        per_restart=int(raw.get("per_restart", 1)),
        source=str(raw.get("source", "kubelet")),
    )


def _termination(raw: JsonObj | None) -> Termination | None:
    if not raw:
        return None
    signal = raw.get("signal")
    return Termination(
        reason=str(raw["reason"]),
        exit_code=int(raw["exit_code"]),
        message=str(raw.get("message", "")),
        signal=int(signal) if signal is not None else None,
        ran_for=parse_age(raw.get("ran_for", "1s")),
        finished_ago=parse_age(raw.get("finished", "30s")),
    )


def _failure(raw: JsonObj, default_period: float) -> FailureMode:
    waiting = raw.get("waiting") or {"reason": "CrashLoopBackOff"}
    since = raw.get("failing_since")
    return FailureMode(
        container=str(raw["container"]),
        waiting_reason=str(waiting["reason"]),
        waiting_message=waiting.get("message"),
        last_termination=_termination(raw.get("last_termination")),
        restart_count=int(raw.get("restart_count", 0)),
        restart_period=parse_age(raw.get("restart_period", default_period)),
        logs_previous=str(raw.get("logs_previous", "")),
        logs_current=raw.get("logs_current"),
        events=tuple(_event(e) for e in raw.get("events") or []),
        heals_when=tuple(parse_condition(c) for c in raw.get("heals_when") or []),
        failing_since=parse_age(since) if since is not None else None,
    )


def _revision(raw: JsonObj) -> Revision:
    return Revision(
        int(raw["revision"]), parse_age(raw["age"]), dict(raw.get("template") or {}), raw.get("change_cause")
    )


def _dependencies(raw: JsonObj) -> dict[str, bool]:
    states = {"up": True, "down": False, True: True, False: False}
    try:
        return {str(target): states[state] for target, state in raw.items()}
    except KeyError as exc:
        raise ScenarioError(f"a dependency is `up` or `down`, got {exc.args[0]!r}") from None


def parse_scenario(raw: JsonObj, name: str) -> Scenario:
    workload = raw["workload"]
    manifest = dict(workload["manifest"])
    manifest.setdefault("metadata", {}).setdefault("namespace", raw["namespace"])
    period = parse_age(raw.get("restart_period", DEFAULT_RESTART_PERIOD))
    return Scenario(
        name=str(raw.get("name", name)),
        description=str(raw.get("description", "")).strip(),
        namespace=str(raw["namespace"]),
        manifest=manifest,
        revision=int(workload.get("revision", 1)),
        age=parse_age(workload.get("age", "1d")),
        change_cause=workload.get("change_cause"),
        history=tuple(_revision(r) for r in workload.get("history") or []),
        objects=tuple(raw.get("objects") or []),
        dependencies=_dependencies(raw.get("dependencies") or {}),
        failures=tuple(_failure(f, period) for f in raw.get("failures") or []),
        healthy_logs={str(k): str(v) for k, v in (raw.get("healthy_logs") or {}).items()},
    )


def load_scenario_file(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
        return parse_scenario(raw, path.stem)
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path.name}: {exc}") from exc


def scenario_names() -> list[str]:
    folder = resources.files(_PACKAGE).joinpath("scenarios")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_scenarios(names: list[str] | None = None) -> list[Scenario]:
    """The packaged scenarios, all of them or the named ones (in the order given)."""
    known = scenario_names()
    wanted = known if names is None else names
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ScenarioError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(known)}")
    folder = resources.files(_PACKAGE).joinpath("scenarios")
    loaded = []
    for name in wanted:
        with resources.as_file(folder.joinpath(f"{name}.yaml")) as path:
            loaded.append(load_scenario_file(path))
    return loaded
