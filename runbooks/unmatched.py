"""When no signal matches: say so, and point at the lines most likely to matter instead of guessing a remedy.

A crash with no known signature is still read by a person; the bot's job then is to save them the scrolling:
the error-level lines of the crashed run (each distinct line once) and the last lines before it exited.
"""

from __future__ import annotations

import re

from runbooks.matching import shorten
from runbooks.model import Evidence, Reason

_ERROR_LEVEL = re.compile(
    r"\b(?:error|err|fatal|panic|exception|critical|crit|emerg|severe|failed|failure|denied|refused|cannot|"
    r"can't|unable|abort(?:ed|ing)?)\b|^[EF]\d{4} |level=(?:error|fatal)|\[(?:error|fatal|emerg|crit)\]",
    re.IGNORECASE,
)
_MAX_ERRORS = 3
_LAST = 2


def telling_lines(ev: Evidence) -> list[Reason]:
    """Reasons quoting the crashed run's error-level lines and its last lines, each distinct line once."""
    log = ev.focus_logs()
    lines = [line.strip() for line in (log.lines if log else ()) if line.strip()]
    errors = list(dict.fromkeys(line for line in lines if _ERROR_LEVEL.search(line)))[-_MAX_ERRORS:]
    reasons = [Reason("an error-level line of the crashed run", shorten(line), "logs") for line in errors]
    last = [line for line in lines[-_LAST:] if line not in errors]
    reasons.extend(Reason("one of the last lines before it exited", shorten(line), "logs") for line in last)
    return reasons
