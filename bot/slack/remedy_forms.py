"""The modal a responder fills in before a remedy that needs a value (Slack `views.open`), and reading it back.

Which fields each remedy asks for: set_env (name, and a literal value or a Secret/ConfigMap key), set_image
(image), service_account (name), netcheck (host, port), bump_memory (new limit) — each prefilled from the
proposal. The literal value field is never echoed: it goes into the guard, which seals it.
"""

from __future__ import annotations

import json
from typing import Any

from bot.slack import blocks as sb

CALLBACK_ID = "remedy.form"
NEEDS_FORM = {"set_env", "set_image", "service_account", "netcheck", "bump_memory"}
_FIELDS: dict[str, list[tuple[str, str, bool]]] = {  # remedy -> (param, label, optional)
    "set_env": [
        ("name", "Variable name", False),
        ("value", "Literal value (kept sealed, never shown)", True),
        ("secret", "…or from Secret (name/key)", True),
        ("configmap", "…or from ConfigMap (name/key)", True),
    ],
    "set_image": [("image", "Image", False)],
    "service_account": [("service_account", "Service account (must exist)", False)],
    "netcheck": [("host", "Host", False), ("port", "Port", True)],
    "bump_memory": [("to", "New memory limit", False)],
}


def modal(remedy: str, title: str, params: dict[str, Any], private: dict[str, Any]) -> dict[str, Any]:
    blocks = [sb.section(sb.escape(title))]
    for name, label, optional in _FIELDS[remedy]:
        initial = params.get(name)
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": name}
        if initial not in (None, "") and name != "value":
            element["initial_value"] = str(initial)
        blocks.append(
            {
                "type": "input",
                "block_id": name,
                "optional": optional,
                "label": {"type": "plain_text", "text": label},
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
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise FormError("port", "a port is a number from 1 to 65535")
        overrides["port"] = int(port)
    overrides.update(values)
    return overrides, literal
