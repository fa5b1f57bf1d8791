"""The root message as responders read it: one restart count, event lines without pod UIDs, and once resolved,
the diagnosis kept with how long it lasted; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from tests.service.conftest import CHANNEL, Bot, BotFactory, am_alert, am_payload, blocks_text, eventually, pods_of

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


async def root_of(bot: Bot, namespace: str, workload: str) -> Any:
    pod = pods_of(bot.sim, namespace, workload)[0]
    await bot.alerts(am_payload(am_alert(namespace, pod)))
    return await eventually(
        lambda: next((m for m in bot.roots() if m.metadata["event_payload"]["workload"] == workload), None)
    )


def section_texts(message: Any) -> list[str]:
    out = []
    for block in message.blocks:
        if block["type"] == "section":
            out.append(block.get("text", {}).get("text", ""))
            out += [f["text"] for f in block.get("fields", [])]
    return out


async def test_one_restart_count_across_the_message(bot: Bot) -> None:
    root = await root_of(bot, "shop", "ledger-api")  # two crash-looping pods: per pod and summed counts differ
    [field] = [t for t in section_texts(root) if t.startswith("*Restarts*")]
    shown = int(re.match(r"\*Restarts\*\n(\d+) ", field).group(1))  # type: ignore[union-attr]
    why = next(t for t in section_texts(root) if t.startswith("*Why*"))
    quoted = {int(n) for n in re.findall(r"(\d+) restarts", why)}
    assert quoted == {shown}, (field, why)
    assert root.metadata["event_payload"]["restarts"] == shown
    # the workload's total has a key of its own: ledger-api's two pods restart, the sum is not the focus count
    assert root.metadata["event_payload"]["workload_restarts"] > shown
    [incident] = await bot.services.store.list_incidents()
    assert incident.restarts == shown


async def test_event_lines_carry_no_pod_uids(bot: Bot) -> None:
    root = await root_of(bot, "shop", "ledger-api")
    events = next(t for t in section_texts(root) if t.startswith("*Top events*"))
    # the kubelet's "Back-off restarting failed container app in pod <name>_<ns>(<uid>)", once for both pods
    assert re.search(r"`BackOff` ×\d+ \(2 pods\) Back-off restarting failed container app in pod ledger-api-", events)
    assert not UUID.search(blocks_text(root.blocks)), blocks_text(root.blocks)


async def test_resolved_without_a_change_keeps_the_diagnosis_and_the_duration(
    bot_factory: BotFactory, db_url: str
) -> None:
    bot = await bot_factory(db_url)
    root = await root_of(bot, "shop", "search")
    pod = pods_of(bot.sim, "shop", "search")[0]
    await bot.alerts(am_payload(am_alert("shop", pod, status="resolved"), status="resolved"))
    resolved = await eventually(
        lambda: (m := bot.slack.message(CHANNEL, root.ts)) and "Resolved after" in blocks_text(m.blocks) and m
    )
    [incident] = await bot.services.store.list_incidents(status="resolved")
    assert incident.resolved_at is not None
    text = blocks_text(resolved.blocks)
    assert resolved.blocks[0]["text"]["text"].startswith("✅ Resolved after ")
    assert f"first firing <!date^{int(incident.opened_at.timestamp())}^" in text
    assert f"resolved <!date^{int(incident.resolved_at.timestamp())}^" in text
    diagnosis = next(t for t in section_texts(resolved) if t.startswith("*Diagnosis*"))
    assert incident.summary is not None
    assert diagnosis.startswith(f"*Diagnosis*: {incident.summary}")
    assert "Runbook branch: *Probes*" in diagnosis
    assert "\n> `Normal Killing x" in diagnosis  # the decisive line, as the open message quoted it first
    assert "no change through the bot" in text
    assert "Nobody said they were on it" in text
    assert "~" not in text  # not struck through
    assert [b for b in resolved.blocks if b["type"] == "actions"] == []  # no live buttons on a closed incident
    assert not UUID.search(text)
