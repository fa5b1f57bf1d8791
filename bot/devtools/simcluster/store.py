"""The object store: every object by (group, resource, namespace, name), with a global resourceVersion.

It stamps `uid`, `creationTimestamp` and `resourceVersion`, hands out deep copies so nobody aliases stored state,
and tells subscribers (watches) about every change. It does no validation and no locking: the API layer
(`api.py`) holds the cluster lock around every use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from .clock import Clock, rfc3339
from .ids import Ids
from .resources import ResourceType

JsonObj = dict[str, Any]
T = TypeVar("T")
Key = tuple[str, str, str, str]
Listener = Callable[[str, ResourceType, JsonObj], None]


def clone(value: T) -> T:
    """A deep copy of JSON data (much cheaper than `copy.deepcopy`, which the store does on every read)."""
    data: Any = value
    if type(data) is dict:
        return cast(T, {k: clone(v) for k, v in data.items()})
    if type(data) is list:
        return cast(T, [clone(v) for v in data])
    return value


def meta(obj: JsonObj) -> JsonObj:
    """The object's metadata dict (created if missing)."""
    found = obj.setdefault("metadata", {})
    assert isinstance(found, dict)
    return found


def key_of(rt: ResourceType, obj: JsonObj) -> Key:
    m = meta(obj)
    return (rt.group, rt.plural, str(m.get("namespace", "")) if rt.namespaced else "", str(m.get("name", "")))


class ObjectStore:
    def __init__(self, clock: Clock, ids: Ids) -> None:
        self._clock = clock
        self._ids = ids
        self._objects: dict[Key, JsonObj] = {}
        self._rv = 1000
        self._listeners: list[Listener] = []

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def get(self, rt: ResourceType, namespace: str, name: str) -> JsonObj | None:
        found = self._objects.get((rt.group, rt.plural, namespace if rt.namespaced else "", name))
        return clone(found) if found is not None else None

    def list(
        self, rt: ResourceType, namespace: str | None = None, where: Callable[[JsonObj], bool] | None = None
    ) -> list[JsonObj]:
        """Objects of a type, in one namespace or all, ordered by namespace then name like etcd's keys.

        `where` filters on the stored object (it must not modify it) before anything is copied.
        """
        keys = sorted(k for k in self._objects if k[0] == rt.group and k[1] == rt.plural)
        selected = (self._objects[k] for k in keys if namespace is None or k[2] == namespace)
        return [clone(o) for o in selected if where is None or where(o)]

    def exists(self, rt: ResourceType, namespace: str, name: str) -> bool:
        return (rt.group, rt.plural, namespace if rt.namespaced else "", name) in self._objects

    def stamp_new(self, rt: ResourceType, obj: JsonObj, created: float | None = None) -> JsonObj:
        """Fill the fields the server owns on create, without storing (also used for dry runs)."""
        m = meta(obj)
        m.pop("resourceVersion", None)
        m["uid"] = self._ids.uid()
        m["creationTimestamp"] = rfc3339(self._clock.now() if created is None else created)
        if not rt.namespaced:
            m.pop("namespace", None)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        return obj

    def insert(self, rt: ResourceType, obj: JsonObj, created: float | None = None) -> JsonObj:
        self.stamp_new(rt, obj, created)
        return self._write("ADDED", rt, obj)

    def put(self, rt: ResourceType, obj: JsonObj) -> JsonObj:
        """Replace a stored object (the caller has already checked it exists)."""
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        return self._write("MODIFIED", rt, obj)

    def remove(self, rt: ResourceType, namespace: str, name: str) -> JsonObj | None:
        found = self._objects.pop((rt.group, rt.plural, namespace if rt.namespaced else "", name), None)
        if found is not None:
            self._rv += 1
            meta(found)["resourceVersion"] = str(self._rv)
            self._notify("DELETED", rt, found)
        return clone(found) if found is not None else None

    def _write(self, event: str, rt: ResourceType, obj: JsonObj) -> JsonObj:
        self._rv += 1
        meta(obj)["resourceVersion"] = str(self._rv)
        stored = clone(obj)
        self._objects[key_of(rt, stored)] = stored
        self._notify(event, rt, stored)
        return clone(stored)

    def _notify(self, event: str, rt: ResourceType, obj: JsonObj) -> None:
        for listener in list(self._listeners):
            listener(event, rt, obj)
