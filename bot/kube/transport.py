"""HTTP(S) to one API server over urllib3: TLS as the kubeconfig says, credentials on every request, a timeout
on every call, and the answer's status checked.

Why not the `kubernetes` package's `ApiClient`: importing it (and the package `__init__` that comes with it) is
most of a read-only triage's wall time and of the bot's idle memory (bench/cli_speed.py, bench/storm.py), while
what the bot sends is a handful of REST calls whose JSON it reads itself. urllib3 is what that `ApiClient` uses
underneath, so the wire behaviour (pooling, TLS, proxies, timeouts, errors) is the same library's.

A non-2xx answer raises `ApiStatusError` with the body (the apiserver's `Status`); connection failures, timeouts
and TLS errors are urllib3's own exceptions, which `bot.kube.client` turns into `KubeError`. A 401 makes the
credentials drop what they cached (an exec plugin's expired token, a rotated token file) and, when that can
help, the call is sent once more.
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import urllib3

from bot.kube.auth import Auth, auth_for
from bot.kube.kubeconfig import ClusterAccess, KubeconfigError

Query = Sequence[tuple[str, Any]]


class ApiStatusError(Exception):
    """The API server answered with a non-2xx status; `body` is what it sent (usually a JSON `Status`)."""

    def __init__(self, status: int, reason: str, body: bytes) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.body = body


class Connection:
    """A pooled connection to one API server with one set of credentials; safe to share between threads."""

    def __init__(self, access: ClusterAccess, *, pool_size: int = 32, auth: Auth | None = None) -> None:
        self.access = access
        self.host = access.server
        self._auth = auth if auth is not None else auth_for(access)
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._pool: urllib3.PoolManager | None = None
        self._pool_cert: tuple[bytes, bytes] | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        timeout: tuple[float, float] = (3.0, 5.0),
    ) -> urllib3.BaseHTTPResponse:
        """Send one call to `path` (its parameters already quoted); the answer (2xx), body read, else ApiStatusError."""
        url = self.host + path
        if query:
            url += "?" + urlencode([(k, _query_value(v)) for k, v in query])
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            response = self._send(method, url, headers or {}, data, timeout)
            if response.status == 401 and attempt == 1 and self._auth.refused():
                continue
            if not 200 <= response.status <= 299:
                raise ApiStatusError(response.status, response.reason or "", response.data)
            return response
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], data: bytes | None, timeout: tuple[float, float]
    ) -> urllib3.BaseHTTPResponse:
        sent = {"Accept": "application/json", "User-Agent": "crashloop-bot", **headers}
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        authorization = self._auth.header()
        if authorization:
            sent["Authorization"] = authorization
        return self._pool_manager().request(
            method,
            url,
            body=data,
            headers=sent,
            timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
            retries=False,
            redirect=False,
            preload_content=True,
        )

    def _pool_manager(self) -> urllib3.PoolManager:
        """The pool, rebuilt when an exec plugin hands out a new client certificate."""
        cert = self._auth.client_cert() if self.access.tls else None
        with self._lock:
            if self._pool is None or cert != self._pool_cert:
                if self._pool is not None:
                    self._pool.clear()
                self._pool, self._pool_cert = self._build(cert), cert
            return self._pool

    def _build(self, cert: tuple[bytes, bytes] | None) -> urllib3.PoolManager:
        kwargs: dict[str, Any] = {"maxsize": self._pool_size, "block": False}
        if self.access.tls:
            kwargs.update(tls_options(self.access, cert))
        proxy = self.access.proxy_url
        if proxy is None:
            return urllib3.PoolManager(**kwargs)
        if proxy.startswith("socks"):
            try:
                from urllib3.contrib.socks import SOCKSProxyManager
            except ImportError as exc:
                raise KubeconfigError(f"proxy-url {proxy} needs PySocks (pip install 'urllib3[socks]')") from exc
            return SOCKSProxyManager(proxy, **kwargs)
        return urllib3.ProxyManager(proxy, **kwargs)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.clear()


def tls_options(access: ClusterAccess, cert: tuple[bytes, bytes] | None) -> dict[str, Any]:
    """urllib3 pool arguments for the cluster's TLS: its CA (else the system's), SNI name, client certificate."""
    context = ssl.create_default_context()
    if not access.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif access.ca_pem:
        try:
            context = ssl.create_default_context(cadata=_pem_text(access.ca_pem, "certificate-authority"))
        except ssl.SSLError as exc:
            raise KubeconfigError(f"the certificate-authority cannot be used: {exc.reason or exc}") from exc
    client = cert or (
        (access.client_cert_pem, access.client_key_pem) if access.client_cert_pem and access.client_key_pem else None
    )
    if client is not None:
        _load_client_cert(context, *client)
    options: dict[str, Any] = {"ssl_context": context, "cert_reqs": "CERT_REQUIRED" if access.verify else "CERT_NONE"}
    if not access.verify:
        options["assert_hostname"] = False
    if access.tls_server_name:
        options["server_hostname"] = access.tls_server_name
    return options


def _pem_text(pem: bytes, what: str) -> str:
    try:
        return pem.decode("ascii")
    except UnicodeDecodeError as exc:
        raise KubeconfigError(f"{what} is not PEM text") from exc


def _load_client_cert(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """Load a PEM certificate and key held in memory (ssl only reads files: a private directory, removed at once)."""
    with tempfile.TemporaryDirectory(prefix="crashloop-tls-") as private:
        cert_path, key_path = os.path.join(private, "client.crt"), os.path.join(private, "client.key")
        for path, content in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(content)
        try:
            context.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as exc:
            raise KubeconfigError(f"the client certificate or key cannot be used: {exc.reason or exc}") from exc


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
