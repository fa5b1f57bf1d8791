"""Netcheck pods: what the bot's throwaway DNS/TCP check prints, decided from the cluster's Services and dependencies.

A pod labelled `crashloop.dev/netcheck: "true"` runs a busybox script that looks up `CHECK_HOST` and, when
`CHECK_PORT` is set, connects to it. The sim does not run the script; each container prints what it would, from
the cluster as it is when the container starts:

    dns <host> ok <ip>          or  dns <host> fail
    tcp <host>:<port> ok        or  tcp <host>:<port> fail        (only with CHECK_PORT)

A host resolves as the cluster DNS resolves it from the pod's namespace: `<svc>` (a Service in that namespace),
`<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.cluster.local` give the Service's clusterIP (a headless Service:
the IP of a ready pod it selects; an ExternalName Service: what its external name resolves to). An IP literal
resolves to itself, and the host of a scenario dependency (`orders-db` of `orders-db:5432`) resolves to the IP the
scenario's logs print for it, else to a stable made-up one. A port is reachable when every dependency entry for
that host (under any of its names) and port is up, or, with no such entry, when the Service it resolved through
has that port.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .runtime import Output
from .store import meta

JsonObj = dict[str, Any]

NETCHECK_LABEL = "crashloop.dev/netcheck"
DNS_AT = 0.1  # seconds into the run when the lookup's line is printed (the TCP line comes as the run ends)
MISSING_HOST = "sh: CHECK_HOST: parameter not set or null"  # busybox ash on `${CHECK_HOST:?}`
_CLUSTER_DOMAIN = ("svc", "cluster", "local")
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"


@dataclass(frozen=True)
class Network:
    """What a lookup or connection from inside the cluster can find, as of one moment."""

    services: tuple[JsonObj, ...] = ()
    endpoints: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # headless -> ready pod IPs
    dependencies: Mapping[str, bool] = field(default_factory=dict)  # "host:port" -> up
    known_ips: Mapping[str, str] = field(default_factory=dict)  # dependency host -> the IP its logs print

    def dependency_states(self) -> dict[str, bool]:
        return {target.lower(): up for target, up in self.dependencies.items()}

    def dependency_hosts(self) -> set[str]:
        return {target.rpartition(":")[0] for target in self.dependency_states() if ":" in target}

    def dependency_ip(self, host: str) -> str:
        return self.known_ips.get(host) or fake_ip(host)


@dataclass(frozen=True)
class Resolved:
    ip: str
    names: frozenset[str]  # every name dependency entries may use for this destination
    ports: frozenset[int]  # the ports of the Service the name resolved through


def is_netcheck(pod: JsonObj) -> bool:
    return (meta(pod).get("labels") or {}).get(NETCHECK_LABEL) == "true"


def fake_ip(host: str) -> str:
    """A stable private address for a host nothing else gives an IP to."""
    digest = hashlib.sha256(host.encode()).digest()
    return f"172.{16 + digest[0] % 16}.{digest[1]}.{digest[2] % 253 + 1}"


def ip_in_logs(host: str, texts: Iterable[str]) -> str | None:
    """The address printed next to `host` (`"orders-db" (10.96.0.12)`, `orders-db/10.96.0.12:5432`), if any."""
    pattern = re.compile(rf'(?<![\w.-]){re.escape(host)}"?(?::\d+)?\s*[(/\[]\s*({_IPV4})\b')
    for text in texts:
        found = pattern.search(text)
        if found:
            return found.group(1)
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _service_key(host: str, namespace: str) -> tuple[str, str] | None:
    """(namespace, name) of the Service a DNS name denotes from `namespace`, if it is a Service name at all."""
    parts = host.split(".")
    if len(parts) == 1:
        return namespace, parts[0]
    if len(parts) == 2 or tuple(parts[2:]) in (_CLUSTER_DOMAIN[:1], _CLUSTER_DOMAIN):
        return parts[1], parts[0]
    return None


def _service_names(name: str, namespace: str) -> set[str]:
    return {name, f"{name}.{namespace}", f"{name}.{namespace}.svc", f"{name}.{namespace}.svc.cluster.local"}


def _ports(service: JsonObj) -> frozenset[int]:
    return frozenset(int(p["port"]) for p in (service.get("spec") or {}).get("ports") or [] if "port" in p)


def _find_service(net: Network, key: tuple[str, str]) -> JsonObj | None:
    for service in net.services:
        m = meta(service)
        if (m.get("namespace"), m.get("name")) == key:
            return service
    return None


def _through_service(service: JsonObj, net: Network, depth: int) -> Resolved | None:
    m, spec = meta(service), service.get("spec") or {}
    namespace, name = str(m.get("namespace")), str(m.get("name"))
    names = _service_names(name, namespace)
    if spec.get("type") == "ExternalName":
        target = _resolve(str(spec.get("externalName") or ""), namespace, net, depth + 1) if depth < 3 else None
        return Resolved(target.ip, target.names | names, target.ports) if target else None
    cluster_ip = str(spec.get("clusterIP") or "None")
    if cluster_ip == "None":
        ready = net.endpoints.get((namespace, name)) or ()
        return Resolved(ready[0], frozenset(names), _ports(service)) if ready else None
    return Resolved(cluster_ip, frozenset(names), _ports(service))


def _by_ip(ip: str, net: Network) -> Resolved:
    names, ports = {ip}, frozenset[int]()
    for service in net.services:
        if (service.get("spec") or {}).get("clusterIP") == ip:
            names |= _service_names(str(meta(service).get("name")), str(meta(service).get("namespace")))
            ports |= _ports(service)
    names |= {host for host in net.dependency_hosts() if net.dependency_ip(host) == ip}
    return Resolved(ip, frozenset(names), ports)


def _resolve(host: str, namespace: str, net: Network, depth: int) -> Resolved | None:
    name = host.strip().rstrip(".").lower()
    if not name:
        return None
    if _is_ip(name):
        return _by_ip(name, net)
    key = _service_key(name, namespace)
    service = _find_service(net, key) if key else None
    if service is not None:
        return _through_service(service, net, depth)
    if name in net.dependency_hosts():
        return Resolved(net.dependency_ip(name), frozenset({name}), frozenset())
    return None


def resolve(host: str, namespace: str, net: Network) -> Resolved | None:
    """What `nslookup <host>` finds from a pod in `namespace`; None is NXDOMAIN."""
    return _resolve(host, namespace, net, 0)


def reachable(found: Resolved | None, port: str, net: Network) -> bool:
    """Whether `nc -z` connects to the resolved destination's port."""
    if found is None or not port.isdigit():
        return False
    states = net.dependency_states()
    entries = [states[t] for t in (f"{name}:{int(port)}" for name in found.names) if t in states]
    if entries:
        return all(entries)
    return int(port) in found.ports


def _literal_env(container: JsonObj) -> dict[str, str]:
    return {str(e["name"]): str(e["value"]) for e in container.get("env") or [] if "name" in e and "value" in e}


def check(container: JsonObj, namespace: str, net: Network, seconds: float) -> Output:
    """The log lines (seconds into the run, text) and exit code of one netcheck container."""
    env = _literal_env(container)
    host, port = env.get("CHECK_HOST", "").strip(), env.get("CHECK_PORT", "").strip()
    if not host:
        return Output(((0.0, MISSING_HOST),), exit_code=2)
    found = resolve(host, namespace, net)
    lines = [(min(DNS_AT, seconds), f"dns {host} ok {found.ip}" if found else f"dns {host} fail")]
    if port:
        lines.append((seconds, f"tcp {host}:{port} {'ok' if reachable(found, port, net) else 'fail'}"))
    return Output(tuple(lines))
