"""Runbook branch 6 — Networking & dependencies (DB/API not reachable, DNS, NetworkPolicy).

Signals (in the logs of the crashed run):
- DNS failures: "no such host", "could not translate host name", "Name or service not known",
  "Temporary failure in name resolution", "getaddrinfo ENOTFOUND";
- connection failures: "connection refused", "ECONNREFUSED", "i/o timeout", "connection timed out",
  "No route to host", "dial tcp …".
The dependency's host and port are read from the matching line (`dial tcp db:5432`, `connection to server at "db"
(…), port 5432`, `ECONNREFUSED 10.0.0.5:6379`…); a well-known port is assumed from the client when only the host
is named (PostgreSQL 5432, MySQL 3306, Redis 6379…).

Remedy: `netcheck` — a throwaway pod that checks DNS and TCP reachability of that host:port from the namespace.
"""

from __future__ import annotations

import re

from runbooks.matching import Signal, find_last
from runbooks.model import Assessment, Branch, Evidence, Reason, Remedy, RemedyId

BRANCH = Branch.NETWORKING_DEPS
SUCCESS = "The app reaches its dependencies; no new restarts tied to timeouts."

_DNS = (
    Signal.of(
        "DNS lookup failed",
        r"no such host|could not translate host name|Name or service not known|"
        r"Temporary failure in name resolution|\bENOTFOUND\b|\bEAI_AGAIN\b|\bNXDOMAIN\b|nodename nor servname",
    ),
)
_CONNECT = (
    Signal.of("connection refused", r"connection refused|\bECONNREFUSED\b|connection to \S+ refused"),
    Signal.of("connection timed out", r"i/o timeout|connection timed out|\bETIMEDOUT\b|connect timeout"),
    Signal.of("no route to host", r"no route to host|\bEHOSTUNREACH\b|network is unreachable"),
)
_ENDPOINTS = (
    re.compile(r"dial tcp (?:\d+\.\d+\.\d+\.\d+:\d+->)?(?P<host>[\w.-]+):(?P<port>\d+)"),
    re.compile(r"dial tcp: lookup (?P<host>[\w.-]+)"),
    re.compile(r'server at "(?P<host>[\w.-]+)" \([\d.:a-f]+\), port (?P<port>\d+)'),
    re.compile(r'on host "(?P<host>[\w.-]+)".*?port (?P<port>\d+)'),
    re.compile(r'could not translate host name "(?P<host>[\w.-]+)"'),
    re.compile(r"(?:ENOTFOUND|EAI_AGAIN) (?P<host>[\w.-]+)"),
    re.compile(r"ECONNREFUSED (?P<host>[\w.-]+):(?P<port>\d+)"),
    re.compile(r"(?:connect(?:ing)? to|connection to|reach) (?P<host>[a-z][\w.-]*):(?P<port>\d{2,5})", re.I),
    # last resort: a bare host:port, not glued to a timestamp or path, and not a source position (main.go:42)
    re.compile(
        r"(?<![\w.:/-])(?P<host>[a-z][\w-]*(?:\.[\w-]+)*|\d{1,3}(?:\.\d{1,3}){3}):(?P<port>\d{2,5})\b(?!\.\d)", re.I
    ),
)
_SOURCE_FILE = re.compile(r"\.(java|go|py|js|mjs|ts|rb|rs|c|cc|cpp|h|hpp|kt|scala|cs|php|exs?|swift)$", re.I)
_DEFAULT_PORTS = {
    "postgres": 5432,
    "psycopg": 5432,
    "pq:": 5432,
    "mysql": 3306,
    "redis": 6379,
    "amqp": 5672,
    "rabbit": 5672,
    "kafka": 9092,
    "mongo": 27017,
    "elasticsearch": 9200,
}


def assess(ev: Evidence, policy: object = None) -> Assessment | None:
    lines = ev.all_log_lines()
    dns = find_last(lines, _DNS)
    conn = find_last(lines, _CONNECT)
    hit = dns or conn
    if hit is None:
        return None
    host, port = endpoint(lines, hit.line)
    target = f"{host}:{port}" if host and port else (host or "a dependency")
    reasons = [Reason(f"{hit.signal.label} reaching {target}", hit.quote, "logs")]
    if dns and conn:
        reasons.append(Reason(conn.signal.label, conn.quote, "logs"))
    remedies: tuple[Remedy, ...] = ()
    if host:
        params = {"host": host, "port": port}
        remedies = (Remedy(RemedyId.NETCHECK, f"Check DNS and TCP to {target}", params, "from the namespace"),)
    headline = f"{ev.workload.name} cannot reach {target} ({hit.signal.label})"
    next_step = (
        f"check that {target} is up and that no NetworkPolicy blocks it; "
        "consider an init container that waits for the dependency"
    )
    return Assessment(BRANCH, 0.85 if dns else 0.8, headline, tuple(reasons), remedies, next_step)


def endpoint(lines: tuple[str, ...], hit_line: str) -> tuple[str | None, int | None]:
    """Host and port of the dependency: from the matching line, the two after it (libpq wraps its message), or
    the five before it (a stack trace ends with the generic cause), nearest first."""
    index = max((i for i, line in enumerate(lines) if line.strip() == hit_line.strip()), default=0)
    after = " ".join(lines[index : index + 3])
    nearby = [after, *lines[index + 1 : index + 3], *reversed(lines[max(0, index - 5) : index])]
    for text in nearby:
        for pattern in _ENDPOINTS:
            m = pattern.search(text)
            if m and not m.group("host").isdigit() and not _SOURCE_FILE.search(m.group("host")):
                port = m.groupdict().get("port")
                return m.group("host"), int(port) if port else default_port(" ".join(nearby))
    return None, None


def default_port(text: str) -> int | None:
    """The well-known port of the client that wrote `text` (PostgreSQL 5432, Redis 6379…), if it names one."""
    lowered = text.lower()
    return next((port for hint, port in _DEFAULT_PORTS.items() if hint in lowered), None)
