"""Restarts per workload from Prometheus: PromQL over the standard kube-state-metrics series.

`increase()` over the restart counters gives restarts per container for the period, the period before and each
day (it handles counter resets). A container's restarts count as OOM kills while its last termination reason is
OOMKilled (a subquery at `Window.resolution`). Containers are aggregated to workloads in Python with
`kube_pod_owner` (pod → ReplicaSet, StatefulSet, DaemonSet, Job) and `kube_replicaset_owner` (ReplicaSet →
Deployment). Every selector is restricted to the environment's namespaces and, when set, its `cluster` label.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from bot.reports.model import Window, WorkloadRestarts
from runbooks.quantity import format_bytes

Labels = dict[str, str]
Vector = list[tuple[Labels, float]]
Matrix = list[tuple[Labels, list[tuple[float, float]]]]
Container = tuple[str, str, str]  # (namespace, pod, container)
NO_OWNER = "<none>"


class PrometheusError(Exception):
    """A query Prometheus did not answer; says which query and what came back."""


class PrometheusClient:
    """The two calls of the HTTP API the report needs (`/api/v1/query`, `/api/v1/query_range`)."""

    def __init__(self, url: str, session: aiohttp.ClientSession, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self._session = session
        self._timeout = timeout

    async def instant(self, expr: str, at: datetime) -> Vector:
        data = await self._post("query", {"query": expr, "time": _ts(at)})
        return [(dict(r["metric"]), float(r["value"][1])) for r in data["result"]]

    async def range(self, expr: str, start: datetime, end: datetime, step: timedelta) -> Matrix:
        form = {"query": expr, "start": _ts(start), "end": _ts(end), "step": f"{step.total_seconds():g}"}
        data = await self._post("query_range", form)
        return [(dict(r["metric"]), [(float(t), float(v)) for t, v in r["values"]]) for r in data["result"]]

    async def _post(self, endpoint: str, form: dict[str, str]) -> Any:
        where = f"{self.url}/api/v1/{endpoint} {form['query']!r}"
        try:
            async with self._session.post(
                f"{self.url}/api/v1/{endpoint}", data=form, timeout=aiohttp.ClientTimeout(total=self._timeout)
            ) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PrometheusError(f"{where}: {type(exc).__name__}: {exc}") from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else str(body)[:200]
            raise PrometheusError(f"{where}: HTTP {response.status}: {error}")
        return body["data"]


# --- PromQL -----------------------------------------------------------------------------------------------------


def selector(namespaces: Sequence[str], cluster: str | None, **extra: str) -> str:
    """`{namespace=~"a|b",cluster="c",…}` for the environment."""
    matchers = [f'namespace=~"{"|".join(namespaces)}"']  # DNS labels (validated config): no regex characters
    if cluster:
        matchers.append(f'cluster="{_quote(cluster)}"')
    matchers += [f'{k}="{_quote(v)}"' for k, v in extra.items()]
    return "{" + ",".join(matchers) + "}"


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def duration(d: timedelta) -> str:
    """A PromQL duration in whole seconds (at least 1s)."""
    return f"{max(1, math.ceil(d.total_seconds()))}s"


@dataclass(frozen=True)
class Queries:
    """The PromQL of one environment and window."""

    sel: str
    window: Window

    def restarts(self, over: timedelta) -> str:
        """Restarts per container (init containers included) over `over`, counter resets handled by increase()."""
        r = duration(over)
        main = f"increase(kube_pod_container_status_restarts_total{self.sel}[{r}])"
        init = f"increase(kube_pod_init_container_status_restarts_total{self.sel}[{r}])"
        return f"max by (namespace, pod, container) ({main} or {init})"

    def oom_kills(self) -> str:
        """Restarts while the container's last termination reason was OOMKilled, summed at `resolution` steps."""
        res, period = duration(self.window.resolution), duration(self.window.period)
        oom = "kube_pod_container_status_last_terminated_reason" + self.sel[:-1] + ',reason="OOMKilled"}'
        step = f"increase(kube_pod_container_status_restarts_total{self.sel}[{res}])"
        inner = f"{step} and on (namespace, pod, container) ({oom} == 1)"
        return f"max by (namespace, pod, container) (sum_over_time(({inner})[{period}:{res}]))"

    def pod_owners(self) -> str:
        over = duration(2 * self.window.period)
        return f"max by (namespace, pod, owner_kind, owner_name) (max_over_time(kube_pod_owner{self.sel}[{over}]))"

    def replicaset_owners(self) -> str:
        over = duration(2 * self.window.period)
        series = f"max_over_time(kube_replicaset_owner{self.sel}[{over}])"
        return f"max by (namespace, replicaset, owner_kind, owner_name) ({series})"

    def memory_limits(self) -> str:
        limits = "kube_pod_container_resource_limits" + self.sel[:-1] + ',resource="memory"}'
        return f"max by (namespace, pod, container) (last_over_time({limits}[{duration(self.window.period)}]))"


# --- fetching and aggregating -----------------------------------------------------------------------------------


async def prometheus_restarts(
    url: str,
    namespaces: Sequence[str],
    cluster: str | None,
    window: Window,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109  (per HTTP request, passed to aiohttp, not a deadline of the whole)
) -> list[WorkloadRestarts]:
    """Restarts per workload of the environment over `window` and the period before it."""
    q = Queries(selector(namespaces, cluster), window)
    instants = [
        (q.restarts(window.period), window.end),
        (q.restarts(window.period), window.start),  # the period before
        (q.oom_kills(), window.end),
        (q.pod_owners(), window.end),
        (q.replicaset_owners(), window.end),
        (q.memory_limits(), window.end),
    ]
    async with aiohttp.ClientSession() as session:
        client = PrometheusClient(url, session, timeout)
        daily, vectors = await asyncio.gather(
            client.range(q.restarts(window.bucket), window.first_bucket_end, window.end, window.bucket),
            asyncio.gather(*(client.instant(expr, at) for expr, at in instants)),
        )
    now, before, oom, pod_owners, rs_owners, limits = vectors
    return aggregate(_Raw(now, before, oom, daily, pod_owners, rs_owners, limits), window)


@dataclass(frozen=True)
class _Raw:
    now: Vector
    before: Vector
    oom: Vector
    daily: Matrix
    pod_owners: Vector
    rs_owners: Vector
    limits: Vector


def aggregate(raw: _Raw, window: Window) -> list[WorkloadRestarts]:
    """Containers → workloads (pure)."""
    resolve = _Owners(raw.pod_owners, raw.rs_owners)
    tallies: dict[tuple[str, str], _Tally] = {}

    def tally(labels: Labels) -> tuple[_Tally, str]:
        c = _container(labels)
        kind, name = resolve.workload(c[0], c[1])
        t = tallies.setdefault((c[0], name), _Tally(kind, [0.0] * window.buckets))
        t.pods.add(c[1])
        return t, c[2]

    for labels, value in raw.now:
        t, container = tally(labels)
        t.restarts[container] += value
    for labels, value in raw.before:
        tally(labels)[0].before += value
    for labels, value in raw.oom:
        t, container = tally(labels)
        t.oom[container] += value
    for labels, points in raw.daily:
        t = tally(labels)[0]
        for at, value in points:
            t.add_daily(at, value, window)
    limits = {_container(labels): value for labels, value in raw.limits}
    results = [t.result(key, limits) for key, t in sorted(tallies.items())]
    return [r for r in results if r.restarts or r.restarts_before]


def _container(labels: Labels) -> Container:
    return (labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", ""))


class _Owners:
    """Pod → workload from kube_pod_owner and kube_replicaset_owner."""

    def __init__(self, pod_owners: Vector, rs_owners: Vector) -> None:
        self._pods = {(m.get("namespace", ""), m.get("pod", "")): _owner(m) for m, _ in pod_owners}
        self._rs = {(m.get("namespace", ""), m.get("replicaset", "")): _owner(m) for m, _ in rs_owners}

    def workload(self, namespace: str, pod: str) -> tuple[str, str]:
        kind, name = self._pods.get((namespace, pod)) or ("Pod", pod)
        if kind == NO_OWNER:
            return ("Pod", pod)
        if kind == "ReplicaSet":
            rs_kind, rs_name = self._rs.get((namespace, name)) or (NO_OWNER, "")
            return (rs_kind, rs_name) if rs_kind != NO_OWNER else ("ReplicaSet", name)
        return (kind, name)


def _owner(labels: Labels) -> tuple[str, str]:
    return (labels.get("owner_kind") or NO_OWNER, labels.get("owner_name") or "")


@dataclass
class _Tally:
    kind: str
    daily: list[float]
    restarts: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))  # increase() extrapolates
    oom: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    before: float = 0.0
    pods: set[str] = field(default_factory=set)

    def add_daily(self, at: float, value: float, window: Window) -> None:
        index = round((at - window.start.timestamp()) / window.bucket.total_seconds()) - 1
        if 0 <= index < len(self.daily):
            self.daily[index] += value

    def result(self, key: tuple[str, str], limits: dict[Container, float]) -> WorkloadRestarts:
        restarts = round(sum(self.restarts.values()))
        ranked = {c: v for c, v in self.oom.items() if v > 0} or {c: v for c, v in self.restarts.items() if v > 0}
        container = max(ranked, key=lambda c: ranked[c]) if ranked else None
        mine = (v for (ns, pod, c), v in limits.items() if ns == key[0] and pod in self.pods and c == container)
        limit = max(mine, default=None)
        return WorkloadRestarts(
            namespace=key[0],
            workload=key[1],
            kind=self.kind,
            restarts=restarts,
            restarts_before=round(self.before),
            oom_kills=min(restarts, round(sum(self.oom.values()))),
            memory_limit=format_bytes(int(limit)) if limit else None,
            container=container,
            daily=tuple(round(v) for v in self.daily),
        )


def _ts(at: datetime) -> str:
    return f"{at.timestamp():.3f}"
