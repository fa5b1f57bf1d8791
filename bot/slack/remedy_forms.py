"""The modal a responder fills in before a remedy that needs a value (Slack `views.open`), and reading it back.

Which fields each remedy asks for comes from its spec (`bot.remedies.registry`), each prefilled from the
proposal. The literal value field is never echoed: it goes into the guard, which seals it. This module only
reads the form's shape (a Secret as name/key, a port as a number); whether a value is allowed is the guard's
call, and its refusal is shown next to the field so the person can correct it.
"""

from __future__ import annotations

import json
from typing import Any

from bot.remedies.registry import spec_of
from bot.slack import blocks as sb

CALLBACK_ID = "remedy.form"


def fields(remedy: str) -> set[str]:
    """The fields the remedy's form asks for (empty: no form, the button previews at once)."""
    try:
        return {f.name for f in spec_of(remedy).form}
    except (KeyError, ValueError):
        return set()


def needs_form(remedy: str) -> bool:
    """Whether the remedy asks for values before its preview (its spec has form fields)."""
    return bool(fields(remedy))


def modal(remedy: str, title: str, params: dict[str, Any], private: dict[str, Any]) -> dict[str, Any]:
    blocks = [sb.section(sb.escape(title))]
    for field in spec_of(remedy).form:
        initial = params.get(field.name)
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": field.name}
        if initial not in (None, "") and not field.sealed:
            element["initial_value"] = str(initial)
        blocks.append(
            {
                "type": "input",
                "block_id": field.name,
                "optional": field.optional,
                "label": {"type": "plain_text", "text": field.label},
                "element": element,
            }
        )
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": json.dumps(private),
        "title": {"type": "plain_text", "text": "Runbook remedy"},
        "submit": {"type": "plain_text", "text": "Preview"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


class FormError(ValueError):
    """A field the user must fix; `field` names it (shown next to it in the modal)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def read(remedy: str, state_values: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(param overrides, literal value) from a submitted form."""
    raw = {block: (v.get(block) or {}).get("value") for block, v in state_values.items()}
    values: dict[str, str] = {k: v.strip() for k, v in raw.items() if isinstance(v, str) and v.strip()}
    literal = values.pop("value", None) if remedy == "set_env" else None
    overrides: dict[str, Any] = {}
    for key in ("secret", "configmap"):
        if key in values:
            name, _, ref_key = values.pop(key).partition("/")
            if not ref_key:
                raise FormError(key, "write it as name/key")
            overrides[key] = {"name": name, "key": ref_key}
    if (
        remedy == "set_env"
        and sum(x is not None for x in (literal, overrides.get("secret"), overrides.get("configmap"))) != 1
    ):
        raise FormError("value", "give exactly one source: a literal value, a Secret key or a ConfigMap key")
    port = values.pop("port", None)
    if port is not None:  # whether it is a valid port is the guard's call
        overrides["port"] = int(port) if port.isdigit() else port
    overrides.update(values)
    return overrides, literal
