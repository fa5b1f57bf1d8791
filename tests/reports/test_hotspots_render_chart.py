"""Composing, suggesting and rendering the report; the chart is a real PNG with one line per top workload."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import matplotlib.image

from bot.devtools.slackstub.blocks import block_problems
from bot.reports import chart, render, wording
from bot.reports.hotspots import compose, memory_suggestion
from bot.reports.model import Action, HotspotReport, RemedyUse, Window, WorkloadRestarts, WorkloadStats
from bot.reports.owndata import IncidentStats, Key
from runbooks.model import Policy
from runbooks.quantity import parse_bytes
from tests.reports.conftest import is_png

END = datetime(2026, 11, 23, tzinfo=UTC)
WINDOW = Window(end=END, period=timedelta(days=7), buckets=7)
POLICY = Policy(max_memory_bytes=parse_bytes("4Gi"))


def restarts(workload: str, n: int, before: int = 0, **kw: Any) -> WorkloadRestarts:
    daily = [n // 7] * 7
    daily[-1] += n - sum(daily)
    values: dict[str, Any] = {"kind": "Deployment", "daily": tuple(daily), "container": "app", **kw}
    return WorkloadRestarts("shop", workload, restarts=n, restarts_before=before, **values)


def report_of(
    rows: list[WorkloadRestarts],
    *,
    incidents: dict[Key, IncidentStats] | None = None,
    actions: dict[Key, list[Action]] | None = None,
    top: int = 10,
    threshold: int = 5,
) -> HotspotReport:
    return compose(
        "prod",
        WINDOW,
        rows,
        incidents or {},
        actions or {},
        top=top,
        threshold=threshold,
        policy=POLICY,
        source="sampler",
    )


def test_top_n_by_restarts_above_the_threshold_with_the_change() -> None:
    rows = [restarts(f"w{i}", 10 + i, before=i) for i in range(12)] + [restarts("calm", 5), restarts("zero", 0, 9)]
    report = report_of(rows, top=10)
    assert [s.workload for s in report.top] == [f"w{i}" for i in range(11, 1, -1)]
    assert report.top[0].change == 21 - 11
    assert report.total_restarts == sum(10 + i for i in range(12)) + 5
    assert report.total_before == sum(range(12)) + 9
    assert list(report.daily) == [s.label for s in report.top]
    assert [d for d, _ in report.daily["shop/w11"]] == WINDOW.labels()
    assert sum(n for _, n in report.daily["shop/w11"]) == 21


def test_oom_kills_at_a_known_limit_suggest_a_bump_with_a_remedy() -> None:
    row = restarts("ledger-api", 20, before=4, oom_kills=14, memory_limit="256Mi")
    incidents = {("shop", "ledger-api"): IncidentStats(2, "resources", timedelta(minutes=80), 2)}
    report = report_of([row], incidents=incidents)
    [suggestion] = report.suggestions
    assert suggestion.text == "ledger-api was OOMKilled 14 times at 256Mi: consider 384Mi"
    assert suggestion.remedy == "bump_memory"
    assert suggestion.params == {"container": "app", "from": "256Mi", "to": "384Mi"}
    assert suggestion.kind == "Deployment"
    stats = report.top[0]
    assert (stats.incidents_opened, stats.dominant_branch, stats.mean_time_to_resolve) == (
        2,
        "resources",
        timedelta(minutes=80),
    )


def stats(**kw: Any) -> WorkloadStats:
    values: dict[str, Any] = {
        "environment": "prod",
        "namespace": "shop",
        "workload": "ledger-api",
        "restarts": 20,
        "restarts_before": 0,
        "oom_kills": 15,
        "memory_limit": "4Gi",
        "dominant_branch": None,
        "incidents_opened": 0,
        "mean_time_to_resolve": None,
        "kind": "Deployment",
        "container": "app",
        **kw,
    }
    return WorkloadStats(**values)


def test_memory_suggestions_respect_the_cap_and_the_evidence() -> None:
    at_cap = memory_suggestion(stats(memory_limit="4Gi"), POLICY)
    assert at_cap is not None
    assert at_cap.remedy is None
    assert "already at the configured maximum (4Gi): find the leak" in at_cap.text
    capped = memory_suggestion(stats(memory_limit="3Gi"), POLICY)
    assert capped is not None
    assert capped.params["to"] == "4Gi"
    no_limit = memory_suggestion(stats(memory_limit=None), POLICY)
    assert no_limit is not None
    assert "without a memory limit" in no_limit.text
    assert no_limit.remedy is None
    assert memory_suggestion(stats(oom_kills=2), POLICY) is None  # 2 of 20 restarts: not the story
    from_incident = memory_suggestion(stats(oom_kills=0, oom_incidents=1, memory_limit="512Mi"), POLICY)
    assert from_incident is not None
    assert from_incident.params["to"] == "768Mi"
    bare_pod = memory_suggestion(stats(kind="Pod", memory_limit="512Mi"), POLICY)
    assert bare_pod is not None
    assert bare_pod.remedy is None


def test_branch_advice_and_worsening_without_action() -> None:
    probes = restarts("search", 40, before=30)
    worse = restarts("checkout", 30, before=3)
    handled = restarts("orders", 30, before=3)
    incidents = {("shop", "search"): IncidentStats(3, "probes", None, 0)}
    actions = {("shop", "orders"): [Action("applied", "rollout_restart", "alice")]}
    report = report_of([probes, worse, handled], incidents=incidents, actions=actions)
    texts = {s.workload: s.text for s in report.suggestions}
    assert texts["search"].startswith("search: most incidents were probe kills")
    assert "`/crashloop triage prod checkout`" in texts["checkout"]
    assert "orders" not in texts
    assert all(s.remedy is None for s in report.suggestions)


def test_an_empty_week_is_reported_as_nothing_to_report() -> None:
    report = report_of([restarts("calm", 3)], threshold=5)
    assert report.empty
    blocks = render.report_blocks(report)
    text = json.dumps(blocks)
    assert "No workload restarted more than 5 times in prod" in text
    assert block_problems(blocks, max_blocks=50) == []
    assert "no workload restarted more than 5 times" in render.fallback_text(report)
    assert "No workload restarted more than 5 times in prod" in render.report_text(report)


def full_report() -> HotspotReport:
    rows = [
        restarts("ledger-api", 84, before=24, oom_kills=84, memory_limit="256Mi"),
        restarts("search", 40, before=45),
        restarts("<!channel>", 7),
    ]
    incidents = {("shop", "ledger-api"): IncidentStats(2, "resources", timedelta(minutes=80), 2)}
    actions = {
        ("shop", "ledger-api"): [
            Action("applied", "bump_memory", "alice"),
            Action("verified", "bump_memory", "crashloop-bot"),
        ]
    }
    return report_of(rows, incidents=incidents, actions=actions)


def test_blocks_show_each_workload_and_a_button_for_a_proposed_remedy() -> None:
    report = full_report()
    report = replace(report, suggestions=[replace(s, proposal_id="prop-123") for s in report.suggestions])
    blocks = render.report_blocks(report)
    assert block_problems(blocks, max_blocks=50) == []
    text = json.dumps(blocks, ensure_ascii=False)
    assert "*1. `shop/ledger-api`* (Deployment) — *84 restarts* ▲ +60 (+250%) (was 24)" in text
    assert "84 OOMKilled at 256Mi · branch: Resources · 2 incident(s), time to resolve 1h 20m" in text
    assert "Actions: bump_memory applied by alice, verified" in text
    assert "▼ -5 (-11%)" in text
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text
    [buttons] = [b for b in blocks if b["type"] == "actions"]
    [button] = buttons["elements"]
    assert (button["action_id"], button["value"]) == ("runbook.bump_memory", "prop-123")
    assert button["text"]["text"] == "Bump memory to 384Mi (ledger-api)"


def test_plain_text_for_the_cli() -> None:
    text = render.report_text(full_report())
    lines = text.splitlines()
    assert lines[0] == "Restart hotspots · prod · Mon 16 Nov – Sun 22 Nov 2026 (UTC)"
    header = next(line for line in lines if line.startswith("#"))
    assert header.split() == [
        "#",
        "workload",
        "kind",
        "restarts",
        "change",
        "OOM",
        "limit",
        "branch",
        "incidents",
        "resolve",
        "remedies",
        "actions",
    ]
    assert any(line.startswith("1  shop/ledger-api") and "bump_memory applied by alice" in line for line in lines)
    assert "  - ledger-api was OOMKilled 84 times at 256Mi: consider 384Mi" in lines
    assert "      → /crashloop bump_memory prod ledger-api container=app to=384Mi" in lines


def test_chart_has_one_labelled_line_per_top_workload_and_renders_a_png() -> None:
    report = full_report()
    fig = chart.figure(report)
    [ax] = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == [s.label for s in report.top]
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [
        [n for _, n in report.daily[s.label]] for s in report.top
    ]
    assert ax.get_xlabel() == "day (UTC)"
    assert ax.get_ylabel() == "container restarts"
    assert ax.get_title() == "Restarts per day · prod · 3 workloads"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [s.label for s in report.top]
    assert next(t.get_text() for t in ax.get_xticklabels()) == "Mon 16 Nov"

    data = chart.png(report)
    assert is_png(data)
    image = matplotlib.image.imread(io.BytesIO(data), format="png")
    assert image.shape[:2] == (500, 1000)


def test_triage_hints_are_capped_so_suggestions_stay_readable() -> None:
    rows = [restarts(f"new-{i}", 20 + i) for i in range(6)]
    rows.append(restarts("ledger-api", 10, oom_kills=10, memory_limit="256Mi"))
    report = report_of(rows)
    topics = [s.topic for s in report.suggestions]
    assert topics.count("triage") == 3
    assert [s.workload for s in report.suggestions if s.topic == "triage"] == ["new-5", "new-4", "new-3"]
    assert "memory" in topics


def test_lengths_and_durations_read_naturally() -> None:
    assert wording.length_text(timedelta(days=7)) == "7 days"
    assert wording.length_text(timedelta(days=7, hours=1)) == "7 days"  # a week with a DST change
    assert wording.length_text(timedelta(days=1)) == "1 day"
    assert wording.length_text(timedelta(hours=2)) == "2 hours"
    assert wording.length_text(timedelta(seconds=8)) == "8 seconds"
    assert wording.duration_text(timedelta(minutes=80)) == "1h 20m"
    assert wording.duration_text(timedelta(days=3, hours=4)) == "3d 4h"
    assert wording.duration_text(timedelta(seconds=20)) == "<1m"
    assert wording.change_text(10, 0) == "new"
    assert wording.change_text(5, 5) == "= same"


def test_every_workload_with_an_incident_is_listed_even_below_the_threshold_and_beyond_the_top() -> None:
    rows = [restarts(f"hot-{i}", 50 + i) for i in range(3)] + [restarts("calm", 2)]
    incidents = {("shop", f"quiet-{i}"): IncidentStats(1, None, None, 0, during=1, still_open=1) for i in range(30)}
    incidents[("shop", "calm")] = IncidentStats(1, None, timedelta(minutes=5), 0, during=1)
    incidents[("shop", "hot-0")] = IncidentStats(1, None, timedelta(hours=2), 0, during=1)
    remedies = {("shop", "fixed"): [RemedyUse("rollout_undo", 2, END - timedelta(days=1))]}
    report = compose(
        "prod", WINDOW, rows, incidents, {}, top=2, threshold=5, policy=POLICY, source="sampler", remedies=remedies
    )
    assert [s.workload for s in report.top] == ["hot-2", "hot-1"]
    also = [s.workload for s in report.also]
    # open incidents first, then by restarts: hot-0 fell out of the top 2 but had an incident
    assert also[:30] == sorted(f"quiet-{i}" for i in range(30))
    assert also[30:] == ["hot-0", "calm", "fixed"]
    blocks = render.report_blocks(report)
    assert block_problems(blocks, max_blocks=50) == []
    text = json.dumps(blocks, ensure_ascii=False)
    assert "truncated" not in text
    assert "`shop/quiet-29`" in text
    assert "*35. `shop/fixed`* — *0 restarts*" in text
    assert "Remedies applied: rollout_undo ×2 (1 repeat)" in text
    assert "`shop/calm`* (Deployment) — *2 restarts*" in text
