"""Alertmanager's v2 HTTP API, the calls a silence needs: create, read back, find, expire, and the alerts it matches.

aiohttp (already the bot's HTTP stack), one short-lived session per operation (a silence is a rare, human-paced
action; nothing is held open between them), a total timeout on every call, and optional auth — a bearer token
or basic auth — read from the environment or a mounted file (`bot.core.settings`), never from crashloop.yaml.
Every failure is an `AlertmanagerError` saying what was tried and what came back (connection refused, a
timeout, an HTTP status and Alertmanager's own message), so the guard can tell the thread and audit it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bot.alertmanager.matchers import Matcher
from bot.core.redact import redact

MAX_ERROR_CHARS = 300


class AlertmanagerError(Exception):
    """A call Alertmanager did not answer as expected; `status` is the HTTP status (None: no answer at all).

    `sent` is whether the request may have reached Alertmanager (a timeout, a connection lost mid-call): then a
    POST may have been carried out although no answer came back. A refused connection was never sent.
    """

    def __init__(self, what: str, status: int | None, message: str, *, sent: bool = True) -> None:
        super().__init__(f"Alertmanager could not {what}: {message}")
        self.what, self.status, self.message, self.sent = what, status, message, sent


@dataclass(frozen=True)
class Auth:
    """How the bot authenticates to Alertmanager (both None: no auth)."""

    bearer_token: str | None = field(default=None, repr=False)
    basic: tuple[str, str] | None = field(default=None, repr=False)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer_token}"} if self.bearer_token else {}

    def basic_auth(self) -> aiohttp.BasicAuth | None:
        return aiohttp.BasicAuth(*self.basic) if self.basic else None


@dataclass(frozen=True)
class Silence:
    """A silence as Alertmanager reports it."""

    id: str
    state: str  # active | pending | expired
    matchers: tuple[dict[str, Any], ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str


@dataclass(frozen=True)
class AlertState:
    """One alert Alertmanager holds, and whether a silence suppresses it."""

    labels: dict[str, str]
    state: str  # active | suppressed | unprocessed
    silenced_by: tuple[str, ...]


class AlertmanagerClient:
    """One Alertmanager (an environment's `alertmanager_url`)."""

    def __init__(self, url: str, *, auth: Auth | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.auth = auth or Auth()
        self.timeout = timeout

    async def create_silence(
        self, matchers: Sequence[Matcher], *, starts_at: datetime, ends_at: datetime, created_by: str, comment: str
    ) -> str:
        """POST /api/v2/silences: the new silence's id."""
        body = {
            "matchers": [m.api() for m in matchers],
            "startsAt": _iso(starts_at),
            "endsAt": _iso(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        answer = await self._call("POST", "/api/v2/silences", "create the silence", json=body)
        silence_id = answer.get("silenceID") if isinstance(answer, dict) else None
        if not silence_id:
            raise AlertmanagerError("create the silence", 200, f"the answer carried no silenceID: {answer!r}"[:200])
        return str(silence_id)

    async def silence(self, silence_id: str) -> Silence:
        """GET /api/v2/silence/{id}."""
        what = f"read silence {silence_id}"
        return _silence(await self._call("GET", f"/api/v2/silence/{_checked_id(silence_id)}", what), what)

    async def silences(self, matchers: Sequence[Matcher]) -> list[Silence]:
        """GET /api/v2/silences?filter=…: the silences (any state) whose matchers the filter selects; only the
        equality matchers are sent as the filter (Alertmanager compares a filter with a silence's matcher
        values), the caller compares the whole set."""
        what = "list the silences"
        params = [("filter", m.text()) for m in matchers if not m.is_regex]
        answer = await self._call("GET", "/api/v2/silences", what, params=params)
        if not isinstance(answer, list):
            raise AlertmanagerError(what, 200, "the answer is not a list of silences")
        return [_silence(item, what) for item in answer]

    async def expire(self, silence_id: str) -> None:
        """DELETE /api/v2/silence/{id}: the silence ends now (Alertmanager keeps it, expired)."""
        await self._call("DELETE", f"/api/v2/silence/{_checked_id(silence_id)}", f"expire silence {silence_id}")

    async def alerts(self, matchers: Sequence[Matcher]) -> list[AlertState]:
        """GET /api/v2/alerts?filter=…: the alerts the matchers select, silenced or not."""
        params = [("filter", m.text()) for m in matchers] + [
            ("active", "true"),
            ("silenced", "true"),
            ("inhibited", "true"),
        ]
        answer = await self._call("GET", "/api/v2/alerts", "list the matching alerts", params=params)
        if not isinstance(answer, list):
            raise AlertmanagerError("list the matching alerts", 200, "the answer is not a list of alerts")
        try:
            return [
                AlertState(
                    labels={str(k): str(v) for k, v in (a.get("labels") or {}).items()},
                    state=str((a.get("status") or {}).get("state", "")),
                    silenced_by=tuple(str(i) for i in (a.get("status") or {}).get("silencedBy") or ()),
                )
                for a in answer
            ]
        except (AttributeError, TypeError, ValueError) as exc:
            raise AlertmanagerError("list the matching alerts", 200, f"unexpected answer ({exc})") from exc

    async def _call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout, headers=self.auth.headers()) as session,
                session.request(method, self.url + path, auth=self.auth.basic_auth(), **kwargs) as response,
            ):
                body = await response.read()
                text = body.decode("utf-8", errors="replace")
                if response.status >= 400:
                    raise AlertmanagerError(what, response.status, f"HTTP {response.status}: {_short(text)}")
                if not text.strip():
                    return None
                try:
                    return json.loads(body.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise AlertmanagerError(what, response.status, f"the answer is not UTF-8 text: {exc}") from exc
                except ValueError as exc:
                    raise AlertmanagerError(what, response.status, f"not JSON: {_short(text)}") from exc
        except aiohttp.ClientConnectorError as exc:
            why = f"cannot connect to {self.url} ({exc.os_error or exc})"
            raise AlertmanagerError(what, None, why, sent=False) from exc
        except TimeoutError as exc:
            raise AlertmanagerError(what, None, f"no answer from {self.url} within {self.timeout:g}s") from exc
        except aiohttp.ClientError as exc:
            raise AlertmanagerError(what, None, f"{type(exc).__name__}: {exc}") from exc


def _silence(answer: Any, what: str) -> Silence:
    """A silence from the API's `gettableSilence`; AlertmanagerError for any other shape."""
    try:
        matchers = answer["matchers"]
        if not isinstance(matchers, list) or not all(isinstance(m, dict) for m in matchers):
            raise TypeError("matchers is not a list of objects")
        return Silence(
            id=str(answer["id"]),
            state=str(answer["status"]["state"]),
            matchers=tuple(matchers),
            starts_at=_parse_time(answer["startsAt"]),
            ends_at=_parse_time(answer["endsAt"]),
            created_by=str(answer.get("createdBy", "")),
            comment=str(answer.get("comment", "")),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise AlertmanagerError(what, 200, f"unexpected answer ({type(exc).__name__}: {exc})") from exc


def _checked_id(silence_id: str) -> str:
    """A silence id as Alertmanager makes them (a UUID): nothing else reaches a URL path."""
    try:
        return str(uuid.UUID(silence_id))
    except ValueError:
        why = "not a silence id (a UUID)"
        raise AlertmanagerError(f"use silence id {silence_id[:60]!r}", None, why, sent=False) from None


def _short(text: str) -> str:
    return redact(" ".join(text.split()))[:MAX_ERROR_CHARS] or "(empty answer)"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
