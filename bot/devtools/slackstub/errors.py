"""The one way a Web API method refuses a call: an `ApiError` carrying Slack's error code.

Method handlers raise it; the HTTP layer turns it into Slack's `{"ok": false, "error": ...}` body with HTTP 200,
adding `response_metadata.messages` the way Slack explains argument and Block Kit errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ApiError(Exception):
    """A Slack Web API error code (`channel_not_found`, `invalid_blocks`, ...) with optional explanations."""

    def __init__(self, error: str, messages: Sequence[str] = ()) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)

    def body(self) -> dict[str, Any]:
        """The JSON body Slack answers with for this error."""
        body: dict[str, Any] = {"ok": False, "error": self.error}
        if self.messages:
            if self.error in ("invalid_blocks", "invalid_blocks_format"):
                body["errors"] = list(self.messages)
            body["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in self.messages]}
        return body


def missing(field: str, error: str = "invalid_arguments") -> ApiError:
    """The error for a required argument that was not sent."""
    return ApiError(error, [f"missing required field: {field}"])
