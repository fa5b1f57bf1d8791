"""Block Kit as plain text lines, the way a person reads the message in Slack.

header → `# Title`; section text and fields (fields two per row); context → `~ a | b`; code stays in ``` fences;
buttons → `[ Bump memory ]`; selects → `[ Pick one v ]`; dividers → a rule; images → `[image: alt text]`;
rich text, markdown and input blocks as their text. Unknown block types show as `[<type>]`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .mrkdwn import Names, readable

RULE = "-" * 40
_FIELD_COLUMN = 34

Lines = list[str]


def render_blocks(blocks: list[Any], names: Names) -> Lines:
    """Every block of a message or view as text lines."""
    lines: Lines = []
    for block in blocks:
        if isinstance(block, dict):
            lines += _renderers().get(str(block.get("type")), _unknown)(block, names)
    return lines


def _renderers() -> dict[str, Callable[[dict[str, Any], Names], Lines]]:
    return {
        "header": _header,
        "section": _section,
        "context": _context,
        "actions": _actions,
        "divider": lambda _b, _n: [RULE],
        "image": _image,
        "rich_text": _rich_text,
        "markdown": lambda b, n: str(b.get("text", "")).splitlines(),
        "input": _input,
        "file": lambda b, _n: [f"[file: {b.get('external_id') or b.get('file_id') or 'remote file'}]"],
    }


def _unknown(block: dict[str, Any], names: Names) -> Lines:
    return [f"[{block.get('type')}]"]


def text_of(obj: Any, names: Names) -> str:
    """A text object's text; mrkdwn made readable, plain_text as written."""
    if isinstance(obj, str):
        return obj
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text", ""))
    return readable(text, names) if obj.get("type") == "mrkdwn" else text


def _header(block: dict[str, Any], names: Names) -> Lines:
    return [f"# {text_of(block.get('text'), names)}"]


def _section(block: dict[str, Any], names: Names) -> Lines:
    lines = text_of(block.get("text"), names).splitlines() if block.get("text") else []
    fields = [text_of(f, names) for f in block.get("fields") or []]
    for left, right in zip(fields[::2], [*fields[1::2], ""], strict=False):
        lines += _field_row(left, right)
    accessory = block.get("accessory")
    if isinstance(accessory, dict):
        shown = element_text(accessory, names)
        if lines:
            lines[-1] = f"{lines[-1]}  {shown}"
        else:
            lines = [shown]
    return lines


def _field_row(left: str, right: str) -> Lines:
    left_lines, right_lines = left.splitlines() or [""], right.splitlines() or [""]
    width = max(_FIELD_COLUMN, *(len(line) + 2 for line in left_lines))
    height = max(len(left_lines), len(right_lines))
    left_lines += [""] * (height - len(left_lines))
    right_lines += [""] * (height - len(right_lines))
    return [f"{a:<{width}}{b}".rstrip() for a, b in zip(left_lines, right_lines, strict=True)]


def _context(block: dict[str, Any], names: Names) -> Lines:
    parts = []
    for element in block.get("elements") or []:
        if isinstance(element, dict) and element.get("type") == "image":
            parts.append(f"[image: {element.get('alt_text', '')}]")
        else:
            parts.append(text_of(element, names).replace("\n", " "))
    return ["~ " + " | ".join(parts)]


def _actions(block: dict[str, Any], names: Names) -> Lines:
    return ["  ".join(element_text(e, names) for e in block.get("elements") or [] if isinstance(e, dict))]


def element_text(element: dict[str, Any], names: Names) -> str:
    """An interactive element the way it looks: `[ Label ]`, `[ Choose v ]`, `[ ... ]`, `[x] option`..."""
    kind = str(element.get("type"))
    if kind == "button":
        return f"[ {text_of(element.get('text'), names)} ]"
    if kind == "overflow":
        return "[ ... ]"
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind in ("checkboxes", "radio_buttons"):
        return _choices(element, names)
    if kind == "plain_text_input":
        return f"[ {element.get('initial_value') or text_of(element.get('placeholder'), names) or '...'} ]"
    shown = _initial_choice(element, names) or text_of(element.get("placeholder"), names) or kind
    return f"[ {shown} v ]"


def _initial_choice(element: dict[str, Any], names: Names) -> str:
    option = element.get("initial_option")
    if isinstance(option, dict):
        return text_of(option.get("text"), names)
    for key in ("initial_date", "initial_time", "initial_user", "initial_channel", "initial_conversation"):
        if element.get(key):
            return str(element[key])
    return ""


def _choices(element: dict[str, Any], names: Names) -> str:
    chosen = element.get("initial_options") or [element.get("initial_option")]
    chosen_values = {o.get("value") for o in chosen if isinstance(o, dict)}
    box = ("[x]", "[ ]") if element.get("type") == "checkboxes" else ("(o)", "( )")
    options = [o for o in element.get("options") or [] if isinstance(o, dict)]
    shown = [
        f"{box[0] if o.get('value') in chosen_values else box[1]} {text_of(o.get('text'), names)}" for o in options
    ]
    return "  ".join(shown)


def _image(block: dict[str, Any], names: Names) -> Lines:
    title = text_of(block.get("title"), names)
    return [f"[image: {block.get('alt_text', '')}]" + (f" {title}" if title else "")]


def _input(block: dict[str, Any], names: Names) -> Lines:
    element = block.get("element")
    shown = element_text(element, names) if isinstance(element, dict) else ""
    optional = " (optional)" if block.get("optional") else ""
    return [f"{text_of(block.get('label'), names)}{optional}: {shown}"]


def _rich_text(block: dict[str, Any], names: Names) -> Lines:
    lines: Lines = []
    for element in block.get("elements") or []:
        if isinstance(element, dict):
            lines += _rich_element(element, names)
    return lines


def _rich_element(element: dict[str, Any], names: Names) -> Lines:
    kind = element.get("type")
    text = "".join(_rich_leaf(leaf, names) for leaf in element.get("elements") or [] if isinstance(leaf, dict))
    if kind == "rich_text_preformatted":
        return ["```", *text.splitlines(), "```"]
    if kind == "rich_text_quote":
        return [f"> {line}" for line in text.splitlines()]
    if kind == "rich_text_list":
        items = [_rich_element(item, names) for item in element.get("elements") or [] if isinstance(item, dict)]
        ordered = element.get("style") == "ordered"
        return [f"{f'{i}.' if ordered else '-'} {' '.join(item)}" for i, item in enumerate(items, 1)]
    return text.splitlines()


def _rich_leaf(leaf: dict[str, Any], names: Names) -> str:
    kind = leaf.get("type")
    if kind == "text":
        return str(leaf.get("text", ""))
    if kind == "link":
        url = str(leaf.get("url", ""))
        return f"{leaf['text']} ({url})" if leaf.get("text") else url
    if kind == "user":
        return "@" + names.users.get(str(leaf.get("user_id")), str(leaf.get("user_id")))
    if kind == "usergroup":
        return "@" + names.groups.get(str(leaf.get("usergroup_id")), str(leaf.get("usergroup_id")))
    if kind == "channel":
        return "#" + names.channels.get(str(leaf.get("channel_id")), str(leaf.get("channel_id")))
    if kind == "broadcast":
        return "@" + str(leaf.get("range", "channel"))
    if kind == "emoji":
        return f":{leaf.get('name')}:"
    return ""
