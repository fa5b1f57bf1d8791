"""HTTP(S) to one API server: TLS as the kubeconfig says, credentials on every request, a connect and a read
timeout on every call, kept-alive connections, and the answer's status checked.

Why not the `kubernetes` package's `ApiClient`, nor urllib3 under it: a read-only `crashloop triage` must stay
within 5× `kubectl describe pod` (issue 11), and importing the package is ≈ 0.3 s, urllib3 alone ≈ 40 ms more than
the standard library's `http.client` and `ssl`, which this module is built on (bench/README.md, "CLI start-up").
What the bot sends is a handful of REST calls with JSON bodies, so what is needed here is small: a per-server pool
of keep-alive connections (an idle one the server has closed is dropped before reuse, as urllib3 does), TLS with
the cluster's CA, SNI name and client certificate, and an HTTP proxy (CONNECT for https servers).

A non-2xx answer raises `ApiStatusError` with the body (the apiserver's `Status`); a connection failure raises the
`OSError` the socket raised (`ConnectionRefusedError`, `socket.gaierror`, `ssl.SSLError`, `TimeoutError`…) or an
`http.client.HTTPException`, which `bot.kube.client` turns into `KubeError`. A 401 makes the credentials drop what
they cached (an exec plugin's expired token, a rotated token file) and, when that can help, the call is sent once
more. A GET that fails because a reused connection was closed under it is sent once more on a fresh one; a write
is never re-sent (the guard settles a lost answer by re-reading, bot/guard/inplace.py).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import select
import ssl
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from bot.kube.auth import Auth, auth_for
from bot.kube.kubeconfig import ClusterAccess, KubeconfigError

Query = Sequence[tuple[str, Any]]
_RETRY_ON_REUSED = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


class ApiStatusError(Exception):
    """The API server answered with a non-2xx status; `body` is what it sent (usually a JSON `Status`)."""

    def __init__(self, status: int, reason: str, body: bytes) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.body = body


@dataclass(frozen=True)
class Response:
    """An answer, its body read in full."""

    status: int
    reason: str
    data: bytes = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class _Target:
    """Where connections go: the server (scheme, host, port, path prefix) and the proxy in front of it."""

    scheme: str
    host: str
    port: int
    prefix: str
    proxy_host: str | None = None
    proxy_port: int | None = None
    proxy_auth: str | None = field(default=None, repr=False)


class Connection:
    """Keep-alive connections to one API server with one set of credentials; safe to share between threads."""

    def __init__(self, access: ClusterAccess, *, pool_size: int = 32, auth: Auth | None = None) -> None:
        self.access = access
        self.host = access.server
        self._target = _target(access)
        self._auth = auth if auth is not None else auth_for(access)
        self._lock = threading.Lock()
        self._pool = _Pool(pool_size)
        self._context: ssl.SSLContext | None = None
        self._context_cert: tuple[bytes, bytes] | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        timeout: tuple[float, float] = (3.0, 5.0),
    ) -> Response:
        """Send one call to `path` (its parameters already quoted); the answer (2xx), else ApiStatusError."""
        target = self._target.prefix + path
        if query:
            target += "?" + urlencode([(k, _query_value(v)) for k, v in query])
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            response = self._send(method, target, headers or {}, data, timeout)
            if response.status == 401 and attempt == 1 and self._auth.refused():
                continue
            if not 200 <= response.status <= 299:
                raise ApiStatusError(response.status, response.reason, response.data)
            return response
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _send(
        self, method: str, target: str, headers: Mapping[str, str], data: bytes | None, timeout: tuple[float, float]
    ) -> Response:
        sent = {"Accept": "application/json", "User-Agent": "crashloop-bot", **headers}
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        credentials = self._auth.current()
        if credentials.header:
            sent["Authorization"] = credentials.header
        t = self._target
        if t.proxy_host and t.scheme == "http":  # plain HTTP through a proxy: the absolute URL, the proxy's credentials
            target = f"http://{_host_port(t.host, t.port)}{target}"
            if t.proxy_auth:
                sent["Proxy-Authorization"] = t.proxy_auth
        new = self._new_connection_factory(timeout[0], credentials.client_cert)
        conn, reused = self._pool.get(new)
        try:
            return self._exchange(conn, method, target, sent, data, timeout)
        except _RETRY_ON_REUSED:
            conn.close()
            if not (reused and method == "GET"):
                raise
        except BaseException:
            conn.close()
            raise
        conn, _ = self._pool.get(new, fresh=True)
        try:
            return self._exchange(conn, method, target, sent, data, timeout)
        except BaseException:
            conn.close()
            raise

    def _exchange(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        target: str,
        headers: Mapping[str, str],
        data: bytes | None,
        timeout: tuple[float, float],
    ) -> Response:
        if conn.sock is None:
            conn.timeout = timeout[0]
            conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(timeout[1])
        conn.request(method, target, body=data, headers=dict(headers))
        answer = conn.getresponse()
        try:
            body = answer.read()
        except BaseException:
            conn.close()
            raise
        response = Response(answer.status, answer.reason or "", body, dict(answer.getheaders()))
        if answer.will_close:
            conn.close()
        else:
            self._pool.put(conn)
        return response

    def _new_connection_factory(
        self, connect_timeout: float, cert: tuple[bytes, bytes] | None
    ) -> Callable[[], http.client.HTTPConnection]:
        t = self._target
        host, port = (t.proxy_host, t.proxy_port or 0) if t.proxy_host else (t.host, t.port)
        if t.scheme != "https":
            return lambda: http.client.HTTPConnection(host, port, timeout=connect_timeout)
        context = self._ssl_context(cert)
        sni = self.access.tls_server_name or (t.host if t.proxy_host else None)  # through a tunnel: the server's name
        tunnel = {"Proxy-Authorization": t.proxy_auth} if t.proxy_auth else {}

        def https() -> http.client.HTTPConnection:
            conn = _HTTPSConnection(host, port, timeout=connect_timeout, context=context, server_hostname=sni)
            if t.proxy_host:
                conn.set_tunnel(t.host, t.port, headers=tunnel)
            return conn

        return https

    def _ssl_context(self, cert: tuple[bytes, bytes] | None) -> ssl.SSLContext:
        """The TLS context, rebuilt (and the idle connections dropped) when an exec plugin hands out a new cert."""
        with self._lock:
            if self._context is None or cert != self._context_cert:
                if self._context is not None:
                    self._pool.clear()
                self._context, self._context_cert = ssl_context(self.access, cert), cert
            return self._context

    def close(self) -> None:
        self._pool.clear()


class _HTTPSConnection(http.client.HTTPSConnection):
    """HTTPS whose certificate is checked against `server_hostname` when set (kubeconfig `tls-server-name`, or
    the API server's own name when connecting to a proxy), else against the host connected to."""

    def __init__(
        self, host: str, port: int, *, timeout: float, context: ssl.SSLContext, server_hostname: str | None
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._tls_context = context
        self._server_hostname = server_hostname

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)  # TCP, and the proxy's CONNECT tunnel when there is one
        name = self._server_hostname or self.host
        self.sock = self._tls_context.wrap_socket(self.sock, server_hostname=name)


class _Pool:
    """Idle keep-alive connections, most recently used first."""

    def __init__(self, size: int) -> None:
        self._size = max(1, size)
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def get(
        self, new: Callable[[], http.client.HTTPConnection], *, fresh: bool = False
    ) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection still open (reused: True), else a new one."""
        while not fresh:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                break
            if not _dropped(conn):
                return conn, True
            conn.close()
        return new(), False

    def put(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._size:
                self._idle.append(conn)
                return
        conn.close()

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle connection was closed by the server (readable while idle means EOF, or junk)."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _target(access: ClusterAccess) -> _Target:
    parts = urlsplit(access.server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise KubeconfigError(f"server {access.server!r} is not an http(s) URL")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise KubeconfigError(f"server {access.server!r}: {exc}") from exc
    target = _Target(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))
    if not access.proxy_url:
        return target
    proxy = urlsplit(access.proxy_url)
    if proxy.scheme != "http" or not proxy.hostname:
        raise KubeconfigError(
            f"proxy-url {access.proxy_url!r}: only http:// proxies are supported (CONNECT for https servers)"
        )
    auth = None
    if proxy.username is not None:
        pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}"
        auth = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return _Target(parts.scheme, parts.hostname, port, target.prefix, proxy.hostname, proxy.port or 80, auth)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def ssl_context(access: ClusterAccess, cert: tuple[bytes, bytes] | None = None) -> ssl.SSLContext:
    """TLS for the cluster: its CA (else the system's), hostname checking, the client certificate if any."""
    if not access.verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif access.ca_pem:
        try:
            context = ssl.create_default_context(cadata=_pem_text(access.ca_pem, "certificate-authority"))
        except ssl.SSLError as exc:
            raise KubeconfigError(f"the certificate-authority cannot be used: {exc.reason or exc}") from exc
    else:
        context = ssl.create_default_context()
    client = cert or (
        (access.client_cert_pem, access.client_key_pem) if access.client_cert_pem and access.client_key_pem else None
    )
    if client is not None:
        _load_client_cert(context, *client)
    return context


def _pem_text(pem: bytes, what: str) -> str:
    try:
        return pem.decode("ascii")
    except UnicodeDecodeError as exc:
        raise KubeconfigError(f"{what} is not PEM text") from exc


def _load_client_cert(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """Load a PEM certificate and key held in memory (ssl only reads files: a private directory, removed at once)."""
    import tempfile  # only for client certificates: ≈ 3 ms of start-up otherwise

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
