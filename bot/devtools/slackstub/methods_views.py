"""The `views.*` methods: opening, pushing and updating modals.

Validated like Slack: a `trigger_id` is required to open or push (`invalid_arguments`), the view must be a modal
with a plain_text title of at most 24 characters and at most 100 valid blocks, `views.update` needs a known
`view_id` or `external_id` (`not_found`) and a matching `hash` when one is sent (`hash_conflict`).
"""

from __future__ import annotations

import time
from typing import Any

from .args import Args, opt_json, opt_str
from .blocks import block_problems, check_text
from .errors import ApiError, missing
from .models import JsonDict, View
from .serialize import view_hash, view_json
from .state import Workspace

MAX_VIEW_BLOCKS = 100


def views_open(ws: Workspace, args: Args) -> JsonDict:
    """`views.open`: a new modal for the user who clicked (identified by `trigger_id`)."""
    return {"view": view_json(ws, _new_view(ws, args))}


def views_push(ws: Workspace, args: Args) -> JsonDict:
    """`views.push`: a modal on top of the current one (the stand-in does not track the stack)."""
    return {"view": view_json(ws, _new_view(ws, args))}


def views_update(ws: Workspace, args: Args) -> JsonDict:
    """`views.update`: replaces an open view's content; earlier versions are kept in `View.updates`."""
    payload = _read_view(args)
    view = _find_view(ws, opt_str(args, "view_id"), opt_str(args, "external_id"))
    sent_hash = opt_str(args, "hash")
    if sent_hash is not None and sent_hash != view.hash:
        raise ApiError("hash_conflict")
    view.updates.append(view.payload)
    view.payload = payload
    view.hash = view_hash(view.id, len(view.updates) + 1, payload)
    return {"view": view_json(ws, view)}


def _new_view(ws: Workspace, args: Args) -> View:
    trigger_id = opt_str(args, "trigger_id")
    if trigger_id is None:
        raise missing("trigger_id")
    payload = _read_view(args)
    external_id = payload.get("external_id")
    if external_id and any(v.external_id == external_id for v in ws.views.values()):
        raise ApiError("duplicate_external_id")
    view_id = ws.ids.mint("V")
    view = View(
        id=view_id,
        type=str(payload["type"]),
        payload=payload,
        trigger_id=trigger_id,
        hash=view_hash(view_id, 1, payload),
        root_view_id=view_id,
        external_id=external_id if isinstance(external_id, str) else None,
        at=time.time(),
    )
    ws.views[view_id] = view
    return view


def _find_view(ws: Workspace, view_id: str | None, external_id: str | None) -> View:
    if view_id is None and external_id is None:
        raise missing("view_id")
    for view in ws.views.values():
        if view.id == view_id or (external_id is not None and view.external_id == external_id):
            return view
    raise ApiError("not_found")


def _read_view(args: Args) -> JsonDict:
    view = opt_json(args, "view", "invalid_arguments")
    if view is None:
        raise missing("view")
    problems = view_problems(view)
    if problems:
        raise ApiError("invalid_arguments", problems)
    return dict(view)


def view_problems(view: Any) -> list[str]:
    """Every reason Slack would refuse this modal view."""
    if not isinstance(view, dict):
        return ["must be an object [json-pointer:/view]"]
    problems: list[str] = []
    if view.get("type") != "modal":
        problems.append("must be 'modal' [json-pointer:/view/type]")
    check_text(view.get("title"), "/view/title", problems, limit=24, plain_only=True)
    for key in ("submit", "close"):
        if view.get(key) is not None:
            check_text(view[key], f"/view/{key}", problems, limit=24, plain_only=True)
    problems += block_problems(view.get("blocks"), max_blocks=MAX_VIEW_BLOCKS, pointer="/view/blocks")
    if len(str(view.get("private_metadata", ""))) > 3000:
        problems.append("must be less than 3001 characters [json-pointer:/view/private_metadata]")
    if len(str(view.get("callback_id", ""))) > 255:
        problems.append("must be less than 256 characters [json-pointer:/view/callback_id]")
    return problems
