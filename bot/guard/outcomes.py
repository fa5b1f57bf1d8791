"""What a step of the change flow ended in, as types every door renders in its own way.

The guard never speaks Slack or a terminal: it returns one of these, and the Slack door turns it into Block Kit
while the CLI turns it into lines and an exit code. A refusal names the rule that refused (so a test can check
that every door refuses for the same reason) and, for a parameter, the field to correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.guard.repeats import Repeat
from bot.remedies.registry import title_of
from bot.store.changes import ChangeRow
from bot.store.rows import ProposalRow


def title(subject: ProposalRow | ChangeRow) -> str:
    """ "Bump memory · shop/ledger-api": what a change is about, in words."""
    return f"{title_of(subject.remedy)} · {subject.namespace}/{subject.workload}"


class Rule(StrEnum):
    """The rules a request can be refused by."""

    UNKNOWN = "unknown"  # no such proposal or change
    ROLE = "role"
    READ_ONLY = "read_only"
    PARAMETER = "parameter"
    USED = "used"  # the proposal was already used (double click, replay)
    EXPIRED = "expired"
    STALE = "stale"
    ONE_CHANGE = "one_change"
    APPROVAL = "approval"  # this door cannot carry an approval
    REPEAT = "repeat"  # the same remedy again soon after it was applied needs an approval this door cannot carry
    SELF_APPROVAL = "self_approval"
    NOT_REQUESTER = "not_requester"
    STATE = "state"  # the change already moved on (replay, retry)
    CLUSTER = "cluster"  # the dry run or the API refused
    ALERTMANAGER = "alertmanager"  # no Alertmanager configured, or it did not answer (silence, unsilence)


@dataclass(frozen=True)
class Refused:
    """Nothing changed; `reason` says what was tried and why, `field` the parameter to correct."""

    rule: Rule
    reason: str
    field: str | None = None
    change: ChangeRow | None = None


@dataclass(frozen=True)
class MayRequest:
    """The actor may act on this proposal now (a door with a form asks for the values next)."""

    proposal: ProposalRow


@dataclass(frozen=True)
class Previewed:
    """The API server dry-ran the change: `change.diff` says what it does; confirm or cancel.

    `repeat`: the same remedy was applied to the workload recently (then `approval_needed` is True)."""

    change: ChangeRow
    approval_needed: bool
    repeat: Repeat | None = None


@dataclass(frozen=True)
class AwaitingApproval:
    """Confirmed; a different responder must approve (`repeat`: also because the remedy is repeated)."""

    change: ChangeRow
    repeat: Repeat | None = None


@dataclass(frozen=True)
class Applied:
    """The patch was accepted; recovery is watched next."""

    change: ChangeRow
    detail: str


@dataclass(frozen=True)
class Verified:
    """The pods are Ready and restarts stopped (or, for netcheck, the check ran)."""

    change: ChangeRow
    detail: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotRecovered:
    """Applied, but the pods did not recover in time; `suggestion` is what a re-triage says next."""

    change: ChangeRow
    detail: str
    suggestion: str


@dataclass(frozen=True)
class Conflict:
    """The workload changed while applying (409): nothing applied, `change` holds the new preview."""

    change: ChangeRow
    approval_needed: bool
    requester_asked: bool  # the approver clicked: the requester was sent the new preview


@dataclass(frozen=True)
class Failed:
    """Tried and failed (the API refused, a timeout); audited."""

    change: ChangeRow
    reason: str


@dataclass(frozen=True)
class Uncertain:
    """The PATCH's answer was lost and the workload could not be re-read: it may or may not be applied.

    The change keeps its workload's lock until a later re-read settles it (then Applied or Failed is announced).
    """

    change: ChangeRow
    reason: str


@dataclass(frozen=True)
class Ended:
    """Rejected by a responder or cancelled by the requester: nothing changed."""

    change: ChangeRow
    by: str
    cancelled: bool


Outcome = (
    Refused
    | MayRequest
    | Previewed
    | AwaitingApproval
    | Applied
    | Verified
    | NotRecovered
    | Conflict
    | Failed
    | Uncertain
    | Ended
)

# What confirm, approve, reject and cancel can end in.
StepOutcome = Refused | AwaitingApproval | Applied | Verified | Failed | Uncertain | Conflict | Ended
