"""The remedy-loop guard: the same remedy again on the same workload, soon after it was applied.

Chat-ops tools that keep raising memory while a leak continues are a known failure mode. A change with the same
remedy on the same workload (environment, namespace, kind, name) that reached the cluster within
`guard.remedy_repeat_days` (0 disables) makes a new request a *repeat*. Every door gets the same behaviour,
because the guard (`bot.guard.flow`) asks here: the preview and the approval request say what was done before,
by whom and when, and what the workload shows now ("it is OOMKilled again at 384Mi"); a second responder must
approve even where the environment does not require it; and the message points to the next branch of the
runbook (`bot.remedies.next_branch`). A door that cannot carry an approval (the terminal) refuses.

A repeat is judged at the time the change was requested (its `created_at`), so the preview, the confirmation
and the approval of one change agree. Audit rows of a repeat carry `LOOP_MARK` in their detail: the weekly
report counts the loops guarded and those approved anyway from them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.kube.client import KubeConfigError, KubeError
from bot.remedies.next_branch import NextBranch, next_branch
from bot.remedies.registry import title_of
from bot.store import Store
from bot.store.change_history import AppliedChange, last_applied
from bot.store.changes import ChangeRow
from bot.store.rows import ProposalRow
from bot.triage.locate import WorkloadNotFound
from bot.triage.run import Triager
from runbooks.model import Evidence

log = logging.getLogger("crashloop.guard")

LOOP_MARK = "remedy loop"  # how an audit row's detail starts when it is about a repeat (see `is_loop`)
APPROVAL_NOTE = "The same remedy again needs a second responder's approval"
OOM_KILLED = "OOMKilled"


@dataclass(frozen=True)
class Repeat:
    """A request for a remedy that was applied to the workload before, within the window."""

    previous: ChangeRow  # the change that applied it
    applied_at: datetime
    now: str | None  # what the workload shows now, e.g. "OOMKilled again at 384Mi"; None: it could not be read
    next: NextBranch
    days: int

    def sentence(self, *, when: str, who: str, esc: Callable[[str], str] = str) -> str:
        """What was done and what the workload shows now, with the date and the person as the door writes them
        (`esc` escapes what came from the cluster), e.g. "Bump memory was applied to shop/ledger-api by ana
        (Tue 01 Dec 09:14 UTC): app: memory limit 256Mi → 384Mi; it is OOMKilled again at 384Mi."."""
        p = self.previous
        what = f": {esc(p.summary)}" if p.summary else ""
        now = f"it is {esc(self.now)}" if self.now else "the workload's current state could not be read"
        where = f"{esc(p.namespace)}/{esc(p.workload)}"
        return f"{title_of(p.remedy)} was applied to {where} by {who} ({when}){what}; {now}."

    @property
    def plain(self) -> str:
        """The sentence for the terminal and the audit log (UTC, names)."""
        who = self.previous.requested_by_name or self.previous.requested_by
        return self.sentence(when=f"{self.applied_at:%a %d %b %H:%M} UTC", who=who)

    @property
    def audit_detail(self) -> str:
        return f"{LOOP_MARK}: repeat of change {self.previous.id}. {self.plain} {APPROVAL_NOTE}."

    @property
    def refusal(self) -> str:
        """Why a door without approvals refuses (the same words as the Slack preview, plus where to go)."""
        return (
            f"{LOOP_MARK}: {self.plain} {APPROVAL_NOTE}, which this door cannot ask for: use the Slack flow. "
            f"Next branch — {self.next.text}"
        )


def is_loop(detail: str | None) -> bool:
    """Whether an audit row's detail says it is about a repeated remedy."""
    return bool(detail) and str(detail).startswith(f"{LOOP_MARK}:")


def now_text(ev: Evidence) -> str:
    """What the workload shows now, from the triage evidence: "OOMKilled again at 384Mi", "crashing again (Error,
    exit code 1)", "in CreateContainerConfigError again", or "not crashing right now"."""
    focus = ev.focus
    term = (focus.last_termination or focus.terminated) if focus else None
    if focus is None or not focus.is_troubled:
        return f"not crashing right now ({ev.restarts} restarts recorded)"
    reason = term.reason if term else None
    if reason == OOM_KILLED:
        spec = next((c for c in ev.workload.containers if c.name == focus.name), None)
        limit = (spec.limits.get("memory") or spec.requests.get("memory")) if spec else None
        return f"{OOM_KILLED} again at {limit}" if limit else f"{OOM_KILLED} again (no memory limit set)"
    if term is not None:
        code = f", exit code {term.exit_code}" if term.exit_code is not None else ""
        return f"crashing again ({reason or 'terminated'}{code})"
    return f"in {focus.waiting_reason or 'trouble'} again"


@dataclass(frozen=True)
class Subject:
    """The workload and remedy a request is about."""

    environment: str
    namespace: str
    kind: str
    workload: str
    remedy: str

    @classmethod
    def of(cls, row: ProposalRow | ChangeRow) -> Subject:
        return cls(row.environment, row.namespace, row.kind, row.workload, row.remedy)


class Repeats:
    """Finds the change a request repeats; `days` 0 turns the guard off."""

    def __init__(self, *, store: Store, triager: Triager, days: int) -> None:
        self.store, self.triager, self.days = store, triager, days

    async def previous(self, subject: Subject, at: datetime | None = None) -> tuple[AppliedChange, NextBranch] | None:
        """The earlier change a request about `subject` repeats, judged at `at` (default now); SQL only."""
        entry = next_branch(subject.remedy)
        if self.days <= 0 or entry is None or not entry.guarded:
            return None
        before = at or datetime.now(UTC)
        found = await last_applied(
            self.store.engine,
            environment=subject.environment,
            namespace=subject.namespace,
            kind=subject.kind,
            workload=subject.workload,
            remedy=subject.remedy,
            since=before - timedelta(days=self.days),
            before=before,
        )
        return (found, entry) if found is not None else None

    async def of(self, subject: Subject, at: datetime | None = None, evidence: Evidence | None = None) -> Repeat | None:
        """The repeat, with what the workload shows now (from `evidence`, else a fresh triage)."""
        found = await self.previous(subject, at)
        if found is None:
            return None
        applied, entry = found
        ev = evidence or await self._evidence(subject)
        now = now_text(ev) if ev is not None else None
        return Repeat(applied.change, applied.applied_at, now, entry, self.days)

    async def for_evidence(self, ev: Evidence, remedies: Iterable[str]) -> dict[str, Repeat]:
        """Per remedy offered for `ev`'s workload, the repeat a request for it would be (the triage's buttons)."""
        out: dict[str, Repeat] = {}
        w = ev.workload
        for remedy in dict.fromkeys(remedies):
            repeat = await self.of(Subject(ev.environment, w.namespace, w.kind, w.name, remedy), evidence=ev)
            if repeat is not None:
                out[remedy] = repeat
        return out

    async def _evidence(self, subject: Subject) -> Evidence | None:
        try:
            result = await self.triager.triage(subject.environment, subject.workload, namespace=subject.namespace)
        except (KubeError, KubeConfigError, WorkloadNotFound) as exc:
            log.warning("remedy loop on %s/%s: triage failed: %s", subject.namespace, subject.workload, exc)
            return None
        return result.evidence
