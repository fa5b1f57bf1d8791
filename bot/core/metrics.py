"""The bot's Prometheus metrics, on a registry of its own (one per application, so tests do not collide)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class Metrics:
    """Every metric the bot exports on /metrics."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
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
        self.triage_seconds = Histogram(
            "crashloop_triage_duration_seconds",
            "Time to gather evidence and classify one workload",
            ["environment", "outcome"],
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.slack_calls = Counter(
            "crashloop_slack_api_calls_total", "Slack Web API calls", ["method", "outcome"], registry=r
        )
        self.slack_rate_limited = Counter(
            "crashloop_slack_rate_limited_total", "429 answers from Slack (each was retried)", registry=r
        )
        self.actions = Counter("crashloop_actions_total", "Remedy actions", ["remedy", "outcome"], registry=r)
        self.queue_depth = Gauge("crashloop_queue_depth", "Alerts stored and not yet processed", registry=r)
        self.leader = Gauge("crashloop_leader", "1 when this replica runs the singleton work", registry=r)
