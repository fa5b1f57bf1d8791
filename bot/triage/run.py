"""Triage of one workload: locate it, gather the evidence, classify it.

`Triager` owns one Kubernetes connection per environment (opened on first use) and the thread pool the reads
run in, so the CLI, the Slack handlers and the benchmark all triage the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.core.config import Config
from bot.kube.client import KubeObject, KubeReader, KubeWriter, Timeouts, connect
from bot.kube.concurrent import AsyncKube
from bot.triage.evidence import GatherSettings, gather
from bot.triage.locate import Located, WorkloadNotFound, find_pod, locate
from runbooks.classify import classify
from runbooks.model import Evidence, Finding


@dataclass(frozen=True)
class TriageResult:
    """What a triage found, and how long it took."""

    evidence: Evidence
    finding: Finding
    seconds: float


class Triager:
    """Triage workloads of the configured environments."""

    def __init__(self, config: Config, *, sequential: bool = False) -> None:
        self.config = config
        self._readers: dict[str, KubeReader] = {}
        timeout = config.triage.call_timeout_seconds
        self._kube = AsyncKube(timeout=timeout, sequential=sequential)
        self._timeouts = Timeouts(connect=min(3.0, timeout), read=timeout)
        self._settings = GatherSettings(
            log_tail_lines=config.triage.log_tail_lines,
            log_max_bytes=config.triage.log_max_bytes,
            max_pods=config.triage.max_pods,
            check_secrets=config.triage.check_secrets,
        )

    @property
    def kube(self) -> AsyncKube:
        """The thread pool and timeouts every Kubernetes call of this process goes through."""
        return self._kube

    def writer(self, environment: str) -> KubeWriter:
        """Write access for `bot.guard.executor`, over the environment's connection."""
        return KubeWriter(self.reader(environment).api, self._timeouts)

    def reader(self, environment: str) -> KubeReader:
        """The environment's API reader (KubeConfigError when its context cannot be loaded)."""
        if environment not in self._readers:
            env = self.config.environment(environment)
            self._readers[environment] = KubeReader(connect(env.context, env.kubeconfig), self._timeouts)
        return self._readers[environment]

    async def ping(self, environment: str) -> str:
        """The environment's API server version; raises when it cannot be reached."""
        reader = self.reader(environment)
        return await self._kube.call(f"reach the API server of {environment}", reader.version)

    async def triage(
        self, environment: str, name: str, *, namespace: str | None = None, pod: str | None = None
    ) -> TriageResult:
        """Evidence and finding for workload (or pod) `name`; WorkloadNotFound lists what exists instead."""
        started = time.perf_counter()
        env = self.config.environment(environment)
        reader = self.reader(environment)
        namespaces = [namespace] if namespace else list(env.namespaces)
        located = await locate(self._kube, reader, namespaces, name)
        if pod and located.pod is None:
            pod_obj = await find_pod(self._kube, reader, located.namespace, pod)
            if not _belongs(pod_obj, located):
                raise WorkloadNotFound(pod, [located.namespace], {located.namespace: [name]}, [])
        evidence = await gather(self._kube, reader, environment, located, self._settings, focus_pod=pod)
        finding = classify(evidence, self.config.policy())
        return TriageResult(evidence, finding, time.perf_counter() - started)

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        self._kube.close()


def _belongs(pod: KubeObject, located: Located) -> bool:
    """Whether the named pod carries the workload's selector labels (a cheap ownership check)."""
    selector = ((located.obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())
