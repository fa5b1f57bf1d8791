"""Helpers for the simulated cluster's tests: raw HTTP calls and read helpers over a sim's objects."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from bot.devtools.simcluster import SimCluster

TOKEN = "sim-token"


@dataclass
class RawResponse:
    status: int
    content_type: str
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def raw_request(
    url: str,
    method: str = "GET",
    token: str | None = TOKEN,
    headers: dict[str, str] | None = None,
    body: Any = None,
    timeout: float = 10.0,
) -> RawResponse:
    """One HTTP call without the official client, for the edges it hides (Accept headers, `True` booleans...)."""
    data = json.dumps(body).encode() if body is not None else None
    all_headers = {"Accept": "application/json", **(headers or {})}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    if data is not None:
        all_headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return RawResponse(response.status, response.headers.get("Content-Type", ""), response.read().decode())
    except urllib.error.HTTPError as err:
        return RawResponse(err.code, err.headers.get("Content-Type", ""), err.read().decode())


class SimView:
    """Read helpers over a sim's objects, for assertions."""

    def __init__(self, sim: SimCluster) -> None:
        self.sim = sim

    def pods(self, namespace: str, app: str) -> list[dict[str, Any]]:
        pods = self.sim.list_objects("v1", "pods", namespace)
        return [p for p in pods if p["metadata"].get("labels", {}).get("app") == app]

    def failing_pod(self, namespace: str, app: str) -> dict[str, Any]:
        """The first pod of an app whose Ready condition is False."""
        for pod in self.pods(namespace, app):
            if not self.ready(pod):
                return pod
        raise AssertionError(f"no failing pod for {namespace}/{app}")

    @staticmethod
    def ready(pod: dict[str, Any]) -> bool:
        return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])

    @staticmethod
    def status(pod: dict[str, Any], container: str) -> dict[str, Any]:
        statuses = [*pod["status"].get("initContainerStatuses", []), *pod["status"]["containerStatuses"]]
        return next(s for s in statuses if s["name"] == container)

    def replicasets(self, namespace: str, app: str) -> list[dict[str, Any]]:
        found = self.sim.list_objects("apps/v1", "replicasets", namespace)
        return [rs for rs in found if rs["metadata"].get("labels", {}).get("app") == app]

    def events_for(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return [e for e in self.sim.list_objects("v1", "events", namespace) if e["involvedObject"]["name"] == name]
