"""Is a planned patch already in place in the live workload? Settles a PATCH whose answer was lost.

A generation that moved past the previewed one only says that *someone* wrote the spec (another writer may have);
this compares the live object with the very patch that was sent: every value the patch sets is there, every key
it removes (a strategic-merge `null`) is gone, list items merged by `name` are matched by name. Values the API
server adds (defaults) do not count against it: the patch is a subset of the live object, not equal to it.
"""

from __future__ import annotations

from typing import Any

from bot.remedies.patches import PatchPlan

_MISSING = object()


def in_place(patch: PatchPlan, live: dict[str, Any]) -> bool:
    """True when everything `patch` sets (and removes) is so in `live`."""
    if isinstance(patch.body, list):  # metadata (annotations a controller rewrites) is not the change itself
        return all(_op_in_place(op, live) for op in patch.body if not str(op.get("path", "")).startswith("/metadata"))
    return _covers(patch.body, live)


def _covers(wanted: Any, live: Any) -> bool:
    if isinstance(wanted, dict):
        if not isinstance(live, dict):
            return False
        return all(
            (live.get(k) is None) if v is None else _covers(v, live.get(k, _MISSING))
            for k, v in wanted.items()
            if not k.startswith("$")  # strategic-merge directives ($patch, $retainKeys), not values
        )
    if isinstance(wanted, list):
        return isinstance(live, list) and all(_item_in(item, live) for item in wanted)
    return bool(wanted == live)


def _item_in(item: Any, live: list[Any]) -> bool:
    if isinstance(item, dict) and "name" in item:  # merged by name (containers, env, volumes)
        return any(isinstance(x, dict) and x.get("name") == item["name"] and _covers(item, x) for x in live)
    return any(_covers(item, x) for x in live)


def _op_in_place(op: dict[str, Any], live: dict[str, Any]) -> bool:
    """One JSON-patch operation: `add`/`replace` set their value, `remove` leaves nothing; `test` is no change."""
    at = _pointer(live, str(op.get("path", "")))
    if op.get("op") in ("add", "replace"):
        return _covers(op.get("value"), at)
    if op.get("op") == "remove":
        return at is _MISSING
    return True


def _pointer(obj: Any, path: str) -> Any:
    for raw in path.split("/")[1:]:
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
        elif isinstance(obj, list) and key.isdigit() and int(key) < len(obj):
            obj = obj[int(key)]
        else:
            return _MISSING
    return obj
