"""Leader election over a coordination.k8s.io/v1 Lease, so singleton work runs on exactly one replica.

Every replica serves Slack and webhooks; only the leader runs the report scheduler, the restart sampler and the
recovery checks. The leader renews the Lease every `renew_seconds`; a replica takes it over when it has not been
renewed for `lease_seconds` (the old leader died) or when it was released (the old leader shut down cleanly and
cleared the holder: hand-over without waiting). Writes carry the Lease's resourceVersion, so two replicas racing
for an expired Lease cannot both win (the loser gets 409). Outside a cluster, or with SQLite (one process owns
the database), the process is its own leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.config import LeaderElection
from bot.kube.client import KubeError, LeaseClient, connect
from bot.kube.concurrent import AsyncKube
from bot.kube.parse import parse_time

log = logging.getLogger("crashloop.leader")
_MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"


def identity() -> str:
    """POD_NAME (from the downward API) or the host name, plus a random suffix: unique per process."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}-{uuid.uuid4().hex[:6]}"


def should_elect(settings: LeaderElection, database_url: str) -> bool:
    if settings.enabled is not None:
        return settings.enabled
    in_cluster = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    return in_cluster and not database_url.startswith("sqlite")


class Leader:
    """The election loop; `is_leader` says whether this process holds the Lease right now."""

    def __init__(
        self, settings: LeaderElection, *, elect: bool, on_change: Callable[[bool], None] | None = None
    ) -> None:
        self.settings = settings
        self.identity = identity()
        self.elect = elect
        self.is_leader = not elect  # without election, the process is its own leader
        self._on_change = on_change
        self._kube = AsyncKube(timeout=max(1.0, settings.renew_seconds))
        self._client: LeaseClient | None = None
        self._renewed: datetime | None = None

    def _lease_client(self) -> LeaseClient:
        if self._client is None:
            s = self.settings
            self._client = LeaseClient(connect(s.context, s.kubeconfig))
        return self._client

    async def run(self, stop: asyncio.Event) -> None:
        """Try to acquire or renew until `stop`; then release the Lease if held."""
        if self.elect:
            while not stop.is_set():
                await self._round()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.renew_seconds)
            await self._release()
        self._kube.close()

    async def _round(self) -> None:
        try:
            held = await self._try_acquire()
        except KubeError as exc:
            log.warning("leader election: %s", exc)
            held = False if not self.is_leader else self._still_valid()
        self._set(held)

    def _set(self, held: bool) -> None:
        if held != self.is_leader:
            log.info("leader election: %s is %s the leader", self.identity, "now" if held else "no longer")
            self.is_leader = held
            if self._on_change:
                self._on_change(held)

    def _still_valid(self) -> bool:
        """After a failed renewal, keep leading only while our last renewal has not expired."""
        return self._renewed is not None and datetime.now(UTC) - self._renewed < timedelta(
            seconds=self.settings.lease_seconds
        )

    async def _try_acquire(self) -> bool:
        s, client = self.settings, self._lease_client()
        lease = await self._kube.call("get lease", client.get, s.namespace, s.lease_name)
        now = datetime.now(UTC)
        if lease is None:
            await self._kube.call(
                "create lease", client.create, s.namespace, self._body(now, acquired=now, transitions=0)
            )
            self._renewed = now
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self.identity and not _expired(spec, now):
            return False
        acquired = parse_time(spec.get("acquireTime")) if holder == self.identity else now
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if holder == self.identity else 1)
        body = self._body(now, acquired=acquired or now, transitions=transitions)
        body["metadata"]["resourceVersion"] = (lease.get("metadata") or {}).get("resourceVersion")
        try:
            await self._kube.call("update lease", client.replace, s.namespace, s.lease_name, body)
        except KubeError as exc:
            if exc.status == 409:
                return False  # another replica wrote first
            raise
        self._renewed = now
        return True

    async def _release(self) -> None:
        """Hand over on shutdown: clear the holder so another replica takes over at its next try."""
        if not self.is_leader:
            return
        s, client = self.settings, self._lease_client()
        try:
            lease = await self._kube.call("get lease", client.get, s.namespace, s.lease_name)
            if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = None
                await self._kube.call("release lease", client.replace, s.namespace, s.lease_name, lease)
        except KubeError as exc:
            log.warning("leader election: could not release the lease: %s", exc)
        self._set(False)

    def _body(self, now: datetime, *, acquired: datetime, transitions: int) -> dict[str, Any]:
        s = self.settings
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": s.lease_name, "namespace": s.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": int(s.lease_seconds),
                "acquireTime": acquired.strftime(_MICRO),
                "renewTime": now.strftime(_MICRO),
                "leaseTransitions": transitions,
            },
        }


def _expired(spec: dict[str, Any], now: datetime) -> bool:
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    duration = int(spec.get("leaseDurationSeconds") or 15)
    return renewed is None or now - renewed > timedelta(seconds=duration)
