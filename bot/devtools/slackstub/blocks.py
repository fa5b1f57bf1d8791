"""Block Kit validation with Slack's limits, so a message Slack would refuse is refused here too.

Checks the structure and the documented limits that bots hit in practice (50 blocks per message, 100 per view,
3000 characters of section text, 10 fields of 2000, header 150, button text 75, unique block_ids...). Each problem is
reported like Slack's `response_metadata.messages`: "<what is wrong> [json-pointer:/blocks/0/text/text]".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Problems = list[str]
_Checker = Callable[[dict[str, Any], str, Problems], None]

_TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
_PASSTHROUGH_BLOCKS = frozenset({"divider", "file", "video", "call", "table", "context_actions", "rich_text"})


def block_problems(blocks: Any, *, max_blocks: int, pointer: str = "/blocks") -> Problems:
    """Every reason Slack would reject these blocks (empty when they are valid)."""
    if not isinstance(blocks, list):
        return [f"must provide an array [json-pointer:{pointer}]"]
    problems: Problems = []
    if len(blocks) > max_blocks:
        problems.append(f"no more than {max_blocks} items allowed [json-pointer:{pointer}]")
    seen_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"{pointer}/{index}"
        if not isinstance(block, dict):
            problems.append(f"must be an object [json-pointer:{where}]")
            continue
        _check_block_id(block, where, seen_ids, problems)
        _check_block(block, where, problems)
    return problems


def _check_block_id(block: dict[str, Any], where: str, seen: set[str], problems: Problems) -> None:
    block_id = block.get("block_id")
    if block_id is None:
        return
    if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
        problems.append(f"must be a string of 1 to 255 characters [json-pointer:{where}/block_id]")
    elif block_id in seen:
        problems.append(f"duplicate block_id {block_id!r} [json-pointer:{where}/block_id]")
    else:
        seen.add(block_id)


def _check_block(block: dict[str, Any], where: str, problems: Problems) -> None:
    kind = block.get("type")
    checker = _checkers().get(str(kind))
    if checker is not None:
        checker(block, where, problems)
    elif kind not in _PASSTHROUGH_BLOCKS:
        problems.append(f"unsupported block type {kind!r} [json-pointer:{where}/type]")


def _checkers() -> dict[str, _Checker]:
    return {
        "section": _check_section,
        "header": _check_header,
        "context": _check_context,
        "actions": _check_actions,
        "image": _check_image,
        "input": _check_input,
        "markdown": _check_markdown,
    }


def check_text(obj: Any, where: str, problems: Problems, *, limit: int, plain_only: bool = False) -> None:
    """A composition text object: `{"type": "plain_text"|"mrkdwn", "text": "..."}` within `limit` characters."""
    if not isinstance(obj, dict) or obj.get("type") not in _TEXT_TYPES:
        problems.append(f"must be a text object (plain_text or mrkdwn) [json-pointer:{where}]")
        return
    if plain_only and obj.get("type") != "plain_text":
        problems.append(f"must be plain_text [json-pointer:{where}/type]")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        problems.append(f"must be more than 0 characters [json-pointer:{where}/text]")
    elif len(text) > limit:
        problems.append(f"must be less than {limit + 1} characters [json-pointer:{where}/text]")


def _check_section(block: dict[str, Any], where: str, problems: Problems) -> None:
    text, fields = block.get("text"), block.get("fields")
    if text is None and fields is None:
        problems.append(f"must provide either text or fields [json-pointer:{where}]")
    if text is not None:
        check_text(text, f"{where}/text", problems, limit=3000)
    if fields is not None:
        if not isinstance(fields, list) or not fields or len(fields) > 10:
            problems.append(f"must provide 1 to 10 fields [json-pointer:{where}/fields]")
        else:
            for i, field in enumerate(fields):
                check_text(field, f"{where}/fields/{i}", problems, limit=2000)
    if block.get("accessory") is not None:
        check_element(block["accessory"], f"{where}/accessory", problems)


def _check_header(block: dict[str, Any], where: str, problems: Problems) -> None:
    check_text(block.get("text"), f"{where}/text", problems, limit=150, plain_only=True)


def _check_context(block: dict[str, Any], where: str, problems: Problems) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 0 < len(elements) <= 10:
        problems.append(f"must provide 1 to 10 elements [json-pointer:{where}/elements]")
        return
    for i, element in enumerate(elements):
        if isinstance(element, dict) and element.get("type") == "image":
            _check_alt_text(element, f"{where}/elements/{i}", problems)
        else:
            check_text(element, f"{where}/elements/{i}", problems, limit=3000)


def _check_actions(block: dict[str, Any], where: str, problems: Problems) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 0 < len(elements) <= 25:
        problems.append(f"must provide 1 to 25 elements [json-pointer:{where}/elements]")
        return
    action_ids: set[str] = set()
    for i, element in enumerate(elements):
        check_element(element, f"{where}/elements/{i}", problems)
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if isinstance(action_id, str) and action_id in action_ids:
            problems.append(f"duplicate action_id {action_id!r} [json-pointer:{where}/elements/{i}/action_id]")
        elif isinstance(action_id, str):
            action_ids.add(action_id)


def _check_image(block: dict[str, Any], where: str, problems: Problems) -> None:
    if not block.get("image_url") and not block.get("slack_file"):
        problems.append(f"must provide image_url or slack_file [json-pointer:{where}]")
    _check_alt_text(block, where, problems)
    if block.get("title") is not None:
        check_text(block["title"], f"{where}/title", problems, limit=2000, plain_only=True)


def _check_alt_text(obj: dict[str, Any], where: str, problems: Problems) -> None:
    alt = obj.get("alt_text")
    if not isinstance(alt, str) or not alt or len(alt) > 2000:
        problems.append(f"must provide alt_text of 1 to 2000 characters [json-pointer:{where}/alt_text]")


def _check_input(block: dict[str, Any], where: str, problems: Problems) -> None:
    check_text(block.get("label"), f"{where}/label", problems, limit=2000, plain_only=True)
    if not isinstance(block.get("element"), dict):
        problems.append(f"must provide an element [json-pointer:{where}/element]")
    else:
        check_element(block["element"], f"{where}/element", problems)


def _check_markdown(block: dict[str, Any], where: str, problems: Problems) -> None:
    text = block.get("text")
    if not isinstance(text, str) or not text:
        problems.append(f"must be more than 0 characters [json-pointer:{where}/text]")
    elif len(text) > 12000:
        problems.append(f"must be less than 12001 characters [json-pointer:{where}/text]")


def check_element(element: Any, where: str, problems: Problems) -> None:
    """An interactive or image element (button, selects, overflow, image...)."""
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        problems.append(f"must be an element object with a type [json-pointer:{where}]")
        return
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or not 0 < len(action_id) <= 255):
        problems.append(f"must be a string of 1 to 255 characters [json-pointer:{where}/action_id]")
    if element["type"] == "button":
        _check_button(element, where, problems)
    elif element["type"] == "image":
        _check_alt_text(element, where, problems)


def _check_button(element: dict[str, Any], where: str, problems: Problems) -> None:
    check_text(element.get("text"), f"{where}/text", problems, limit=75, plain_only=True)
    value = element.get("value")
    if value is not None and (not isinstance(value, str) or len(value) > 2000):
        problems.append(f"must be a string of at most 2000 characters [json-pointer:{where}/value]")
    url = element.get("url")
    if url is not None and (not isinstance(url, str) or len(url) > 3000):
        problems.append(f"must be a string of at most 3000 characters [json-pointer:{where}/url]")
    style = element.get("style")
    if style is not None and style not in ("primary", "danger"):
        problems.append(f"must be one of primary, danger [json-pointer:{where}/style]")
