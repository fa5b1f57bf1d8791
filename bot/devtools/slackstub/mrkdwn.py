"""Slack's message markup made readable: `<@U123>` → `@alice`, `<!channel>` → `@channel`, `<url|label>` →
`label (url)`, `&lt;` → `<`. Formatting marks (`*bold*`, `_italic_`, ``` code ```) are kept as a person types them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_ENTITY = re.compile(r"<([^<>\n]+)>")
_CODE_BLOCK = re.compile(r"```(.*?)```", re.DOTALL)
_SPECIAL = {"channel": "@channel", "here": "@here", "everyone": "@everyone"}


@dataclass(frozen=True)
class Names:
    """How to name IDs when rendering: users, channels and user groups (handles)."""

    users: Mapping[str, str] = field(default_factory=dict)
    channels: Mapping[str, str] = field(default_factory=dict)
    groups: Mapping[str, str] = field(default_factory=dict)


def readable(text: str, names: Names) -> str:
    """A mrkdwn string as a person reads it in Slack (code blocks fenced on lines of their own)."""
    return unescape(_fence_code(_ENTITY.sub(lambda m: _entity(m.group(1), names), text)))


def _fence_code(text: str) -> str:
    """Slack shows ```code``` as a block even when the fences share lines with the code or the text around it."""
    parts: list[str] = []
    position = 0
    for match in _CODE_BLOCK.finditer(text):
        before = text[position : match.start()].strip("\n").rstrip()
        before = before.lstrip(" ") if position else before
        if before.strip():
            parts.append(before)
        parts.append("```\n" + match.group(1).strip("\n") + "\n```")
        position = match.end()
    after = text[position:].strip("\n").strip(" ")
    if after.strip():
        parts.append(after)
    return "\n".join(parts) if position else text


def unescape(text: str) -> str:
    """Undo Slack's three HTML escapes."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _entity(inner: str, names: Names) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return "@" + (label or names.users.get(target[1:], target[1:]))
    if target.startswith("#"):
        return "#" + (label or names.channels.get(target[1:], target[1:]))
    if target.startswith("!"):
        return _special(target[1:], label, names)
    if target.startswith("mailto:"):
        return label or target.removeprefix("mailto:")
    return f"{label} ({target})" if label and label != target else target


def _special(command: str, label: str, names: Names) -> str:
    if command.startswith("subteam^"):
        group = command.removeprefix("subteam^")
        return label if label.startswith("@") else "@" + (label or names.groups.get(group, group))
    if command.startswith("date^"):
        return label or command
    return _SPECIAL.get(command, label or "@" + command)
