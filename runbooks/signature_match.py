"""Matching the signature library against the evidence: which known failure line is there, and what it calls for.

The operator's signatures (crashloop.yaml) are tried first, then the built-in ones (`runbooks.signatures`). Every
log line, event message and kubelet status message is a candidate; the most recent line a signature matches is
the one quoted. The best match per branch becomes an Assessment that competes with the branch modules' own in
`runbooks.classify`, so a reason always quotes the line it was decided on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from runbooks import networking_deps, probes, rbac_mounts, resources
from runbooks.matching import excerpt, shorten
from runbooks.model import (
    Assessment,
    Branch,
    EnvEndpoint,
    Evidence,
    Mount,
    Policy,
    Reason,
    Remedy,
    RemedyId,
    Signature,
)
from runbooks.remedies import previous_image, rollout_undo, set_image_remedy
from runbooks.signatures import BUILT_IN

_PROBE_EVENTS = ("Unhealthy", "Killing")
_PATH_GROUPS = ("path", "path2", "path3")
_URL = re.compile(r"(?P<scheme>https?|wss?|grpcs?)://(?P<host>[\w.-]+)(?::(?P<port>\d+))?")
_SCHEME_PORTS = {"https": 443, "http": 80, "wss": 443, "ws": 80, "grpcs": 443, "grpc": 80}


@dataclass(frozen=True)
class Hit:
    """A signature that matched, the line it matched, where the line came from, and the named groups."""

    signature: Signature
    line: str
    source: str  # logs | events | status
    groups: dict[str, str]
    also: tuple[str, ...] = ()
    span: tuple[int, int] = (0, 0)

    @property
    def quote(self) -> str:
        return excerpt(self.line, *self.span)  # other distinct lines the same signature matched (older first)

    def meaning(self) -> str:
        return _fill(self.signature.meaning, self.groups)


@lru_cache(maxsize=512)
def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def texts(ev: Evidence) -> list[tuple[str, str]]:
    """(source, line) for everything a signature may match: logs, event messages, the kubelet's messages."""
    found = [("logs", line) for line in ev.all_log_lines()]
    # probe events are the probes branch's evidence: a probe's "connection refused" is not the app's dependency
    messages = (e.message for e in ev.events if e.reason not in _PROBE_EVENTS)
    found.extend(("events", m) for m in dict.fromkeys(messages))
    c = ev.focus
    if c is not None:
        term = c.last_termination or c.terminated
        found.extend(("status", t) for t in (c.waiting_message, term.message if term else None) if t)
    return found


def find_hits(signatures: Iterable[Signature], candidates: list[tuple[str, str]]) -> list[Hit]:
    """Each signature's most recent matching line (searched newest first), with up to two other distinct ones."""
    lines = [(source, text) for source, line in candidates for text in (line.splitlines() or [line])]
    lowered = [text.lower() for _, text in lines]
    everything = "\n".join(lowered)
    hits = []
    for sig in signatures:
        if sig.triggers and not any(t in everything for t in sig.triggers):
            continue  # no line can match: skip the regex
        pattern = compiled(sig.pattern)
        matched: list[tuple[str, str, re.Match[str]]] = []
        for i in range(len(lines) - 1, -1, -1):
            if sig.triggers and not any(t in lowered[i] for t in sig.triggers):
                continue
            source, text = lines[i]
            m = pattern.search(text)
            if m and all(text != t for _, t, _ in matched):
                matched.append((source, text, m))
                if len(matched) >= 3:
                    break
        if matched:
            source, text, m = matched[0]
            groups = {k: v for k, v in m.groupdict().items() if v}
            others = tuple(t for _, t, _ in reversed(matched[1:]))
            hits.append(Hit(sig, text, source, groups, others, m.span()))
    return hits


def assess(ev: Evidence, policy: Policy) -> list[Assessment]:
    """The best signature match of each branch, as an Assessment (empty when no signature matches)."""
    hits = find_hits((*policy.signatures, *BUILT_IN), texts(ev))
    best: dict[str, list[Hit]] = {}
    for hit in sorted(hits, key=lambda h: -h.signature.score):  # stable: library order breaks ties
        best.setdefault(hit.signature.branch, []).append(hit)
    return [_assessment(ev, policy, group) for group in best.values()]


def _assessment(ev: Evidence, policy: Policy, hits: list[Hit]) -> Assessment:
    top = hits[0]
    sig = top.signature
    origin = "" if sig.origin == "built-in" else f" (signature {sig.id} from {sig.origin})"
    reasons = [Reason(top.meaning() + origin, top.quote, top.source)]
    reasons.extend(Reason("the same signal, earlier", shorten(line), top.source) for line in top.also)
    reasons.extend(Reason(h.meaning(), h.quote, h.source) for h in hits[1:3] if h.line != top.line)
    reasons.extend(_volume_reasons(ev, hits))
    remedy = _remedy(ev, policy, top)
    container = ev.focus_container or "?"
    headline = f"{ev.workload.name}/{container}: {top.meaning()}"
    next_step = "" if remedy else _next_step(top)
    return Assessment(sig.branch, sig.score, headline, tuple(reasons), (remedy,) if remedy else (), next_step)


def _fill(template: str, groups: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: groups.get(m.group(1), ""), template).replace("  ", " ").strip()


def _params(ev: Evidence, hit: Hit) -> dict[str, str]:
    """The signature's parameters filled from the line; a `{group}` that did not match is left out."""
    out = {}
    for key, template in hit.signature.params:
        names = re.findall(r"\{(\w+)\}", template)
        if names and not all(hit.groups.get(n) for n in names):
            continue
        out[key] = _fill(template, hit.groups)
    return out


def _remedy(ev: Evidence, policy: Policy, hit: Hit) -> Remedy | None:
    rid = hit.signature.remedy
    container = ev.focus_container or (ev.workload.containers[0].name if ev.workload.containers else "")
    spec = next((s for s in ev.workload.containers if s.name == container), None)
    params = _params(ev, hit)
    if rid is None:  # a problem of the app or its image may still be pinned back to the previous image
        in_image = hit.signature.branch in (Branch.APP_ENV, Branch.IMAGE_CONFIG)
        return _previous_image(ev, container) if in_image else None
    if rid == RemedyId.NETCHECK:
        return _netcheck(ev, hit, params)
    if rid == RemedyId.SET_ENV:
        name = params.pop("name", None)
        title = f"Set {name}" if name else "Set the variable the error names"
        full = {"container": container, **({"name": name} if name else {}), **params}
        return Remedy(RemedyId.SET_ENV, title, full, hit.meaning())
    if rid == RemedyId.SET_IMAGE:
        return set_image_remedy(ev, f"the current image is the problem: {hit.meaning()}")
    if rid == RemedyId.BUMP_MEMORY:
        if spec is None or not (spec.limits.get("memory") or spec.requests.get("memory")):
            return None
        remedy, _ = resources.bump_memory_remedy(container, spec.limits, spec.requests, policy)
        return remedy
    if rid == RemedyId.PATCH_PROBES:
        return probes.patch_probes_remedy(spec, {"liveness"}) if spec else None
    if rid == RemedyId.SERVICE_ACCOUNT:
        return rbac_mounts.service_account_remedy(ev, ev.workload.service_account, None, None, "")
    if rid == RemedyId.ROLLOUT_UNDO:
        return rollout_undo(ev)
    return Remedy(rid, hit.meaning(), {"container": container, **params}, hit.signature.id)


def _previous_image(ev: Evidence, container: str) -> Remedy | None:
    image = previous_image(ev, container)
    if image is None:
        return None
    return Remedy(RemedyId.SET_IMAGE, f"Pin image {image}", {"container": container, "image": image}, "previous")


def _netcheck(ev: Evidence, hit: Hit, params: dict[str, str]) -> Remedy | None:
    host = params.get("host")
    port: int | None = int(params["port"]) if params.get("port", "").isdigit() else None
    if host is None:
        url = _URL.search(hit.line)
        if url:
            host = url.group("host")
            port = int(url.group("port")) if url.group("port") else _SCHEME_PORTS.get(url.group("scheme").lower())
    if host is None and hit.source == "logs":
        host, port = networking_deps.endpoint(ev.all_log_lines(), hit.line)
    if host is None:
        named = _env_endpoint_named_in(ev, hit.line)
        host, port = (named.host, named.port) if named else (None, None)
    if host is None:
        return None
    if port is None:
        port = networking_deps.default_port(" ".join(ev.all_log_lines()[-20:]) + hit.line) or _default_port(hit.line)
    target = f"{host}:{port}" if port else host
    return Remedy(
        RemedyId.NETCHECK, f"Check DNS and TCP to {target}", {"host": host, "port": port}, "from the namespace"
    )


_GENERIC_WORDS = {
    "host",
    "hosts",
    "port",
    "addr",
    "address",
    "url",
    "uri",
    "connect",
    "connection",
    "server",
    "servers",
}


def _env_endpoint_named_in(ev: Evidence, line: str) -> EnvEndpoint | None:
    """The literal env endpoint whose variable names the dependency the line talks about (KAFKA_ZOOKEEPER_CONNECT
    for "Unable to connect to zookeeper")."""
    lowered = line.lower()
    for spec in ev.workload.containers:
        if spec.name != ev.focus_container:
            continue
        for endpoint in spec.endpoints:
            words = {w for w in endpoint.var.lower().split("_") if len(w) >= 4 and w not in _GENERIC_WORDS}
            if any(w in lowered for w in words):
                return endpoint
    return None


def _default_port(line: str) -> int | None:
    lowered = line.lower()
    if "x509" in lowered or "tls" in lowered or "certificate" in lowered or "https" in lowered:
        return 443
    if "zookeeper" in lowered:
        return 2181
    if "resolver" in lowered:
        return 53
    return None


def _volume_reasons(ev: Evidence, hits: list[Hit]) -> list[Reason]:
    """Tie a file-system error to the volume mounted at that path and, for a claim, its size."""
    if not hits or hits[0].signature.branch != "rbac_mounts":
        return []
    container = ev.focus_container
    mounts = [m for m in ev.workload.mounts if m.container == container]
    path = next((h.groups[g] for h in hits for g in _PATH_GROUPS if h.groups.get(g)), None)
    chosen: Mount | None = None
    if path:
        under = [m for m in mounts if path == m.path or path.startswith(m.path.rstrip("/") + "/")]
        chosen = max(under, key=lambda m: len(m.path), default=None)
    elif hits[0].signature.id == "fs-no-space":
        chosen = next((m for m in mounts if m.claim), None)
    if chosen is None:
        return []
    size = f", {chosen.size} requested" if chosen.size else ""
    claim = f"claim {chosen.claim}{size}" if chosen.claim else chosen.source
    ro = " (mounted readOnly)" if chosen.read_only else ""
    text = f"{path or chosen.path} is on volume {chosen.volume} ({claim}){ro}"
    return [Reason(text, f"volumeMounts: {chosen.volume} → {chosen.path}", "spec")]


def _next_step(hit: Hit) -> str:
    return {
        "rbac_mounts": "fix the volume: ownership (securityContext.fsGroup / runAsUser), readOnly, or its size",
        "image_config": "fix the image or its configuration file, then roll out",
        "networking_deps": "check the dependency's name, DNS and certificates from the namespace",
        "app_env": "fix the setting the line names, then roll out",
        "resources": "give the container the memory it needs",
    }.get(str(hit.signature.branch), "")
