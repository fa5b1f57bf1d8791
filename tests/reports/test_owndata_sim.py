"""The own-data path end to end: the sampler on the simulated cluster, incidents and audit rows, posted to Slack.

The simulated cluster's crash-looping containers restart once per 5 simulated minutes; the test moves its clock
instead of sleeping, and restarts a StatefulSet pod (same name, counter back to 0) and a Deployment pod (a new
name) in between, so both kinds of counter reset are in the data.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.devtools.simcluster import SimCluster
from bot.devtools.slackstub import SlackStandIn
from bot.devtools.slackstub.blocks import block_problems
from bot.reports.model import Window
from bot.reports.sampler import RestartSampler
from bot.reports.service import ReportContext, build_report, post_report
from bot.store.audit import AuditEvent
from tests.reports.conftest import CHANNEL, ENV, ContextFactory, is_png, make_config, sample

PERIOD = timedelta(minutes=5)  # one restart per period per crash-looping container


def pod_names(sim: SimCluster, namespace: str, prefix: str) -> list[str]:
    return sorted(
        p["metadata"]["name"]
        for p in sim.list_objects("v1", "pods", namespace)
        if p["metadata"]["name"].startswith(prefix)
    )


async def sample_through_resets(ctx: ReportContext, sim: SimCluster) -> tuple[datetime, datetime]:
    """Four sweeps: baseline, +2 restarts, two pods replaced, +2 restarts. Returns (first, last) sweep time."""
    sampler = RestartSampler(config=ctx.config, triager=ctx.triager, store=ctx.report_store)
    t0 = datetime.now(UTC)
    assert await sampler.sample(ENV, now=t0) > 0
    sim.advance_time(2 * PERIOD.total_seconds())
    t1 = t0 + 2 * PERIOD
    await sampler.sample(ENV, now=t1)
    sim.delete_object("v1", "pods", "payments", "fraud-scorer-0")
    sim.delete_object("v1", "pods", "shop", pod_names(sim, "shop", "ledger-api-")[0])
    await sampler.sample(ENV, now=t1 + timedelta(seconds=1))
    unchanged = await sampler.sample(ENV, now=t1 + timedelta(seconds=2))
    assert unchanged == 0  # only changes are stored
    sim.advance_time(2 * PERIOD.total_seconds())
    t3 = t1 + 2 * PERIOD
    await sampler.sample(ENV, now=t3)
    return t0, t3


async def test_sampler_report_with_incidents_actions_and_the_slack_post(
    context_factory: ContextFactory, sim: SimCluster, kubeconfig: Path, slack: SlackStandIn
) -> None:
    ctx = await context_factory(config=make_config(kubeconfig))
    t0, t3 = await sample_through_resets(ctx, sim)
    incident, _ = await ctx.store.open_incident(ENV, "shop", "ledger-api", "Deployment", now=t0 + PERIOD)
    await ctx.store.update_incident(
        incident.id, status="resolved", resolved_at=t0 + 3 * PERIOD, branch="resources", reason="OOMKilled"
    )
    await ctx.audit.append(
        AuditEvent("applied", "ok", "U0ONCALL1", "alice", ENV, "shop", "ledger-api", remedy="bump_memory"),
        at=t0 + 2 * PERIOD,
    )

    # 30 minutes, so the period before starts after the crash-looping pods were created (except web-app's, 4m before
    # sim start: counted from birth) and the first sweep is a baseline for them
    window = Window(end=t3 + timedelta(minutes=1), period=timedelta(minutes=30), buckets=2)
    report = await build_report(ctx, ENV, window=window)

    top = {s.workload: s for s in report.top}
    ledger = top["ledger-api"]
    # surviving pod 14→16→18 (+4), replaced pod 14→16 (+2), its successor first seen with 1 (born after sampling
    # began: counts from 0), then 3 (+2): 9, all OOMKilled at 256Mi
    assert (ledger.restarts, ledger.oom_kills, ledger.memory_limit, ledger.kind) == (9, 9, "256Mi", "Deployment")
    assert (ledger.incidents_opened, ledger.dominant_branch, ledger.mean_time_to_resolve) == (
        1,
        "resources",
        2 * PERIOD,
    )
    assert [tuple(a) for a in ledger.actions] == [("applied", "bump_memory", "alice")]
    # fraud-scorer-0's init container 9→11, back to 1 under the same name (a reset: counts 1), then 3: 5; -1: +4
    assert top["fraud-scorer"].restarts == 9
    assert top["fraud-scorer"].kind == "StatefulSet"
    assert "search" not in top  # +4: not more than the threshold of 5
    assert sum(n for _, n in report.daily["shop/ledger-api"]) == 9
    assert report.source == "sampler"
    [bump] = [s for s in report.suggestions if s.remedy]
    assert bump.text == "ledger-api was OOMKilled 9 times at 256Mi: consider 384Mi"

    posted = await post_report(ctx, report)

    [message] = slack.channel_messages(CHANNEL)
    assert message.ts == posted.message_ts
    assert message.text.startswith(f"Restart hotspots in {ENV}")
    assert block_problems(message.blocks, max_blocks=50) == []
    buttons = [e for b in message.blocks or [] if b["type"] == "actions" for e in b["elements"]]
    [button] = [b for b in buttons if b["action_id"] == "runbook.bump_memory"]
    proposal = await ctx.store.get_proposal(button["value"])
    assert proposal is not None
    assert (proposal.environment, proposal.namespace, proposal.workload, proposal.kind) == (
        ENV,
        "shop",
        "ledger-api",
        "Deployment",
    )
    assert proposal.params == {"container": "app", "from": "256Mi", "to": "384Mi"}
    assert proposal.expires_at - proposal.created_at == timedelta(hours=48)
    # the chart: PNG bytes uploaded with files upload v2 into the report's thread
    [chart_file] = slack.files.values()
    assert chart_file.id == posted.chart_file_id
    assert is_png(chart_file.content)
    assert chart_file.filename.startswith(f"restart-hotspots-{ENV}-")
    assert chart_file.thread_ts == posted.message_ts
    [reply] = slack.thread(CHANNEL, posted.message_ts)
    assert reply.files == [chart_file.id]
    assert [c.method for c in slack.calls if c.method.startswith("files.")] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


async def test_a_quiet_period_posts_nothing_to_report_and_no_chart(
    context_factory: ContextFactory, slack: SlackStandIn
) -> None:
    ctx = await context_factory()
    start = datetime.now(UTC) - timedelta(days=7)
    await ctx.report_store.add_samples([sample("calm-1", 2, start - timedelta(hours=1), workload="calm")])
    report = await build_report(ctx, ENV, days=7)
    assert report.empty
    assert not report.partial
    posted = await post_report(ctx, report)
    [message] = slack.channel_messages(CHANNEL)
    assert ":white_check_mark: No workload restarted more than 5 times in prod" in json.dumps(message.blocks)
    assert posted.chart_file_id is None
    assert slack.files == {}


async def test_without_any_sample_the_report_says_it_has_no_data(
    context_factory: ContextFactory, slack: SlackStandIn
) -> None:
    ctx = await context_factory()
    report = await build_report(ctx, ENV, days=7)
    assert report.empty
    await post_report(ctx, report)
    [message] = slack.channel_messages(CHANNEL)
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "No restart data yet in prod" in text
    assert "the restart sampler has stored no sample for prod yet" in text
    assert "No workload restarted" not in text
    assert slack.files == {}
