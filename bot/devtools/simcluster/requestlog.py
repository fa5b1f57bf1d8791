"""The record of every API request the sim answered, so tests can assert what reached the API.

Each entry has the method, path, query, content type, parsed body and response status, plus the verb and
resource as RBAC would name them. Reading returns a snapshot; the log is safe to read from any thread.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any
    status: int
    verb: str = ""
    resource: str = ""
    namespace: str | None = None
    name: str | None = None
    at: float = field(default=0.0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_logged_body(raw: bytes) -> Any:
    """JSON bodies parsed, anything else as text, no body as None."""
    if not raw:
        return None
    text = raw.decode(errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[RecordedRequest] = []

    def append(self, entry: RecordedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
