"""The bot's Prometheus metrics, on a registry of its own (one per application, so tests do not collide).

The events an operator follows in the logs are the same events the metrics count: a triage, a Slack post, a
remedy applied or refused. So those metrics are `Logged`: recording one also writes one JSON log line
(logger `crashloop.events`), and no call site can count an event without logging it or the reverse.
`_created` series are turned off (they double every counter for no operational use), and
`crashloop_build_info{version, python}` says which build answers.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call]

log = logging.getLogger("crashloop.events")

# (label values, amount) → the log line, or None for events not worth a line.
Describe = Callable[[tuple[str, ...], float], str | None]


class Logged:
    """A labelled metric whose recorded events are also log lines: `.labels(...).inc()` / `.observe()` as usual."""

    def __init__(self, metric: Any, describe: Describe, *, level: int = logging.INFO) -> None:
        self.metric = metric
        self._describe = describe
        self._level = level

    def labels(self, *values: str) -> _LoggedChild:
        return _LoggedChild(self, self.metric.labels(*values), tuple(values))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.metric, name)

    def _record(self, values: tuple[str, ...], amount: float) -> None:
        line = self._describe(values, amount)
        if line:
            log.log(self._level, line, extra=_context(self.metric, values))


class _LoggedChild:
    def __init__(self, parent: Logged, child: Any, values: tuple[str, ...]) -> None:
        self._parent, self._child, self._values = parent, child, values

    def inc(self, amount: float = 1) -> None:
        self._child.inc(amount)
        self._parent._record(self._values, amount)

    def observe(self, amount: float) -> None:
        self._child.observe(amount)
        self._parent._record(self._values, amount)

    def __getattr__(self, name: str) -> Any:  # anything else (e.g. the sample value) is the metric's own
        return getattr(self._child, name)


def _context(metric: Any, values: tuple[str, ...]) -> dict[str, str]:
    """Labels that are also log context fields (environment, remedy) go on the line as fields."""
    names = dict(zip(metric._labelnames, values, strict=False))
    return {k: v for k, v in names.items() if k in ("environment", "remedy")}


def _triage(values: tuple[str, ...], seconds: float) -> str:
    environment, outcome = values
    return f"triage in {environment}: {outcome} in {seconds:.2f}s"


POSTING_METHODS = ("chat.postMessage", "chat.postEphemeral", "chat.update", "files.upload_v2", "views.open")


def _slack(values: tuple[str, ...], _: float) -> str | None:
    method, outcome = values
    return f"slack {method}: {outcome}" if method in POSTING_METHODS else None


def _action(values: tuple[str, ...], _: float) -> str:
    remedy, outcome = values
    return f"remedy {remedy}: {outcome}"


def build_version() -> str:
    try:
        return version("crashloop-bot")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


@dataclass
class Metrics:
    """Every metric the bot exports on /metrics."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        Info("crashloop_build", "The running build", registry=r).info(
            {"version": build_version(), "python": platform.python_version()}
        )
        self.alerts_received = Counter(
            "crashloop_alerts_received_total", "Alerts accepted from webhooks", ["source"], registry=r
        )
        self.alerts_deduplicated = Counter(
            "crashloop_alerts_deduplicated_total", "Re-deliveries recognised and ignored", ["source"], registry=r
        )
        self.alerts_rejected = Counter(
            "crashloop_alerts_rejected_total", "Webhook requests refused", ["source", "reason"], registry=r
        )
        self.alerts_unroutable = Counter(
            "crashloop_alerts_unroutable_total", "Alerts no environment matched", registry=r
        )
        self.triage_seconds = Logged(
            Histogram(
                "crashloop_triage_duration_seconds",
                "Time to gather evidence and classify one workload",
                ["environment", "outcome"],
                buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30),
                registry=r,
            ),
            _triage,
        )
        self.slack_calls = Logged(
            Counter("crashloop_slack_api_calls_total", "Slack Web API calls", ["method", "outcome"], registry=r),
            _slack,
        )
        self.slack_rate_limited = Counter(
            "crashloop_slack_rate_limited_total", "429 answers from Slack (each was retried)", registry=r
        )
        self.actions = Logged(
            Counter("crashloop_actions_total", "Remedy actions", ["remedy", "outcome"], registry=r), _action
        )
        self.queue_depth = Gauge("crashloop_queue_depth", "Alerts stored and not yet processed", registry=r)
        self.leader = Gauge("crashloop_leader", "1 when this replica runs the singleton work", registry=r)
