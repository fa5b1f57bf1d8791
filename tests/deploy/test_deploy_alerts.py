"""Alert rules (plain files and the PrometheusRule) and the Alertmanager receiver, checked with the real tools."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from bot.core.metrics import Metrics
from tests.deploy.deploytools import DEPLOY, load_yaml, render, run, tool

RUNBOOK_RULES = DEPLOY / "alerts" / "crashloop-rules.yaml"
BOT_RULES = DEPLOY / "alerts" / "crashloop-bot-rules.yaml"
PROMETHEUS_RULE = DEPLOY / "prometheus" / "prometheusrule.yaml"
SNIPPET = DEPLOY / "alertmanager" / "receiver-snippet.yaml"
EXAMPLE = DEPLOY / "alertmanager" / "example-config.yaml"
WEBHOOK_URL = "http://crashloop-bot.crashloop.svc:3000/alerts/alertmanager"

# The issue's alerts: the seed article's five and kubernetes-mixin's KubePodCrashLooping.
RUNBOOK_ALERTS = {
    "PodCrashLoopBackOff",
    "HighContainerRestartRate",
    "ProbeFailureStorm",
    "ContainerMemoryPressure",
    "DependencyRelatedRestarts",
    "KubePodCrashLooping",
}
# Alerts on the bot itself: the metric (or condition) each must watch.
BOT_ALERT_SIGNALS = {
    "CrashloopBotDown": 'up{job="crashloop-bot"}',
    "CrashloopBotNotReady": "kube_deployment_status_replicas_available",
    "CrashloopBotAlertsRejected": "crashloop_alerts_rejected_total",
    "CrashloopBotQueueBacklog": "crashloop_queue_depth",
    "CrashloopBotSlackRateLimited": "crashloop_slack_rate_limited_total",
}


def _alerts(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_prometheusrule", DEPLOY / "prometheus" / "generate.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exposed_metric_names() -> set[str]:
    """The series names the bot's /metrics exposes (counters as *_total, histograms as _bucket/_sum/_count)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count")}
        else:
            names.add(family.name)
    return names


# --- rule files ---------------------------------------------------------------------------------------------


def test_promtool_accepts_the_plain_rule_files() -> None:
    out = run([tool("promtool"), "check", "rules", str(RUNBOOK_RULES), str(BOT_RULES)]).stdout
    assert out.count("SUCCESS") == 2


def test_prometheusrule_is_generated_from_the_plain_files() -> None:
    """deploy/alerts/ is the single source: prometheusrule.yaml is exactly what generate.py writes."""
    assert PROMETHEUS_RULE.read_text(encoding="utf-8") == _generator().render(), (
        "deploy/prometheus/prometheusrule.yaml is stale: run `python deploy/prometheus/generate.py`"
    )


def test_prometheusrule_groups_are_identical_to_the_plain_files() -> None:
    rule = load_yaml(PROMETHEUS_RULE)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == load_yaml(RUNBOOK_RULES)["groups"] + load_yaml(BOT_RULES)["groups"]


def test_promtool_accepts_the_prometheusrule_spec(tmp_path: Path) -> None:
    extracted = tmp_path / "prometheusrule-spec.yaml"
    extracted.write_text(yaml.safe_dump({"groups": load_yaml(PROMETHEUS_RULE)["spec"]["groups"]}), encoding="utf-8")
    assert "SUCCESS" in run([tool("promtool"), "check", "rules", str(extracted)]).stdout


def test_the_prometheus_kustomization_renders_the_rule_and_the_service_monitor() -> None:
    objects = {(o["kind"], o["metadata"]["name"]) for o in render("prometheus")}
    assert objects == {("PrometheusRule", "crashloop-bot"), ("ServiceMonitor", "crashloop-bot")}
    (monitor,) = [o for o in render("prometheus") if o["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "crashloop-bot"}


def test_the_issue_alerts_are_all_there() -> None:
    alerts = _alerts(load_yaml(RUNBOOK_RULES)["groups"])
    assert set(alerts) == RUNBOOK_ALERTS


def test_alerts_on_the_bot_itself_watch_its_metrics() -> None:
    alerts = _alerts(load_yaml(BOT_RULES)["groups"])
    for name, signal in BOT_ALERT_SIGNALS.items():
        assert name in alerts, name
        assert signal in alerts[name]["expr"], f"{name} should watch {signal}"
    # Every crashloop_* series a rule uses is one the bot really exposes (no typo silently never fires).
    exposed = _exposed_metric_names()
    used = {m for rule in alerts.values() for m in re.findall(r"\bcrashloop_[a-z_]+", rule["expr"])}
    assert used, "the bot's alerts use its metrics"
    assert used <= exposed, f"unknown metrics: {used - exposed}"


def test_every_alert_has_a_severity_summary_and_runbook_url() -> None:
    for path in (RUNBOOK_RULES, BOT_RULES):
        for name, rule in _alerts(load_yaml(path)["groups"]).items():
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
            assert rule["annotations"]["summary"], name
            assert rule["annotations"]["runbook_url"].startswith("https://"), name


# --- Alertmanager -------------------------------------------------------------------------------------------


def test_amtool_accepts_the_example_config() -> None:
    assert "SUCCESS" in run([tool("amtool"), "check-config", str(EXAMPLE)]).stdout


def test_the_receiver_posts_to_the_bot_with_a_bearer_token_from_a_file() -> None:
    (receiver,) = load_yaml(SNIPPET)["receivers"]
    assert receiver["name"] == "crashloop-bot"
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url"] == WEBHOOK_URL
    assert webhook["send_resolved"] is True
    authorization = webhook["http_config"]["authorization"]
    assert authorization.get("type", "Bearer") == "Bearer"
    assert authorization["credentials_file"].startswith("/")
    assert "credentials" not in authorization, "the token is read from a file, never written in the config"
    # The URL is the bot's Service and route.
    assert "/alerts/alertmanager" in (DEPLOY.parent / "handlers" / "alerts.py").read_text(encoding="utf-8")


def test_the_example_config_uses_the_snippet_verbatim() -> None:
    snippet, example = load_yaml(SNIPPET), load_yaml(EXAMPLE)
    (route,) = snippet["route"]["routes"]
    assert example["route"]["routes"][0] == route, "the bot's route comes first (with continue: true)"
    assert route["continue"] is True
    (receiver,) = snippet["receivers"]
    assert [r for r in example["receivers"] if r["name"] == "crashloop-bot"] == [receiver]


def test_the_route_forwards_exactly_the_runbook_alerts() -> None:
    (route,) = load_yaml(SNIPPET)["route"]["routes"]
    (matcher,) = route["matchers"]
    match = re.fullmatch(r'alertname\s*=~\s*"(.+)"', matcher)
    assert match, matcher
    pattern = re.compile(f"^(?:{match[1]})$")  # Alertmanager anchors its regular expressions
    every_alert = _alerts(load_yaml(RUNBOOK_RULES)["groups"]) | _alerts(load_yaml(BOT_RULES)["groups"])
    forwarded = {name for name in every_alert if pattern.match(name)}
    assert forwarded == RUNBOOK_ALERTS, "the bot's own alerts must not be sent to the bot"
