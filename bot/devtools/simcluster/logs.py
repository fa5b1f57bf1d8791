"""Container log text: scenario log templates rendered with real timestamps, then `tailLines`/`limitBytes`.

Scenario logs are written as templates. `{pod}`, `{namespace}`, `{container}`, `{node}`, `{pod_ip}`, `{image}`
are replaced by the pod's values, and `{t+1.25}` by the time 1.25 s after the container instance started, in
one of the formats apps actually print: `{t+1.25}` RFC 3339 with milliseconds, `{t+1.25:go}` Go's log
package, `{t+1.25:py}` Python logging, `{t+1.25:java}` Logback, `{t+1.25:klog}` klog's `I1125 14:37:01.512345`,
`{t+1.25:epoch}` Unix seconds, `{t+1.25:s}` RFC 3339 to the second. Everything else (JSON braces included) is
left as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from .clock import rfc3339_nano

_VARS = re.compile(r"\{(pod|namespace|container|node|pod_ip|image|uid)\}")
_TIME = re.compile(r"\{t\+(\d+(?:\.\d+)?)(?::(\w+))?\}")


def _format_time(ts: float, style: str | None) -> str:
    moment = datetime.fromtimestamp(ts, UTC)
    millis = f"{moment.microsecond // 1000:03d}"
    if style == "go":
        return moment.strftime("%Y/%m/%d %H:%M:%S")
    if style == "py":
        return moment.strftime("%Y-%m-%d %H:%M:%S") + f",{millis}"
    if style == "java":
        return moment.strftime("%Y-%m-%d %H:%M:%S") + f".{millis}"
    if style == "klog":
        return moment.strftime("%m%d %H:%M:%S") + f".{moment.microsecond:06d}"
    if style == "epoch":
        return f"{ts:.3f}"
    if style == "s":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis}Z"


def render(template: str, started: float, values: Mapping[str, str], timestamps: bool = False) -> list[str]:
    """The log lines of one container instance that started at `started`."""
    lines = []
    moment = started
    for raw in template.splitlines():
        found = _TIME.search(raw)
        if found:
            moment = started + float(found.group(1))
        line = _TIME.sub(lambda m: _format_time(started + float(m.group(1)), m.group(2)), raw)
        line = _VARS.sub(lambda m: values.get(m.group(1), m.group(0)), line)
        lines.append(f"{rfc3339_nano(moment)} {line}" if timestamps else line)
    return lines


def select(lines: list[str], tail_lines: int | None, limit_bytes: int | None) -> str:
    """The response body: the last `tail_lines` lines, then at most `limit_bytes` bytes of them."""
    if tail_lines is not None:
        lines = lines[-tail_lines:] if tail_lines > 0 else []
    text = "".join(f"{line}\n" for line in lines)
    if limit_bytes is not None:
        text = text.encode()[:limit_bytes].decode(errors="ignore")
    return text


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace `{pod}`-style placeholders (not times) in an event message or waiting message."""
    return _VARS.sub(lambda m: values.get(m.group(1), m.group(0)), template)
