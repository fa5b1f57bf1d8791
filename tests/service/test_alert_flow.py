"""An alert becomes one clear triage message; repeats update it; storms stay bounded; nothing is lost."""

from __future__ import annotations

import asyncio
import json

from bot.store import Store
from bot.store.migrate import upgrade
from handlers.alert_payloads import normalize, parse
from tests.service.conftest import (
    CHANNEL,
    Bot,
    BotFactory,
    am_alert,
    am_payload,
    blocks_text,
    eventually,
    pods_of,
)


async def test_first_alert_posts_one_root_message_with_evidence_metadata_and_buttons(
    bot_factory: BotFactory, db_url: str
) -> None:
    bot = await bot_factory(db_url)
    pod = pods_of(bot.sim, "shop", "ledger-api")[0]
    response = await bot.alerts(am_payload(am_alert("shop", pod)))
    assert response.status == 202
    assert await response.json() == {"accepted": 1, "duplicates": 0}

    [root] = await eventually(bot.roots)
    assert root.metadata["event_type"] == "crashloop_triage"
    payload = root.metadata["event_payload"]
    assert {k: payload[k] for k in ("environment", "namespace", "workload", "container", "branch", "reason")} == {
        "environment": "prod",
        "namespace": "shop",
        "workload": "ledger-api",
        "container": "app",
        "branch": "resources",
        "reason": "OOMKilled",
    }
    assert payload["exit_code"] == 137
    assert payload["restarts"] >= 14
    assert payload["pod"].startswith("ledger-api-")
    text = blocks_text(root.blocks)
    assert "CrashLoopBackOff · shop/ledger-api" in text
    assert "OOMKilled" in text
    assert "Why" in text
    assert "Top events" in text
    buttons = [e for b in root.blocks if b.get("block_id") == "remedies" for e in b["elements"]]
    ids = [b["action_id"] for b in buttons]
    assert ids[0] == "runbook.bump_memory"
    [incident_buttons] = [b["elements"] for b in root.blocks if b.get("block_id") == "incident"]
    assert [e["action_id"] for e in incident_buttons] == ["incident.ack"]
    assert "triage.rerun" in ids
    bump = buttons[0]
    assert "384Mi" not in bump["value"]
    assert "{" not in bump["value"]
    proposal = await bot.services.store.get_proposal(bump["value"])
    assert proposal is not None
    assert proposal.params == {"container": "app", "from": "256Mi", "to": "384Mi"}


async def test_repeats_update_the_root_in_place_and_resolve_shows_the_duration(bot: Bot) -> None:
    first, second = pods_of(bot.sim, "shop", "search")[:2]
    await bot.alerts(am_payload(am_alert("shop", first)))
    [root] = await eventually(bot.roots)
    await bot.alerts(
        am_payload(am_alert("shop", second), am_alert("shop", first, alertname="HighContainerRestartRate"))
    )
    await eventually(lambda: bot.slack.calls_to("chat.update"))
    await eventually(lambda: "3 alert(s)" in blocks_text(bot.roots()[0].blocks))
    assert len(bot.roots()) == 1
    incident = (await bot.services.store.list_incidents(status="open"))[0]
    assert incident.alert_count == 3
    assert set(incident.alertnames) == {"PodCrashLoopBackOff", "HighContainerRestartRate"}

    resolved = [am_alert("shop", p, status="resolved") for p in (first, second)]
    resolved.append(am_alert("shop", first, status="resolved", alertname="HighContainerRestartRate"))
    await bot.alerts(am_payload(*resolved, status="resolved"))
    root = await eventually(lambda: next((m for m in bot.roots() if "Resolved after" in blocks_text(m.blocks)), None))
    assert root.ts == bot.roots()[0].ts
    assert root.metadata["event_payload"]["status"] == "resolved"
    assert await bot.services.store.list_incidents(status="open") == []


async def test_redelivery_is_recognised_and_ignored_durably(bot: Bot) -> None:
    pod = pods_of(bot.sim, "shop", "ledger-api")[0]
    payload = am_payload(am_alert("shop", pod))
    first = await (await bot.alerts(payload)).json()
    await eventually(bot.roots)
    second = await (await bot.alerts(payload)).json()
    assert (first, second) == ({"accepted": 1, "duplicates": 0}, {"accepted": 0, "duplicates": 1})
    assert await bot.services.store.count_alerts() == 1
    assert (
        'crashloop_alerts_deduplicated_total{source="alertmanager"} 1.0'
        in await (await bot.client.get("/metrics")).text()
    )


async def test_a_storm_yields_one_root_and_a_bounded_number_of_updates(bot: Bot) -> None:
    pods = pods_of(bot.sim, "payments", "orders")
    payloads = [
        am_payload(
            *[
                am_alert("payments", pods[i % len(pods)], fingerprint=f"storm-{n}-{i}", alertname=f"A{i}")
                for i in range(5)
            ]
        )
        for n in range(40)
    ]
    responses = await asyncio.gather(*(bot.alerts(p) for p in payloads))
    assert [r.status for r in responses] == [202] * 40
    assert await bot.services.store.count_alerts() == 200
    await eventually(lambda: _all_processed(bot))
    roots = await eventually(
        lambda: [m for m in bot.roots() if m.metadata.get("event_payload", {}).get("workload") == "orders"]
    )
    assert len(roots) == 1
    updates = [c for c in bot.slack.calls_to("chat.update") if c.args.get("ts") == roots[0].ts]
    assert len(updates) <= 10, len(updates)
    incident = (await bot.services.store.list_incidents(status="open"))[0]
    assert incident.alert_count == 200


async def _all_processed(bot: Bot) -> bool:
    return await bot.services.store.count_alerts("pending") == 0


async def test_cubeapm_otel_labels_and_sample_log(bot: Bot) -> None:
    pod = pods_of(bot.sim, "payments", "orders")[0]
    body = {
        "status": "firing",
        "groupKeyHash": "a1b2c3",
        "incidentTime": "2026-11-25T10:00:00Z",
        "notifyTime": "2026-11-25T10:00:02Z",
        "cubeImageURL": "https://cubeapm.example/img/1.png",
        "cubeSampleLog": "FATAL: could not connect to orders-db:5432 <!channel>",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "DependencyRelatedRestarts",
                    "k8s.namespace.name": "payments",
                    "k8s.pod.name": pod,
                    "k8s.container.name": "app",
                    "k8s.cluster.name": "sim-1",
                },
                "startsAt": "2026-11-25T10:00:00Z",
            }
        ],
    }
    response = await bot.alerts(body, path="/alerts/cubeapm")
    assert response.status == 202
    [root] = await eventually(bot.roots)
    text = blocks_text(root.blocks)
    assert "Sample log from the alert" in text
    assert "&lt;!channel&gt;" in text
    assert "<!channel>" not in text
    assert root.metadata["event_payload"]["branch"] == "networking_deps"


async def test_kubernetes_failure_is_told_in_the_message_not_dropped(bot: Bot) -> None:
    for resource in ("deployments", "statefulsets", "daemonsets", "pods"):
        bot.sim.add_fault(verb="get", resource=resource, namespace="shop", status=403)
    await bot.alerts(am_payload(am_alert("shop", "checkout-5d8f7b9c4-abcde")))
    [root] = await eventually(bot.roots)
    text = blocks_text(root.blocks)
    assert "Could not triage" in text
    assert "403" in text
    incident = (await bot.services.store.list_incidents(status="open"))[0]
    assert incident.workload == "checkout"  # named from the pod when the cluster could not say


async def test_slack_rate_limits_and_server_errors_are_waited_out(bot: Bot) -> None:
    bot.slack.fail("chat.postMessage", retry_after=0)
    bot.slack.fail("chat.postMessage", status=500)
    pod = pods_of(bot.sim, "shop", "ledger-api")[0]
    await bot.alerts(am_payload(am_alert("shop", pod)))
    [root] = await eventually(bot.roots)
    assert root.metadata["event_payload"]["workload"] == "ledger-api"
    statuses = [c.http_status for c in bot.slack.calls_to("chat.postMessage")]
    assert statuses == [429, 500, 200]
    metrics = await (await bot.client.get("/metrics")).text()
    assert "crashloop_slack_rate_limited_total 1.0" in metrics


async def test_slack_refusing_keeps_the_incident_and_posts_once_slack_recovers(bot: Bot) -> None:
    bot.slack.fail("chat.postMessage", error="channel_not_found", times=None)
    pod = pods_of(bot.sim, "shop", "ledger-api")[0]
    await bot.alerts(am_payload(am_alert("shop", pod)))
    incident = await eventually(lambda: _incident_with_error(bot))
    assert incident.slack_error == "channel_not_found"
    assert incident.needs_sync == 1
    assert bot.roots() == []
    bot.slack.clear_failures()
    await bot.services.store.update_incident(incident.id, next_sync_at=None)
    bot.worker.wake()
    [root] = await eventually(bot.roots)
    assert root.metadata["event_payload"]["workload"] == "ledger-api"

    async def synced() -> object:
        now = await bot.services.store.get_incident(incident.id)
        return now is not None and now.needs_sync == 0 and now

    done = await eventually(synced)
    assert (done.needs_sync, done.slack_error, done.root_ts) == (0, None, root.ts)
    assert len(bot.roots()) == 1


async def _incident_with_error(bot: Bot):  # type: ignore[no-untyped-def]
    incidents = await bot.services.store.list_incidents(status="open")
    return next((i for i in incidents if i.slack_error), None)


async def test_alerts_stored_before_a_restart_are_processed_after_it(bot_factory: BotFactory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    store = Store(url)
    await upgrade(store.engine)
    pod = "report-worker-6c9f8d7b5-q2w3e"
    body = am_payload(am_alert("shop", pod))
    assert await store.add_alerts(normalize(parse(body), "alertmanager")) == (1, 0)
    await store.close()
    bot = await bot_factory(url)  # a new process finds the stored alert and handles it
    [root] = await eventually(bot.roots)
    assert root.metadata["event_payload"]["workload"] == "report-worker"
    assert root.metadata["event_payload"]["branch"] == "image_config"


async def test_alert_naming_no_namespace_is_kept_as_unroutable(bot: Bot) -> None:
    alert = am_alert("shop", "x")
    del alert["labels"]["namespace"]
    response = await bot.alerts(am_payload(alert))
    assert response.status == 202
    await eventually(lambda: _count(bot, "unroutable"))
    assert bot.roots() == []
    metrics = await (await bot.client.get("/metrics")).text()
    assert "crashloop_alerts_unroutable_total 1.0" in metrics


async def _count(bot: Bot, state: str) -> int:
    return await bot.services.store.count_alerts(state)


async def test_full_log_is_attached_when_long(bot: Bot) -> None:
    pod = pods_of(bot.sim, "payments", "orders")[0]
    await bot.alerts(am_payload(am_alert("payments", pod)))
    [root] = await eventually(bot.roots)
    # files_upload_v2 is three steps (URL, upload, complete): wait for the completed file, not the first step
    [uploaded] = await eventually(lambda: [f for f in bot.slack.files.values() if f.completed])
    assert len(bot.slack.files) == 1
    assert uploaded.content is not None
    assert uploaded.content.count(b"\n") >= 30
    assert b"Connection refused" in uploaded.content
    assert (uploaded.channels, uploaded.thread_ts) == ([CHANNEL], root.ts)  # into the incident's thread
    assert root.metadata["event_payload"]["workload"] == "orders"
    assert json.dumps(root.blocks).count("```") == 2  # the message shows only the tail; the file has it all


async def test_alert_from_another_cluster_is_not_posted_to_the_only_environment(bot: Bot) -> None:
    pod = pods_of(bot.sim, "shop", "ledger-api")[0]
    response = await bot.alerts(am_payload(am_alert("shop", pod, cluster="some-other-cluster")))
    assert response.status == 202
    await eventually(lambda: _count(bot, "unroutable"))
    assert bot.roots() == []


async def test_resolved_notifications_do_not_inflate_the_alert_count(bot: Bot) -> None:
    pod = pods_of(bot.sim, "shop", "ledger-api")[0]
    await bot.alerts(am_payload(am_alert("shop", pod)))
    await eventually(bot.roots)
    await bot.alerts(am_payload(am_alert("shop", pod, status="resolved"), status="resolved"))
    await eventually(lambda: "Resolved after" in blocks_text(bot.roots()[0].blocks))
    [incident] = await bot.services.store.list_incidents(status="resolved")
    assert incident.alert_count == 1
