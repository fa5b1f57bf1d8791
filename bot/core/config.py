"""Configuration: `crashloop.yaml` (environments, access, limits) validated with clear errors.

The file's path comes from `--config` or `CRASHLOOP_CONFIG`. Secrets never live in it: they come from env vars
or files mounted in the pod (see `bot.secrets`). Unknown keys are errors, so a typo cannot silently disable a
guard (e.g. `require_aproval: true`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.core.report_settings import ReportsConfig
from runbooks.model import Branch, Policy, RemedyId, Signature
from runbooks.quantity import QuantityError, parse_bytes
from runbooks.silence import parse_duration

CONFIG_ENV = "CRASHLOOP_CONFIG"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_PRINCIPAL = re.compile(r"^(?:[UWS][A-Z0-9]{2,}|cli:[A-Za-z_][A-Za-z0-9_.-]{0,31})$")  # Slack ids, terminal users
_ENV_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_HTTP_URL = re.compile(r"^https?://[^\s/?#@]+(/[^\s?#]*)?$")  # no credentials in it: they come from a Secret


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, key and problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Environment(_Strict):
    """One cluster (or part of one) that the bot watches, with its Slack channel."""

    context: str | None = Field(None, description="kubeconfig context; omitted = in-cluster config")
    kubeconfig: str | None = Field(None, description="kubeconfig file; default $KUBECONFIG or ~/.kube/config")
    namespaces: list[str] = Field(min_length=1, description="where workloads live, searched in this order")
    channel: str | None = Field(None, description="Slack channel id for this environment's incidents")
    cluster_label: str | None = Field(None, description="alerts whose `cluster` label equals this belong here")
    require_approval: bool = Field(False, description="changes need a second responder")
    responders: list[str] = Field(default_factory=list, description="extra responders for this environment only")
    viewers: list[str] = Field(default_factory=list, description="extra viewers for this environment only")
    alertmanager_url: str | None = Field(
        None, description="this environment's Alertmanager (v2 API), for Silence; omitted = no Silence button"
    )

    @field_validator("alertmanager_url")
    @classmethod
    def _alertmanager_url(cls, value: str | None) -> str | None:
        if value is not None and not _HTTP_URL.match(value):
            raise ValueError(f"{value!r} is not an http(s) URL (like http://alertmanager.monitoring:9093)")
        return value

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: list[str]) -> list[str]:
        bad = [n for n in value if not _DNS_LABEL.match(n)]
        if bad:
            raise ValueError(f"not valid namespace names: {', '.join(bad)}")
        if len(set(value)) != len(value):
            raise ValueError("a namespace is listed twice")
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is not None and not _CHANNEL.match(value):
            raise ValueError(f"{value!r} is not a Slack channel id (like C0123ABCD)")
        return value

    @field_validator("responders", "viewers")
    @classmethod
    def _principals(cls, value: list[str]) -> list[str]:
        return _check_principals(value)


class Access(_Strict):
    """Who may do what, by Slack user id (U…/W…) or user-group id (S…)."""

    responders: list[str] = Field(default_factory=list, description="may triage, request and approve changes")
    viewers: list[str] = Field(default_factory=list, description="may triage and read")

    @field_validator("responders", "viewers")
    @classmethod
    def _principals(cls, value: list[str]) -> list[str]:
        return _check_principals(value)


class Limits(_Strict):
    """Bounds on what remedies may propose."""

    max_memory: str = Field("4Gi", description="memory limit a bump_memory may not exceed")
    read_only: bool = Field(False, description="disable every mutation")

    @field_validator("max_memory")
    @classmethod
    def _quantity(cls, value: str) -> str:
        try:
            parse_bytes(value)
        except QuantityError as exc:
            raise ValueError(str(exc)) from exc
        return value


_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_REQUIRED_PARAMS = {"netcheck": ("host",), "set_env": ("name",)}


class SignatureConfig(_Strict):
    """An operator's own failure signature (an in-house service's fatal line), matched before the built-in ones."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="a short name, shown in the reasons")
    pattern: str = Field(min_length=3, description="regex over log lines, event and status messages (case-insensitive)")
    branch: Branch = Field(description="the runbook branch the line means")
    meaning: str = Field(min_length=3, description="what it means; {group} is filled from a named group")
    remedy: RemedyId | None = Field(None, description="the remedy to offer first, or none")
    params: dict[str, str] = Field(default_factory=dict, description="remedy parameters; {group} from the pattern")
    score: float = Field(0.95, gt=0, le=1, description="how decisive the line is (built-ins are 0.86-0.95)")

    @model_validator(mode="after")
    def _consistent(self) -> SignatureConfig:
        try:
            groups = set(re.compile(self.pattern, re.IGNORECASE).groupindex)
        except re.error as exc:
            raise ValueError(f"signature {self.id}: pattern is not a valid regex: {exc}") from None
        used = {g for text in (self.meaning, *self.params.values()) for g in _PLACEHOLDER.findall(text)}
        if used - groups:
            missing = ", ".join(sorted(used - groups))
            raise ValueError(f"signature {self.id}: {{{missing}}} is not a named group of the pattern")
        if self.remedy in (RemedyId.SILENCE, RemedyId.UNSILENCE):
            raise ValueError(f"signature {self.id}: {self.remedy} is a responder's action, not a runbook remedy")
        needed = [p for p in _REQUIRED_PARAMS.get(str(self.remedy), ()) if p not in self.params]
        if needed:
            raise ValueError(f"signature {self.id}: remedy {self.remedy} needs params: {', '.join(needed)}")
        return self

    def signature(self) -> Signature:
        params = tuple(sorted(self.params.items()))
        return Signature(
            self.id, self.pattern, self.branch, self.meaning, self.remedy, params, self.score, "crashloop.yaml"
        )


class Triage(_Strict):
    """How evidence is gathered, and the operator's own failure signatures."""

    call_timeout_seconds: float = Field(5.0, gt=0, le=60, description="timeout of each Kubernetes API call")
    log_tail_lines: int = Field(200, ge=1, le=5000, description="lines of `logs --previous` to read")
    log_max_bytes: int = Field(64 * 1024, ge=1024, le=10 * 1024 * 1024, description="byte cap on each log read")
    max_pods: int = Field(5, ge=1, le=50, description="crashing pods whose logs and events are read")
    fresh_release_minutes: int = Field(120, ge=1, description="a revision this young that crashes is rolled back first")
    signatures: list[SignatureConfig] = Field(default_factory=list, description="in-house failure signatures")
    # False: triage never calls `get secrets` (the RBAC may then drop the per-namespace secret-refs Roles) and
    # reports the Secret references as not checked.
    check_secrets: bool = Field(True, description="check that Secrets the pod template references exist")

    @field_validator("signatures")
    @classmethod
    def _unique_ids(cls, value: list[SignatureConfig]) -> list[SignatureConfig]:
        ids = [s.id for s in value]
        if len(ids) != len(set(ids)):
            raise ValueError("two signatures share an id")
        return value


class Actions(_Strict):
    """How guarded remedies run."""

    verify_timeout_seconds: float = Field(180, gt=0, le=3600, description="how long to watch for recovery")
    verify_stable_seconds: float = Field(20, ge=0, le=600, description="restarts must stay flat this long")
    verify_interval_seconds: float = Field(2, gt=0, le=60, description="how often the pods are looked at")
    approval_minutes: int = Field(30, ge=1, le=24 * 60, description="an approval request expires after this")
    proposal_minutes: int = Field(15, ge=1, le=120, description="a remedy button / preview expires after this")


class Silences(_Strict):
    """Silencing a workload's alerts in its environment's Alertmanager (`alertmanager_url`)."""

    min_minutes: int = Field(15, ge=1, le=24 * 60, description="the shortest silence a responder may set")
    max_hours: int = Field(7 * 24, ge=1, le=90 * 24, description="the longest silence a responder may set")
    default_duration: str = Field("2h", description="what the Silence form proposes (e.g. 30m, 2h, 1d)")
    timeout_seconds: float = Field(10, gt=0, le=60, description="timeout of each call to Alertmanager")

    @model_validator(mode="after")
    def _bounds(self) -> Silences:
        if self.min_minutes > self.max_hours * 60:
            raise ValueError("min_minutes is longer than max_hours")
        seconds = parse_duration(self.default_duration)
        if seconds is None or not self.min_minutes * 60 <= seconds <= self.max_hours * 3600:
            raise ValueError(f"default_duration {self.default_duration!r} is not a duration within the bounds")
        return self


class GuardRules(_Strict):
    """Rules of the change guard beyond who may act (`access`) and what a parameter may be (`limits`)."""

    remedy_repeat_days: int = Field(
        7,
        ge=0,
        le=365,
        description="the same remedy applied to the same workload this many days back makes a new request a "
        "repeat: it names the earlier change, needs a second responder's approval and points to the next "
        "branch; 0 disables",
    )


class LeaderElection(_Strict):
    """Which replica runs the singleton work (report scheduler, restart sampler, recovery checks)."""

    enabled: bool | None = Field(None, description="None: elect when in a cluster and the database is shared")
    namespace: str = Field("crashloop", description="where the Lease lives (the bot's own namespace)")
    lease_name: str = Field("crashloop-bot-leader", description="name of the coordination.k8s.io/v1 Lease")
    lease_seconds: float = Field(15, ge=2, le=300, description="a leader that stops renewing loses it after this")
    renew_seconds: float = Field(5, gt=0, le=100, description="how often the leader renews (and others try)")
    context: str | None = Field(None, description="kubeconfig context for the Lease; omitted = in-cluster")
    kubeconfig: str | None = Field(None, description="kubeconfig file for the Lease")


class Config(_Strict):
    """The whole crashloop.yaml."""

    environments: Annotated[dict[str, Environment], Field(min_length=1)]
    access: Access = Field(default_factory=Access)
    limits: Limits = Field(default_factory=Limits)
    triage: Triage = Field(default_factory=Triage)
    actions: Actions = Field(default_factory=Actions)
    guard: GuardRules = Field(default_factory=GuardRules)
    leader_election: LeaderElection = Field(default_factory=LeaderElection)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    silences: Silences = Field(default_factory=Silences)

    @field_validator("environments")
    @classmethod
    def _env_names(cls, value: dict[str, Environment]) -> dict[str, Environment]:
        bad = [n for n in value if not _ENV_NAME.match(n)]
        if bad:
            raise ValueError(f"environment names must be lowercase words: {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _unique_labels(self) -> Config:
        labels = [e.cluster_label for e in self.environments.values() if e.cluster_label]
        if len(labels) != len(set(labels)):
            raise ValueError("two environments share a cluster_label: alerts could not be routed")
        return self

    @model_validator(mode="after")
    def _silences_scoped(self) -> Config:
        """A silence without a `cluster` matcher would cover every cluster an Alertmanager serves: where two
        environments share one, each of them must name its cluster."""
        sharing: dict[str, list[str]] = {}
        for name, env in self.environments.items():
            if env.alertmanager_url:
                sharing.setdefault(env.alertmanager_url.rstrip("/").lower(), []).append(name)
        for url, names in sorted(sharing.items()):
            unlabelled = [n for n in names if not self.environments[n].cluster_label]
            if len(names) > 1 and unlabelled:
                raise ValueError(
                    f"environments {', '.join(names)} share the Alertmanager {url}, and "
                    f"{', '.join(unlabelled)} has no cluster_label: its silences would also silence the other "
                    "environments' alerts; set cluster_label on each of them"
                )
        return self

    def environment(self, name: str) -> Environment:
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments))
            raise ConfigError(f"unknown environment {name!r}; configured: {known}") from None

    def policy(self) -> Policy:
        return Policy(
            max_memory_bytes=parse_bytes(self.limits.max_memory),
            fresh_release_window_seconds=self.triage.fresh_release_minutes * 60,
            signatures=tuple(s.signature() for s in self.triage.signatures),
        )


def _check_principals(value: list[str]) -> list[str]:
    bad = [p for p in value if not _PRINCIPAL.match(p)]
    if bad:
        raise ValueError(f"not Slack user/user-group ids (U…, W…, S…) or terminal users (cli:NAME): {', '.join(bad)}")
    return value


def config_path(explicit: str | None) -> Path:
    """The config file: --config, else $CRASHLOOP_CONFIG, else ./crashloop.yaml."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or "crashloop.yaml")


def load_config(path: Path) -> Config:
    """Read and validate the file; every problem is reported as `file: key.path: message`."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (set --config or {CONFIG_ENV})") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with `environments:` at the top")
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid configuration:\n" + format_errors(exc)) from None


def format_errors(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check the spelling)"
        lines.append(f"  - {where}: {message}")
    return "\n".join(lines)
