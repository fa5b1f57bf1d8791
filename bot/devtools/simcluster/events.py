"""Kubernetes Events as the kubelet and the controllers record them, with counts that keep growing.

A crash-looping container keeps producing `BackOff` (and `Created`, `Started`, `Unhealthy`...) events; the real
recorder aggregates them into one Event whose `count` and `lastTimestamp` go up. Here an event can carry a
*growth* function, evaluated when the event is read, so counts grow with the simulated clock without any
background task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .clock import Clock, parse_rfc3339, rfc3339, rfc3339_micro
from .ids import Ids
from .resources import ResourceRegistry
from .store import ObjectStore, meta

JsonObj = dict[str, Any]
Growth = Callable[[float], tuple[int, float] | None]
EVENT_TTL = 3600.0  # the apiserver's --event-ttl: older events are gone


@dataclass(frozen=True)
class Source:
    component: str
    host: str = ""


@dataclass(frozen=True)
class Occurrence:
    """How often and when an event happened; defaults to once, now."""

    count: int = 1
    first: float | None = None
    last: float | None = None


def involved_object(obj: JsonObj, field_path: str | None = None) -> JsonObj:
    m = meta(obj)
    ref: JsonObj = {
        "kind": obj.get("kind"),
        "namespace": m.get("namespace"),
        "name": m.get("name"),
        "uid": m.get("uid"),
        "apiVersion": obj.get("apiVersion"),
        "resourceVersion": m.get("resourceVersion"),
    }
    if field_path:
        ref["fieldPath"] = field_path
    return ref


class EventRecorder:
    def __init__(self, store: ObjectStore, registry: ResourceRegistry, clock: Clock, ids: Ids) -> None:
        self._store = store
        self._events = registry.get("", "events")
        self._clock = clock
        self._ids = ids
        self._growth: dict[tuple[str, str], Growth] = {}

    def record(
        self,
        obj: JsonObj,
        type_: str,
        reason: str,
        message: str,
        source: Source,
        *,
        field_path: str | None = None,
        when: Occurrence | None = None,
        growth: Growth | None = None,
    ) -> None:
        when = when or Occurrence()
        first = self._clock.now() if when.first is None else when.first
        last = first if when.last is None else max(when.last, first)
        if last < self._clock.started - EVENT_TTL:
            return  # expired before the sim started, like any event older than the apiserver's --event-ttl
        event = self._event(obj, type_, reason, message, source, field_path)
        event.update(firstTimestamp=rfc3339(first), lastTimestamp=rfc3339(last), count=when.count)
        event["metadata"]["name"] = self._ids.event_name(str(meta(obj).get("name")), first)
        stored = self._store.insert(self._events, event, created=first)
        if growth is not None:
            self._growth[(str(event["metadata"]["namespace"]), str(meta(stored)["name"]))] = growth

    @staticmethod
    def _event(obj: JsonObj, type_: str, reason: str, message: str, source: Source, path: str | None) -> JsonObj:
        return {
            "metadata": {"namespace": str(meta(obj).get("namespace") or "default")},
            "involvedObject": involved_object(obj, path),
            "reason": reason,
            "message": message,
            "source": {"component": source.component, **({"host": source.host} if source.host else {})},
            "type": type_,
            "eventTime": None,
            "reportingComponent": source.component,
            "reportingInstance": source.host,
        }

    def record_scheduled(self, pod: JsonObj, node: str) -> None:
        """The scheduler writes events.k8s.io/v1 events: eventTime set, no first/last timestamps, no count."""
        now = self._clock.now()
        m = meta(pod)
        event: JsonObj = {
            "metadata": {"name": self._ids.event_name(str(m["name"]), now), "namespace": m["namespace"]},
            "involvedObject": involved_object(pod),
            "reason": "Scheduled",
            "message": f"Successfully assigned {m['namespace']}/{m['name']} to {node}",
            "source": {},
            "firstTimestamp": None,
            "lastTimestamp": None,
            "type": "Normal",
            "eventTime": rfc3339_micro(now),
            "action": "Binding",
            "reportingComponent": "default-scheduler",
            "reportingInstance": "default-scheduler-control-plane",
        }
        if now >= self._clock.started - EVENT_TTL:
            self._store.insert(self._events, event, created=now)

    def render(self, event: JsonObj) -> JsonObj:
        """The event as of now: a growing event's count and lastTimestamp are brought up to date."""
        m = meta(event)
        growth = self._growth.get((str(m.get("namespace")), str(m.get("name"))))
        grown = growth(self._clock.now()) if growth is not None else None
        if grown is not None:
            count, last = grown
            event["count"] = max(int(event.get("count") or 1), count)
            stored_last = parse_rfc3339(str(event.get("lastTimestamp") or event.get("firstTimestamp")))
            event["lastTimestamp"] = rfc3339(max(last, stored_last))
        return event
