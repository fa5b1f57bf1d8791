"""What a remedy loop looks like: the current evidence in words, the warning in Block Kit, the root message's button,
and the report's counts (pure; the flow itself is tested through Slack in tests/service/test_remedy_loops.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.devtools.slackstub.blocks import block_problems
from bot.guard.repeats import LOOP_MARK, Repeat, is_loop, now_text
from bot.remedies.next_branch import NEXT_BRANCH
from bot.reports.model import LoopGuard
from bot.reports.owndata import summarize_loops
from bot.slack import blocks as sb
from bot.store.audit import AuditEvent, AuditRecord
from bot.store.changes import ChangeRow
from runbooks.classify import classify
from runbooks.model import Policy, RemedyId
from tests.unit.builders import crashing, evidence, running, spec, term, waiting

APPLIED = datetime(2026, 12, 1, 9, 14, tzinfo=UTC)


def previous(requested_by: str = "U0ANA", name: str | None = "ana") -> ChangeRow:
    return ChangeRow(
        id="chg-1",
        proposal_id=None,
        incident_id=None,
        environment="prod",
        namespace="shop",
        workload="web",
        kind="Deployment",
        remedy="bump_memory",
        params={"container": "app", "to": "384Mi"},
        sealed_value=None,
        generation=3,
        state="not_recovered",
        requested_by=requested_by,
        requested_by_name=name,
        approved_by=None,
        approved_by_name=None,
        summary="app: memory limit 256Mi → 384Mi",
        diff=None,
        detail=None,
        channel=None,
        thread_ts=None,
        created_at=APPLIED,
        updated_at=APPLIED,
        expires_at=APPLIED + timedelta(minutes=15),
    )


def repeat(now: str | None = "OOMKilled again at 384Mi", **who: str | None) -> Repeat:
    return Repeat(previous(**who), APPLIED, now, NEXT_BRANCH[RemedyId.BUMP_MEMORY], 7)  # type: ignore[arg-type]


def test_the_current_evidence_in_words() -> None:
    oom = evidence(status=crashing(last=term("OOMKilled", 137)), specs=[spec(memory="384Mi")])
    assert now_text(oom) == "OOMKilled again at 384Mi"
    unlimited = evidence(status=crashing(last=term("OOMKilled", 137)), specs=[spec(memory=None, request_memory=None)])
    assert now_text(unlimited) == "OOMKilled again (no memory limit set)"
    assert now_text(evidence(status=crashing(last=term("Error", 1)))) == "crashing again (Error, exit code 1)"
    assert now_text(evidence(status=waiting("CreateContainerConfigError"))) == "in CreateContainerConfigError again"
    assert now_text(evidence(status=running(restarts=2))) == "not crashing right now (2 restarts recorded)"


def test_the_sentence_every_door_shares() -> None:
    r = repeat()
    assert r.plain == (
        "Bump memory was applied to shop/web by ana (Tue 01 Dec 09:14 UTC): app: memory limit 256Mi → 384Mi; "
        "it is OOMKilled again at 384Mi."
    )
    assert r.audit_detail.startswith(f"{LOOP_MARK}: repeat of change chg-1. Bump memory was applied")
    assert r.refusal.endswith("use the Slack flow. Next branch — " + NEXT_BRANCH[RemedyId.BUMP_MEMORY].text)
    assert is_loop(r.audit_detail)
    assert is_loop(r.refusal)
    assert not is_loop("self-approval is not allowed")
    assert "current state could not be read" in repeat(now=None).plain


def test_the_slack_warning_dates_and_mentions_and_escapes() -> None:
    text = sb.loop_text(repeat())
    assert f"by <@U0ANA> (<!date^{int(APPLIED.timestamp())}^{{date_short_pretty}} {{time}}|2026-12-01 09:14 UTC>)" in (
        text
    )
    assert "by cli:dana (" in sb.loop_text(repeat(requested_by="cli:dana", name="dana"))
    assert "&lt;!channel&gt;" in sb.loop_text(repeat(now="OOMKilled again at <!channel>"))


def test_the_root_message_offers_a_looping_remedy_only_with_the_warning_and_not_as_the_primary() -> None:
    ev = evidence(status=crashing(last=term("OOMKilled", 137)), specs=[spec(memory="384Mi")])
    finding = classify(ev, Policy())
    assert finding.remedies[0].id == RemedyId.BUMP_MEMORY
    buttons = [(r, f"prop-{i}") for i, r in enumerate(finding.remedies)]
    plain = sb.finding_blocks(ev, finding, buttons=buttons)
    looped = sb.finding_blocks(ev, finding, buttons=buttons, repeats={"bump_memory": repeat()})
    assert block_problems(looped, max_blocks=50) == []
    [first] = [e for b in plain if b["type"] == "actions" for e in b["elements"]][:1]
    assert first["style"] == "primary"
    assert "again" not in first["text"]["text"]
    [bump] = [e for b in looped if b["type"] == "actions" for e in b["elements"] if e["value"] == "prop-0"]
    assert bump["text"]["text"].endswith("again (needs approval)")
    assert "style" not in bump
    text = json.dumps(looped, ensure_ascii=False)
    assert "*Next step*: App &amp; env: more memory did not hold" in text
    assert ":repeat: *Remedy loop*" in text
    assert ":repeat:" not in json.dumps(plain)


def record(seq: int, action: str, outcome: str, detail: str | None, workload: str = "web") -> AuditRecord:
    event = AuditEvent(action, outcome, "U0ANA", "ana", "prod", "shop", workload, "bump_memory", detail=detail)
    return AuditRecord(seq=seq, at=APPLIED, event=event, prev_hash="", hash="")


def test_the_report_counts_loops_stopped_and_approved_anyway() -> None:
    loop = repeat().audit_detail
    rows = [
        record(1, "requested", "ok", None),  # the first bump: no loop
        record(2, "requested", "ok", loop),
        record(3, "denied", "refused", "self-approval is not allowed: a different responder must approve"),
        record(4, "approved", "ok", f"{LOOP_MARK}: approved anyway, a repeat of change chg-1"),
        record(5, "requested", "ok", loop, workload="api"),  # rejected later: prevented
        record(6, "denied", "refused", repeat().refusal, workload="api"),  # the terminal refused it
    ]
    loops = summarize_loops(rows)
    assert loops == {("shop", "api"): LoopGuard(2, 0), ("shop", "web"): LoopGuard(1, 1)}
    assert loops[("shop", "api")].prevented == 2
    assert loops[("shop", "web")].prevented == 0
