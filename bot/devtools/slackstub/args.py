"""Reading method arguments the way Slack does, whatever the transport.

The SDK sends some methods as JSON bodies (native types), others as query parameters or form fields (strings, with
booleans as "1"/"0" and JSON structures as JSON text). These helpers give handlers one typed view of both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import ApiError

Args = Mapping[str, Any]

_TRUE = frozenset({"1", "true", "yes", "on"})


def opt_str(args: Args, name: str) -> str | None:
    """A string argument, or None when absent or empty (numbers sent as JSON are turned into text)."""
    value = args.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


def flag(args: Args, name: str, default: bool = False) -> bool:
    """A boolean argument: JSON true/false, or "1"/"0"/"true"/"false" from a query string or form."""
    value = args.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return str(value).strip().lower() in _TRUE


def opt_int(args: Args, name: str, default: int) -> int:
    """An integer argument (limit, length...); non-numbers are `invalid_arguments` like Slack."""
    value = args.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError("invalid_arguments", [f"{name} must be an integer"]) from None


def opt_json(args: Args, name: str, error: str) -> Any:
    """A structured argument sent either as JSON (already decoded) or as JSON text in a form field."""
    value = args.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ApiError(error, [f"{name} is not valid JSON: {exc.msg}"]) from None
    return value


def str_list(args: Args, name: str) -> list[str]:
    """A list argument sent as a JSON array or as comma-separated text ("C1,C2")."""
    value = args.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [part.strip() for part in str(value).split(",") if part.strip()]
