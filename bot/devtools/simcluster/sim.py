"""`SimCluster`: the simulated cluster as one object — state, HTTP server, and the admin controls tests use.

It runs either on a daemon thread with its own event loop (`with SimCluster(...).running() as sim:` from sync
code, e.g. a test that drives the official client or kubectl) or on the caller's loop (`async with
SimCluster(...) as sim:`). The admin methods are safe to call from any thread: they take the cluster lock.
While serving, a ticker writes the final status of pods that end on their own (netcheck pods) as they end, so
watchers hear of it without anyone else calling the API.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from . import kubeconfig
from .admin import admin_routes
from .api import ClusterApi
from .clock import Clock
from .context import ClusterContext
from .controllers import Controllers
from .environment import StoreFacts
from .errors import DEFAULT_USER
from .events import EventRecorder
from .faults import Fault, FaultSet
from .ids import Ids
from .kubelet import DEFAULT_NETCHECK_SECONDS, Kubelet
from .messages import ApiRequest, Target
from .podevents import PodEvents
from .requestlog import RecordedRequest, RequestLog
from .resources import ResourceType, default_registry
from .scenarios import Scenario
from .seeding import seed_cluster
from .server import Services, Settings, build_app
from .store import ObjectStore, clone
from .watch import WatchHub

JsonObj = dict[str, Any]
TICK_SECONDS = 0.1  # how often the kubelet's status updates for pods that ended on their own are written


def _build_api(clock: Clock, seed: int | None, restart_period: float | None, netcheck_seconds: float) -> ClusterApi:
    ids = Ids(seed)
    registry = default_registry()
    store = ObjectStore(clock, ids)
    recorder = EventRecorder(store, registry, clock, ids)
    facts, events = StoreFacts(store, registry), PodEvents(recorder, clock)
    kubelet = Kubelet(clock, facts, events, restart_period, netcheck_seconds)
    ctx = ClusterContext(store, registry, clock, ids, kubelet, recorder)
    return ClusterApi(ctx, Controllers(ctx))


class SimCluster:
    """A stateful kube-apiserver stand-in seeded with scenarios."""

    def __init__(
        self,
        scenarios: Iterable[Scenario] = (),
        *,
        latency: float = 0.0,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        restart_period: float | None = None,
        seed: int | None = None,
        netcheck_seconds: float = DEFAULT_NETCHECK_SECONDS,
    ) -> None:
        """`netcheck_seconds`: how long a netcheck pod runs on the sim clock (0: it has finished once created)."""
        self._clock = Clock()
        self._api = _build_api(self._clock, seed, restart_period, netcheck_seconds)
        self._faults = FaultSet()
        self._log = RequestLog()
        self._settings = Settings(latency=max(0.0, latency), token=token)
        self._host, self._port = host, port
        self._bound_port: int | None = None
        self._runner: web.AppRunner | None = None
        self._hub: WatchHub | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task[None] | None = None
        seed_cluster(self._api, list(scenarios))

    # -- lifecycle ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._bound_port is None:
            raise RuntimeError("the sim is not running")
        return f"http://{self._host}:{self._bound_port}"

    @property
    def port(self) -> int:
        if self._bound_port is None:
            raise RuntimeError("the sim is not running")
        return self._bound_port

    async def start(self) -> None:
        """Serve on the current event loop."""
        if self._runner is not None:
            raise RuntimeError("the sim is already running")
        self._hub = WatchHub(self._api)
        services = Services(self._api, self._faults, self._log, self._settings, self._hub)
        app = build_app(services, admin_routes(self))
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
            await web.SockSite(runner, sock).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner, self._bound_port = runner, sock.getsockname()[1]
        self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="simcluster-kubelet")

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            with self._api.lock:
                self._api.controllers.catch_up()

    async def stop(self) -> None:
        if self._ticker is not None:
            ticker, self._ticker = self._ticker, None
            ticker.cancel()
            with suppress(asyncio.CancelledError):
                await ticker
        if self._hub is not None:
            self._hub.close()
            self._hub = None
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        self._bound_port = None

    async def __aenter__(self) -> SimCluster:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @contextmanager
    def running(self) -> Iterator[SimCluster]:
        """Serve from a daemon thread with its own event loop for the duration of the block."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="simcluster", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout=30)
            self._loop, self._thread = loop, thread
            yield self
        finally:
            try:
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout=30)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=30)
                loop.close()
                self._loop = self._thread = None

    # -- clients -----------------------------------------------------------------------------------------

    def write_kubeconfig(self, path: str | Path, context: str = "sim") -> Path:
        """A kubeconfig with cluster, user and context named `context`, carrying the token."""
        return kubeconfig.write(path, self.url, self._settings.token, context)

    # -- admin controls (any thread) -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._log.snapshot()

    def clear_requests(self) -> None:
        self._log.clear()

    def add_fault(
        self,
        *,
        verb: str = "*",
        resource: str = "*",
        namespace: str | None = None,
        name: str | None = None,
        status: int | None = None,
        delay: float = 0.0,
        times: int | None = None,
        message: str | None = None,
        user: str = DEFAULT_USER,
        land: bool = False,
        drop: bool = False,
        dry_run: bool | None = None,
    ) -> Fault:
        fault = Fault(verb, resource, namespace, name, status, delay, times, message, user, land, drop, dry_run)
        return self.inject(fault)

    def inject(self, fault: Fault) -> Fault:
        return self._faults.add(fault)

    def active_faults(self) -> list[Fault]:
        return self._faults.active()

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def latency(self) -> float:
        return self._settings.get_latency()

    def set_latency(self, seconds: float) -> None:
        self._settings.set_latency(seconds)

    def set_dependency(self, target: str, up: bool) -> None:
        """Bring a dependency such as `orders-db:5432` up or down; pods are re-checked at once."""
        with self._api.lock:
            self._api.ctx.kubelet.facts.dependencies[target] = up
            self._api.controllers.refresh()

    @property
    def netcheck_seconds(self) -> float:
        return self._api.ctx.kubelet.netcheck_seconds

    def set_netcheck_seconds(self, seconds: float) -> None:
        """How long netcheck pods created from now on run (sim-clock seconds; 0 finishes them at once)."""
        with self._api.lock:
            self._api.ctx.kubelet.netcheck_seconds = max(0.0, float(seconds))

    def advance_time(self, seconds: float) -> None:
        """Move the simulated clock forward: restarts, event counts and ages grow, netcheck pods finish."""
        with self._api.lock:
            self._clock.advance(seconds)
            self._api.controllers.refresh()

    # -- objects, for assertions and set-up ----------------------------------------------------------------

    def _type(self, api_version: str, plural: str) -> ResourceType:
        group = api_version.rpartition("/")[0]
        rt = self._api.ctx.registry.lookup(group, plural)
        if rt is None or rt.api_version != api_version:
            raise KeyError(f"{plural} is not served in {api_version}")
        return rt

    def find_object(self, api_version: str, plural: str, namespace: str | None, name: str) -> JsonObj | None:
        rt = self._type(api_version, plural)
        with self._api.lock:
            self._api.controllers.catch_up()
            found = self._api.ctx.store.get(rt, namespace or "", name)
            return self._api.render(rt, found) if found is not None else None

    def get_object(self, api_version: str, plural: str, namespace: str | None, name: str) -> JsonObj:
        """A snapshot of an object as a client would read it; KeyError if it does not exist."""
        found = self.find_object(api_version, plural, namespace, name)
        if found is None:
            raise KeyError(f"{plural} {namespace}/{name} not found")
        return found

    def list_objects(self, api_version: str, plural: str, namespace: str | None = None) -> list[JsonObj]:
        rt = self._type(api_version, plural)
        with self._api.lock:
            self._api.controllers.catch_up()
            return [self._api.render(rt, o) for o in self._api.ctx.store.list(rt, namespace)]

    def create_object(self, obj: JsonObj) -> JsonObj:
        """Create an object as a client would (validation, admission, controllers), without HTTP or faults."""
        api_version, kind = str(obj.get("apiVersion", "v1")), str(obj.get("kind"))
        rt = self._api.ctx.registry.by_kind(api_version, kind)
        if rt is None:
            raise KeyError(f"{api_version}/{kind} is not served")
        namespace = str((obj.get("metadata") or {}).get("namespace", "default")) if rt.namespaced else None
        request = ApiRequest("POST", Target(rt, namespace), {}, json.dumps(obj).encode(), "application/json")
        response = self._api.handle(request)
        if response.status >= 400:
            raise ValueError(f"create failed: {response.body}")
        assert isinstance(response.body, dict)
        return clone(response.body)

    def delete_object(self, api_version: str, plural: str, namespace: str | None, name: str) -> None:
        rt = self._type(api_version, plural)
        response = self._api.handle(ApiRequest("DELETE", Target(rt, namespace, name), {}))
        if response.status >= 400:
            raise KeyError(f"delete failed: {response.body}")
