"""Injected faults: make chosen API calls fail (403, 404, 409, 500, ...) or hang, a given number of times.

A fault matches on verb (`get`, `list`, `create`, `update`, `patch`, `delete`, `watch` or `*`), resource as RBAC
names it (`pods`, `pods/log`, `deployments/scale`, `*`), and optionally namespace, name and whether the call is a
dry run (`dry_run`). A 403 is worded like an
RBAC denial for the bot's ServiceAccount, so the bot's tests see what production would show.

A lost answer is simulated with `land`: the call is carried out first (a PATCH lands in the store) and only then
delayed, answered with `status` (a 504 from a proxy) or, with `drop`, the connection closed without an answer —
what a client sees when the API server applied its write but the reply never arrived.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .errors import DEFAULT_USER, ApiError, for_code, forbidden


@dataclass(frozen=True)
class Fault:
    verb: str = "*"
    resource: str = "*"
    namespace: str | None = None
    name: str | None = None
    status: int | None = None
    delay: float = 0.0
    times: int | None = None
    message: str | None = None
    user: str = DEFAULT_USER
    land: bool = False  # carry the call out first, then delay / fail / drop its answer
    drop: bool = False  # close the connection instead of answering
    dry_run: bool | None = None  # only dry runs (True), only real calls (False), or both (None)
    id: int = field(default=0, compare=False)

    def matches(self, verb: str, resource: str, namespace: str | None, name: str | None, dry_run: bool = False) -> bool:
        return (
            self.dry_run in (None, dry_run)
            and self.verb in ("*", verb)
            and self.resource in ("*", resource)
            and self.namespace in (None, namespace)
            and self.name in (None, name)
        )

    def error(self, group: str, resource: str, verb: str, namespace: str | None, name: str | None) -> ApiError | None:
        if self.status is None:
            return None
        if self.status == 403:
            err = forbidden(group, resource, name or "", verb, namespace or "", self.user)
        else:
            err = for_code(self.status, group, resource, name or "", verb, namespace or "")
        if self.message is not None:
            err.message = self.message
        return err

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaultSet:
    """The active faults; thread-safe (tests add faults from their own thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, fault: Fault) -> Fault:
        if fault.status is None and fault.delay <= 0 and not fault.drop:
            raise ValueError("a fault needs a status, a delay or drop")
        with self._lock:
            stored = replace(fault, id=next(self._ids))
            self._faults.append(stored)
            return stored

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(
        self, verb: str, resource: str, namespace: str | None, name: str | None, *, dry_run: bool = False
    ) -> Fault | None:
        """The first fault matching this call, using up one of its `times`."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(verb, resource, namespace, name, dry_run):
                    if fault.times is not None:
                        remaining = fault.times - 1
                        if remaining <= 0:
                            del self._faults[index]
                        else:
                            self._faults[index] = replace(fault, times=remaining)
                    return fault
        return None
