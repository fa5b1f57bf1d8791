"""What the person who clicked "I'm on it" or "Take over" is told (only them: ephemeral), from the outcome.

The offer to take over carries the owner it was made from, so a take-over click on an offer that is out of date
(ownership moved meanwhile) is recognised and offered again instead of silently taking it from someone else.
"""

from __future__ import annotations

from bot.incidents.ownership import AlreadyYours, NotOwnable, Outcome, Owned, OwnedByOther
from bot.slack import blocks as sb
from bot.slack.dates import slack_date
from bot.slack.incident_message import TAKE_OVER_ACTION
from bot.store.rows import IncidentRow


def answer(outcome: Outcome) -> tuple[str, list[sb.Block]]:
    """(text, blocks) of the ephemeral answer to a click."""
    if isinstance(outcome, NotOwnable):
        text = f":no_entry: {sb.escape(outcome.reason)}"
        return text, [sb.section(text)]
    incident = outcome.incident
    where = f"{sb.escape(incident.namespace)}/{sb.escape(incident.workload)}"
    if isinstance(outcome, Owned):
        was = f", taken over from {sb.mention(outcome.previous, outcome.previous_name)}" if outcome.previous else ""
        text = f"👤 You own the incident on {where} now{was}. The root message says so."
        return text, [sb.section(text)]
    if isinstance(outcome, AlreadyYours):
        text = f"👤 You already own the incident on {where}{_since(incident)}."
        return text, [sb.section(text)]
    return _offer(outcome)


def is_incident_id(value: str) -> bool:
    """Whether a button value can be an incident id (digits, in the range of an SQL integer)."""
    return value.isascii() and value.isdigit() and int(value) < 2**31


def take_over_value(incident: IncidentRow) -> str:
    """The Take over button's value: the incident and the owner the offer is made from."""
    return f"{incident.id}:{incident.owner_id}"


def read_take_over_value(value: str) -> tuple[int, str] | None:
    """(incident id, offered-from owner) of a Take over button, None when it is not one the bot made."""
    incident, _, owner = value.partition(":")
    if not is_incident_id(incident) or not owner or len(value) > 300:
        return None
    return int(incident), owner


def _offer(outcome: OwnedByOther) -> tuple[str, list[sb.Block]]:
    incident = outcome.incident
    owner = sb.mention(str(incident.owner_id), incident.owner_name)
    text = f"👤 {owner} owns this{_since(incident)} — take over?"
    button = sb.button("Take over", TAKE_OVER_ACTION, take_over_value(incident), "danger")
    return text, [sb.section(text), sb.actions("take_over", [button])]


def _since(incident: IncidentRow) -> str:
    return f" since {slack_date(incident.owned_since)}" if incident.owned_since else ""
