"""The restart sampler: restart counts straight from the cluster, for environments without Prometheus.

Every `interval_seconds` it lists the pods of each environment's namespaces, resolves each pod to its workload
(Pod → ReplicaSet → Deployment by the `pod-template-hash` label; StatefulSet, DaemonSet and Job pods by their
controller), and stores a container's restart count when it differs from the last one stored. Restarts over a
period are then the sum of positive deltas; a drop (the counter reset: a new pod under the same name) counts the
new value from 0, and a pod first seen after sampling began counts from 0 as well. So does a pod created inside the
report's period, even on the sampler's first sweep: every restart it shows happened after its creation.

The sweep runs beside the webhooks in one event loop: every blocking step (opening the connection, listing pods,
turning thousands of pods into samples) runs in a worker thread, so an alert is never acknowledged late because
the sampler is reading a big or slow cluster (`tests/service/test_sampler_beside_webhooks.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.core.config import Config
from bot.kube.client import KubeConfigError, KubeError, KubeObject
from bot.kube.parse import owner, parse_time
from bot.store.report_rows import ReportStore, RestartSample
from bot.triage.run import Triager

log = logging.getLogger("crashloop.reports.sampler")
NETCHECK_LABEL = "crashloop.dev/netcheck"
OOM_KILLED = "OOMKilled"
PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Increment:
    """Restarts observed at one sample: `restarts` more than the sample before of the same container.

    A container counted from its pod's birth restarted somewhere between `since` (the pod's creation) and the
    sample; the report spreads those evenly. Other increments are placed at the sample (the sampler runs every few
    minutes, so that is when they happened, give or take an interval).
    """

    sample: RestartSample
    restarts: int
    since: datetime | None = None

    @property
    def oom(self) -> bool:
        return self.sample.last_reason == OOM_KILLED


# --- pods → samples (pure) ------------------------------------------------------------------------------------


def workload_of(pod: KubeObject) -> tuple[str, str] | None:
    """(kind, name) of the workload a pod belongs to; None for the bot's own netcheck pods."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    if labels.get(NETCHECK_LABEL):
        return None
    controller = owner(pod)
    if controller is None:
        return ("Pod", str(meta.get("name")))
    kind, name = controller
    template_hash = labels.get("pod-template-hash")
    if kind == "ReplicaSet" and template_hash and name.endswith(f"-{template_hash}"):
        return ("Deployment", name.removesuffix(f"-{template_hash}"))
    return (kind, name)


def samples_from_pods(
    environment: str, namespace: str, pods: Iterable[KubeObject], at: datetime
) -> list[RestartSample]:
    """One sample per container (init containers included) of every pod that belongs to a workload."""
    samples = []
    for pod in pods:
        workload = workload_of(pod)
        if workload is None:
            continue
        meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
        limits = _memory_limits(spec)
        created = parse_time(meta.get("creationTimestamp"))
        for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            name = str(cs.get("name"))
            samples.append(
                RestartSample(
                    environment=environment,
                    namespace=namespace,
                    workload=workload[1],
                    kind=workload[0],
                    pod=str(meta.get("name")),
                    container=name,
                    restarts=int(cs.get("restartCount") or 0),
                    at=at,
                    last_reason=_last_reason(cs),
                    memory_limit=limits.get(name),
                    pod_created=created,
                )
            )
    return samples


def _memory_limits(spec: KubeObject) -> dict[str, str]:
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    limits = {str(c.get("name")): ((c.get("resources") or {}).get("limits") or {}).get("memory") for c in containers}
    return {name: str(value) for name, value in limits.items() if value}


def _last_reason(status: KubeObject) -> str | None:
    terminated = (status.get("lastState") or {}).get("terminated") or (status.get("state") or {}).get("terminated")
    reason = (terminated or {}).get("reason")
    return str(reason)[:64] if reason else None


def changed(sample: RestartSample, previous: RestartSample | None) -> bool:
    """Whether a sample says something the last stored one of its container does not."""
    if previous is None:
        return True
    seen = (previous.restarts, previous.last_reason, previous.memory_limit, previous.pod_created, previous.workload)
    return (sample.restarts, sample.last_reason, sample.memory_limit, sample.pod_created, sample.workload) != seen


# --- samples → restarts (pure) --------------------------------------------------------------------------------


def increments(series: Sequence[RestartSample], counted_since: datetime | None) -> list[Increment]:
    """The restarts each sample of one container adds (oldest first); counter resets and new pods handled.

    The first sample of a container is its baseline, unless its pod was created after `counted_since` (the
    sampler's first sample, or the start of the period the caller counts): then every restart it shows happened
    since the pod's creation, and counts. A count lower than the one before (or a new pod under the same name) is
    a reset: the new value counts from 0.
    """
    out: list[Increment] = []
    previous: RestartSample | None = None
    for sample in sorted(series, key=lambda s: s.at):
        delta, since = _delta(sample, previous, counted_since)
        if delta > 0:
            out.append(Increment(sample, delta, since))
        previous = sample
    return out


def counted_from_birth(sample: RestartSample, counted_since: datetime | None) -> bool:
    """Whether a container's first sample counts in full: its pod was created after `counted_since`."""
    created = sample.pod_created
    return created is not None and counted_since is not None and created > counted_since


def _delta(
    sample: RestartSample, previous: RestartSample | None, counted_since: datetime | None
) -> tuple[int, datetime | None]:
    if previous is None:
        born = counted_from_birth(sample, counted_since)
        return (sample.restarts, sample.pod_created) if born else (0, None)
    if sample.pod_created != previous.pod_created or sample.restarts < previous.restarts:
        return sample.restarts, None
    return sample.restarts - previous.restarts, None


# --- the loop -------------------------------------------------------------------------------------------------


class RestartSampler:
    """Lists pods and stores restart counts that changed."""

    def __init__(
        self,
        *,
        config: Config,
        triager: Triager,
        store: ReportStore,
        is_leader: Callable[[], bool] = lambda: True,
    ) -> None:
        self.config = config
        self.triager = triager
        self.store = store
        self.is_leader = is_leader
        self._last: dict[tuple[str, str, str, str], RestartSample] = {}
        self._loaded: set[str] = set()
        self._pruned_at: datetime | None = None

    async def sample(self, environment: str, now: datetime | None = None) -> int:
        """One sweep of one environment; returns how many samples were stored."""
        now = now or datetime.now(UTC)
        await self._load(environment)
        current: list[RestartSample] = []
        complete = True
        for namespace in self.config.environment(environment).namespaces:
            pods = await self._pods(environment, namespace)
            complete = complete and pods is not None
            # thousands of pods take a while to read: in a worker thread, the event loop keeps answering webhooks
            found = await asyncio.to_thread(samples_from_pods, environment, namespace, pods or [], now)
            current.extend(found)
        last = dict(self._last)
        fresh = await asyncio.to_thread(lambda: [s for s in current if changed(s, last.get(s.series))])
        await self.store.add_samples(fresh)
        self._last.update((s.series, s) for s in fresh)
        if complete:  # forget containers of pods that are gone (the store keeps their history)
            seen = {s.series for s in current}
            self._last = {k: v for k, v in self._last.items() if k[0] != environment or k in seen}
        return len(fresh)

    async def sample_all(self, now: datetime | None = None) -> dict[str, int]:
        """One sweep of every environment; an environment that cannot be read is logged and skipped."""
        stored = {}
        for environment in self.config.environments:
            try:
                stored[environment] = await self.sample(environment, now)
            except (KubeError, KubeConfigError) as exc:
                log.warning("restart sampler: %s: %s", environment, exc)
        return stored

    async def run(self, stop: asyncio.Event, interval: float, retention: timedelta) -> None:
        """Sample every `interval` seconds (on the leader only) until `stop` is set."""
        while not stop.is_set():
            if self.is_leader():
                await self._tick(retention)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def _tick(self, retention: timedelta) -> None:
        now = datetime.now(UTC)
        try:
            await self.sample_all(now)
            if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
                await self.store.prune_samples(now - retention)
                self._pruned_at = now
        except Exception:  # the loop must outlive a database hiccup; the next tick tries again
            log.exception("restart sampler: sweep failed")

    async def _pods(self, environment: str, namespace: str) -> list[KubeObject] | None:
        try:
            # opening the connection reads the kubeconfig (and may load the client): in the pool, off the loop
            reader = await self.triager.kube.call(f"connect to {environment}", self.triager.reader, environment)
            return await self.triager.kube.call(f"list pods in {namespace}", reader.list_pods, namespace, "")
        except KubeError as exc:
            log.warning("restart sampler: %s/%s: %s", environment, namespace, exc)
            return None

    async def _load(self, environment: str) -> None:
        """The last stored sample of each container, once per process (another replica may have sampled)."""
        if environment in self._loaded:
            return
        self._last.update((s.series, s) for s in await self.store.latest_samples(environment))
        self._loaded.add(environment)
