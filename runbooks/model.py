"""The domain's data: what the bot knows about a crash-looping workload and what it concludes.

Evidence is gathered by `bot.triage.evidence` from the cluster; classification (`runbooks.classify`) turns it into a
Finding. Everything here is plain frozen data with no I/O so that the runbook logic can be tested with tables
of hand-built evidence, and so that any sink (CLI text, JSON, Slack blocks) can render the same Finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Branch(StrEnum):
    """The six branches of the CrashLoopBackOff runbook."""

    APP_ENV = "app_env"
    RESOURCES = "resources"
    PROBES = "probes"
    RBAC_MOUNTS = "rbac_mounts"
    IMAGE_CONFIG = "image_config"
    NETWORKING_DEPS = "networking_deps"


BRANCH_TITLES: dict[Branch, str] = {
    Branch.APP_ENV: "App & env",
    Branch.RESOURCES: "Resources",
    Branch.PROBES: "Probes",
    Branch.RBAC_MOUNTS: "RBAC & mounts",
    Branch.IMAGE_CONFIG: "Image & config",
    Branch.NETWORKING_DEPS: "Networking & deps",
}


class RemedyId(StrEnum):
    """Remedies the bot can propose; the ids are a public contract (Slack action ids, CLI, audit rows)."""

    BUMP_MEMORY = "bump_memory"
    PATCH_PROBES = "patch_probes"
    SET_ENV = "set_env"
    SET_IMAGE = "set_image"
    ROLLOUT_UNDO = "rollout_undo"
    ROLLOUT_RESTART = "rollout_restart"
    SERVICE_ACCOUNT = "service_account"
    NETCHECK = "netcheck"
    # Not proposed by the triage: a responder's own actions on the workload's alerts in Alertmanager (never a
    # signature's remedy), kept here because the id is the same public contract (action ids, CLI, audit rows).
    SILENCE = "silence"
    UNSILENCE = "unsilence"


# --- evidence -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Termination:
    """A container's terminated state (usually `lastState.terminated`)."""

    reason: str | None
    exit_code: int | None
    signal: int | None = None
    message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class ContainerStatus:
    """One container of one pod, as the kubelet reports it."""

    name: str
    image: str
    init: bool = False
    ready: bool = False
    started: bool | None = None
    restart_count: int = 0
    running_since: datetime | None = None
    waiting_reason: str | None = None
    waiting_message: str | None = None
    terminated: Termination | None = None
    last_termination: Termination | None = None

    @property
    def is_failing(self) -> bool:
        """True when this container is what keeps the pod from being healthy."""
        if self.waiting_reason and self.waiting_reason not in ("PodInitializing", "ContainerCreating"):
            return True
        if self.terminated and (self.terminated.exit_code or 0) != 0:
            return True
        if self.init:
            return False
        return self.restart_count > 0 and not self.ready

    @property
    def is_troubled(self) -> bool:
        """Failing now, or restarted recently and still reporting a last termination."""
        return self.is_failing or (self.restart_count > 0 and self.last_termination is not None)


@dataclass(frozen=True)
class Probe:
    """A liveness, readiness or startup probe of a container spec."""

    kind: str  # liveness | readiness | startup
    handler: str  # e.g. "httpGet :8080/healthz", "tcpSocket :5432", "exec cat /tmp/ok"
    initial_delay_seconds: int = 0
    period_seconds: int = 10
    timeout_seconds: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def budget_seconds(self) -> int:
        """How long a slow starter survives this probe before it counts as failed."""
        return self.initial_delay_seconds + self.failure_threshold * self.period_seconds


@dataclass(frozen=True)
class ObjectRef:
    """A reference from the pod template to a Secret or ConfigMap, and whether the object exists."""

    kind: str  # Secret | ConfigMap
    name: str
    via: str  # env | envFrom | volume
    env_var: str | None = None
    key: str | None = None
    optional: bool = False
    exists: bool | None = None  # None: could not be checked (see Evidence.failures)


@dataclass(frozen=True)
class EnvEndpoint:
    """A dependency address written literally in an env var (`host:port` or a URL), password left out."""

    var: str
    host: str
    port: int | None = None
    scheme: str | None = None
    user: str | None = None


@dataclass(frozen=True)
class ContainerSpec:
    """The parts of a container's spec that the runbook branches look at."""

    name: str
    image: str
    init: bool = False
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    requests: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    probes: dict[str, Probe] = field(default_factory=dict)
    env_names: tuple[str, ...] = ()
    # name -> where the value comes from: "literal#<digest>" (never the value), "Secret x/key", "ConfigMap y/key"…
    env_sources: dict[str, str] = field(default_factory=dict)
    refs: tuple[ObjectRef, ...] = ()
    endpoints: tuple[EnvEndpoint, ...] = ()
    read_only_root: bool = False  # securityContext.readOnlyRootFilesystem


@dataclass(frozen=True)
class PodInfo:
    """One pod of the workload."""

    name: str
    phase: str
    node: str | None
    created: datetime | None
    revision: str | None  # name of the ReplicaSet / ControllerRevision the pod was created from
    containers: tuple[ContainerStatus, ...]
    ready: bool = False

    @property
    def restarts(self) -> int:
        return sum(c.restart_count for c in self.containers)

    @property
    def failing(self) -> tuple[ContainerStatus, ...]:
        return tuple(c for c in self.containers if c.is_failing)


@dataclass(frozen=True)
class Event:
    """A Kubernetes event about the pod or workload, de-duplicated by the apiserver into a count."""

    type: str
    reason: str
    message: str
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    object_kind: str
    object_name: str

    def line(self) -> str:
        times = f"x{self.count}" if self.count > 1 else ""
        return f"{self.type} {self.reason} {times} {self.message}".replace("  ", " ").strip()


@dataclass(frozen=True)
class LogExcerpt:
    """The tail of one container's logs; `previous` says whether it is the crashed run (`--previous`)."""

    pod: str
    container: str
    previous: bool
    lines: tuple[str, ...]
    truncated: bool = False
    note: str | None = None


@dataclass(frozen=True)
class Revision:
    """One revision of the workload's pod template (a ReplicaSet or a ControllerRevision)."""

    number: int
    name: str
    created: datetime | None
    images: dict[str, str]
    containers: tuple[ContainerSpec, ...] = ()
    service_account: str | None = None


@dataclass(frozen=True)
class Change:
    """One thing that differs between the previous and the current revision."""

    container: str | None
    field: str  # image | env | resources | probes | command | serviceAccount
    before: str
    after: str

    def line(self) -> str:
        where = f"{self.container}: " if self.container else ""
        return f"{where}{self.field} {self.before} → {self.after}"


@dataclass(frozen=True)
class Rollout:
    """Rollout history of the workload: revisions oldest first, and what the current one changed."""

    revisions: tuple[Revision, ...]
    current: Revision | None
    previous: Revision | None
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class ReadFailure:
    """A read that failed while gathering evidence: the triage still completes and says what is missing."""

    what: str  # e.g. "logs --previous shop/web-app-1/app"
    status: str  # "403 Forbidden", "404 Not Found", "timeout", "error"
    message: str


@dataclass(frozen=True)
class Mount:
    """Where a volume is mounted in a container, and what backs it (to tie a file error to its volume)."""

    container: str
    volume: str
    path: str
    read_only: bool = False
    source: str = ""  # e.g. "persistentVolumeClaim data-kafka-0", "emptyDir", "hostPath /opt/kb"
    claim: str | None = None
    size: str | None = None  # the claim's requested storage, when the template says it


@dataclass(frozen=True)
class Workload:
    """The workload being triaged (Deployment, StatefulSet, DaemonSet, or a bare Pod)."""

    kind: str
    name: str
    namespace: str
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    replicas: int | None = None
    ready_replicas: int | None = None
    selector: dict[str, str] = field(default_factory=dict)
    service_account: str = "default"
    containers: tuple[ContainerSpec, ...] = ()
    mounts: tuple[Mount, ...] = ()


@dataclass(frozen=True)
class Evidence:
    """Everything gathered about one workload, redacted, ready to classify and to show."""

    environment: str
    workload: Workload
    pods: tuple[PodInfo, ...]
    focus_pod: str | None
    focus_container: str | None
    logs: tuple[LogExcerpt, ...] = ()
    events: tuple[Event, ...] = ()
    rollout: Rollout | None = None
    service_account_exists: bool | None = None
    service_accounts: tuple[str, ...] = ()  # names in the workload's namespace (for the RBAC branch)
    failures: tuple[ReadFailure, ...] = ()
    collected_at: datetime | None = None
    extra_log_lines: tuple[str, ...] = ()  # e.g. a sample log attached to an alert

    @property
    def focus(self) -> ContainerStatus | None:
        """The container the triage is about (the worst one of the worst pod)."""
        for pod in self.pods:
            if pod.name == self.focus_pod:
                for c in pod.containers:
                    if c.name == self.focus_container:
                        return c
        return None

    @property
    def restarts(self) -> int:
        """Restarts summed over every container of every pod of the workload (`workload_restarts` in output)."""
        return sum(p.restarts for p in self.pods)

    @property
    def focus_restarts(self) -> int | None:
        """The focus container's restart count, the number the finding quotes (`restarts` in every output: the
        Slack message and its metadata, the incident row, `crashloop triage`); None without a focus container."""
        return self.focus.restart_count if self.focus else None

    def focus_logs(self) -> LogExcerpt | None:
        for log in self.logs:
            if log.pod == self.focus_pod and log.container == self.focus_container:
                return log
        return self.logs[0] if self.logs else None

    def all_log_lines(self) -> tuple[str, ...]:
        """Every log line read (focus first), each distinct line once: replicas tend to log the same crash."""
        focus = self.focus_logs()
        ordered = ([focus] if focus else []) + [log for log in self.logs if log is not focus]
        lines = [line for log in ordered for line in log.lines]
        return tuple(dict.fromkeys([*lines, *self.extra_log_lines]))


# --- conclusions ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """Why the bot concluded what it did, quoting the evidence line that matched."""

    text: str
    quote: str | None = None
    source: str | None = None  # status | logs | events | spec | rollout


@dataclass(frozen=True)
class Remedy:
    """A proposed runbook remedy with concrete parameters."""

    id: RemedyId
    title: str
    params: dict[str, Any] = field(default_factory=dict)
    why: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"id": str(self.id), "title": self.title, "params": dict(self.params), "why": self.why}


@dataclass(frozen=True)
class Assessment:
    """What one branch module says about the evidence: how strongly it matches, why, and what to do."""

    branch: Branch
    score: float
    headline: str
    reasons: tuple[Reason, ...]
    remedies: tuple[Remedy, ...] = ()
    next_step: str = ""  # in words, when no remedy the bot can run fits (e.g. "create Secret payments/x")
    proposal: str = ""  # YAML for a human to review and apply (e.g. the Role granting a missing verb); never applied


@dataclass(frozen=True)
class Finding:
    """The outcome of a triage: the branch (None when healthy or gone), why, and the safe next steps."""

    branch: Branch | None
    confidence: float
    summary: str
    reasons: tuple[Reason, ...] = ()
    remedies: tuple[Remedy, ...] = ()
    success_criteria: str = ""
    next_step: str = ""
    alternatives: tuple[Branch, ...] = ()
    proposal: str = ""  # YAML for a human to review (RBAC); the bot never applies it


@dataclass(frozen=True)
class Signature:
    """One known failure signal, as data: the line it matches, the branch it means, and the remedy it calls for.

    `params` are the remedy's parameters; a value like `{host}` is filled from the pattern's named group of that
    name (a literal otherwise). `origin` says whether it is built in or comes from the operator's crashloop.yaml.
    """

    id: str
    pattern: str
    branch: Branch
    meaning: str
    remedy: RemedyId | None = None
    params: tuple[tuple[str, str], ...] = ()
    score: float = 0.9
    origin: str = "built-in"
    triggers: tuple[str, ...] = ()  # lowercase substrings a matching line must contain one of (a cheap pre-filter)


@dataclass(frozen=True)
class Policy:
    """Limits from the configuration that bound what a remedy may propose, and the operator's own signatures."""

    max_memory_bytes: int | None = None
    fresh_release_window_seconds: int = 2 * 3600
    signatures: tuple[Signature, ...] = ()
