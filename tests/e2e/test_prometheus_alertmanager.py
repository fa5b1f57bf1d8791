"""A crash-looping pod, seen by real Prometheus and routed by real Alertmanager, becomes one Slack incident.

The exposition serves kube-state-metrics and cAdvisor series of a crash-looping pod of the simulated cluster;
Prometheus evaluates the product's alert rules (deploy/alerts/crashloop-rules.yaml, with `for: 0s` and 1s
evaluation) and sends what fires to Alertmanager, which groups per alert and pod and posts webhooks to the bot,
served on a TCP port. The bot triages the workload on the simulated cluster and posts to the Slack stand-in.

The rules look back 5 and 10 minutes (`increase(...[5m])`, `avg_over_time(...[10m])`, `max_over_time(...[5m])`),
so after a real recovery most of them keep firing for up to 10 minutes. The test fast-forwards that wait by
deleting the pod's pre-recovery samples from Prometheus (admin API), then lets the rules, Alertmanager and the
bot resolve the incident on their own.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.devtools.slackstub import Message, SlackStandIn
from bot.store.rows import IncidentRow
from tests.e2e.promstack import (
    CrashLoopExposition,
    ServedBot,
    Server,
    alert_names,
    fast_rules,
    forget_before,
    get_json,
    run_tool,
)
from tests.service.conftest import CHANNEL, blocks_text, eventually

pytestmark = pytest.mark.e2e

FIRST_ALERT_WITHIN = 45.0  # Prometheus waits ≈5s before its first scrape; measured ≈8s to the first webhook
ALL_ALERTS_WITHIN = 20.0
RESOLVED_WITHIN = 20.0


def roots_of(slack: SlackStandIn, workload: str) -> list[Message]:
    return [
        m
        for m in slack.channel_messages(CHANNEL)
        if (m.metadata or {}).get("event_payload", {}).get("workload") == workload
    ]


def payload(message: Message) -> dict[str, Any]:
    return dict((message.metadata or {})["event_payload"])


def header(message: Message) -> str:
    [block] = [b for b in message.blocks or [] if b["type"] == "header"]
    return str(block["text"]["text"])


async def only_incident(bot: ServedBot) -> IncidentRow:
    incidents = await bot.services.store.list_incidents(status=None)
    assert len(incidents) == 1, [(i.namespace, i.workload, i.status) for i in incidents]
    return incidents[0]


async def test_crashloop_alerts_from_prometheus_become_one_incident_that_resolves_when_the_pod_recovers(
    bot: ServedBot, slack: SlackStandIn, exposition: CrashLoopExposition, alertmanager: Server, prometheus: Server
) -> None:
    expected_alerts = alert_names(fast_rules())
    assert expected_alerts >= {"PodCrashLoopBackOff", "HighContainerRestartRate", "KubePodCrashLooping"}

    # what the test generated is valid for the real tools
    status, output = await run_tool("/usr/bin/amtool", "check-config", str(alertmanager.config))
    assert status == 0, output
    assert "SUCCESS" in output, output
    status, output = await run_tool("/usr/bin/promtool", "check", "config", str(prometheus.config))
    assert status == 0, output
    assert f"SUCCESS: {len(expected_alerts)} rules found" in output, output

    # firing: one root message for the workload, triaged on the cluster
    [root] = await eventually(lambda: roots_of(slack, "ledger-api"), within=FIRST_ALERT_WITHIN)
    first = payload(root)
    assert {k: first[k] for k in ("environment", "namespace", "workload", "branch", "reason", "status")} == {
        "environment": "prod",
        "namespace": "shop",
        "workload": "ledger-api",
        "branch": "resources",
        "reason": "OOMKilled",
        "status": "open",
    }
    assert header(root) == "🔴 CrashLoopBackOff · shop/ledger-api"

    # every rule fires for the pod, each alert in its own Alertmanager group and webhook, all on the same incident
    async def all_alerts_recorded() -> IncidentRow | None:
        incident = await only_incident(bot)
        return incident if set(incident.alertnames) == expected_alerts and not incident.needs_sync else None

    incident = await eventually(all_alerts_recorded, within=ALL_ALERTS_WITHIN)
    assert len(incident.firing) == incident.alert_count == len(expected_alerts), incident
    assert incident.root_ts == root.ts
    assert len(slack.channel_messages(CHANNEL)) == 1
    updated = slack.message(CHANNEL, root.ts)
    all_counted = f"{len(expected_alerts)} alert(s)"
    assert all_counted in blocks_text(updated.blocks or [])
    if all_counted not in blocks_text(root.blocks or []):  # posted before the last alerts came: updated in place
        assert updated.edit_count >= 1
    assert payload(updated)["status"] == "open"
    assert header(updated) == "🔴 CrashLoopBackOff · shop/ledger-api"

    stored = await bot.services.store.alerts_of(incident.id)
    assert {a.alert.name for a in stored} == expected_alerts
    assert {a.alert.source for a in stored} == {"alertmanager"}
    assert {a.environment for a in stored} == {"prod"}
    for row in stored:
        labels = row.alert.labels
        assert (labels["cluster"], labels["namespace"], labels["pod"]) == ("sim-1", "shop", exposition.pod), labels
        assert (row.alert.generator_url or "").startswith(prometheus.url), row.alert.generator_url
        assert f'alertname="{row.alert.name}"' in (row.alert.group_key or ""), row.alert.group_key
    assert await bot.services.store.count_alerts() == len(stored)  # nothing unroutable, nothing elsewhere

    # recovery: the waiting reason is gone, restarts stop, the pod is Ready; the 5m/10m windows are fast-forwarded
    exposition.recover()
    await forget_before(prometheus, f'{{namespace="shop",pod="{exposition.pod}"}}', time.time())

    def resolved_root() -> Message | None:
        roots = slack.channel_messages(CHANNEL)
        return roots[0] if len(roots) == 1 and "Resolved after" in blocks_text(roots[0].blocks or []) else None

    resolved = await eventually(resolved_root, within=RESOLVED_WITHIN)
    assert resolved.ts == root.ts
    assert payload(resolved)["status"] == "resolved"
    assert header(resolved).startswith("✅ Resolved after "), header(resolved)

    incident = await only_incident(bot)
    assert (incident.status, incident.firing) == ("resolved", [])
    stored = await bot.services.store.alerts_of(incident.id)
    firing = {a.alert.fingerprint for a in stored if a.alert.status == "firing"}
    resolved_alerts = {a.alert.fingerprint for a in stored if a.alert.status == "resolved"}
    assert resolved_alerts == firing
    assert {a.alert.source for a in stored} == {"alertmanager"}
    active = await get_json(f"{alertmanager.url}/api/v2/alerts?active=true&silenced=false&inhibited=false")
    assert active == []
