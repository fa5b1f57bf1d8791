"""How each request to the API server proves who sends it: the Authorization header, and the client certificate.

Kept apart from the transport so each way a kubeconfig authenticates is one small class: a fixed token or
username/password, a token file re-read as it rotates (in-cluster service-account tokens are rotated by the
kubelet), an exec plugin's answer (cached until it expires, dropped on 401), or — for what only the `kubernetes`
package reads — its own refreshing `Configuration` (`bot.kube.fallback`).
"""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from bot.kube.exec_credential import ExecCredentials, ExecResult
from bot.kube.kubeconfig import ClusterAccess, read_token_file

TOKEN_FILE_REREAD_SECONDS = 60.0  # the kubernetes package's in-cluster loader re-reads every minute, as client-go


class Auth(Protocol):
    """Credentials for one connection."""

    def current(self) -> Credentials:
        """What the next request sends (asked once per request)."""

    def refused(self) -> bool:
        """The API server answered 401: drop what is cached; True when retrying once may succeed."""


@dataclass(frozen=True)
class Credentials:
    """The Authorization header value (None: send none), and a client certificate and key (PEM) that can change
    (an exec plugin's; None: the kubeconfig's own, if any)."""

    header: str | None = field(default=None, repr=False)
    client_cert: tuple[bytes, bytes] | None = field(default=None, repr=False)


class StaticAuth:
    """A fixed bearer token, a username/password, or no Authorization header at all."""

    def __init__(self, value: str | None) -> None:
        self._credentials = Credentials(value)

    def current(self) -> Credentials:
        return self._credentials

    def refused(self) -> bool:
        return False


class TokenFileAuth:
    """A bearer token read from a file, re-read at least every minute and after a 401."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._token = read_token_file(path)
        self._read_at = time.monotonic()

    def current(self) -> Credentials:
        with self._lock:
            if time.monotonic() - self._read_at >= TOKEN_FILE_REREAD_SECONDS:
                self._token, self._read_at = read_token_file(self._path), time.monotonic()
            return Credentials(f"Bearer {self._token}")

    def refused(self) -> bool:
        with self._lock:
            fresh = read_token_file(self._path)
            changed, self._token, self._read_at = fresh != self._token, fresh, time.monotonic()
            return changed


class ExecAuth:
    """An exec plugin's token or client certificate."""

    def __init__(self, credentials: ExecCredentials) -> None:
        self._credentials = credentials
        self._last: ExecResult | None = None

    def current(self) -> Credentials:
        self._last = result = self._credentials.current()
        if result.token:
            return Credentials(f"Bearer {result.token}")
        if result.client_cert_pem and result.client_key_pem:
            return Credentials(client_cert=(result.client_cert_pem, result.client_key_pem))
        return Credentials()

    def refused(self) -> bool:
        if self._last is not None:
            self._credentials.invalidate(self._last)
        return True


def auth_for(access: ClusterAccess) -> Auth:
    """The Auth a kubeconfig context's user calls for."""
    if access.token:
        return StaticAuth(f"Bearer {access.token}")
    if access.token_file:
        return TokenFileAuth(access.token_file)
    if access.exec_plugin is not None:
        return ExecAuth(ExecCredentials(access.exec_plugin))
    if access.basic:
        user, password = access.basic
        return StaticAuth("Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii"))
    return StaticAuth(None)
