"""Runbook branch 3 — Probes (too strict, or pointing at the wrong endpoint).

Signals:
- `Killing` events "failed liveness probe, will be restarted" / "failed startup probe" (the kubelet killed it:
  an exit 137 or 143 that follows is the probe's doing, not an OOM kill);
- `Unhealthy` events "Liveness/Readiness/Startup probe failed: …", with their counts;
- the failure text tells *how*: a timeout ("context deadline exceeded") means the probe is too strict or the app
  too slow to start; "connection refused" or an HTTP 404 means the probe points at the wrong port or path.

Remedy: `patch_probes` — proposed from the failing probe's own settings: add a startupProbe with the liveness
probe's handler (periodSeconds 5, failureThreshold 30, as the runbook's example) and give liveness/readiness a
realistic timeout and failure threshold.
"""

from __future__ import annotations

from typing import Any

from runbooks.matching import Signal, find_all, group_events
from runbooks.model import Assessment, Branch, ContainerSpec, Evidence, Probe, Reason, Remedy, RemedyId

BRANCH = Branch.PROBES
SUCCESS = "Probe failures stop; the pod becomes Ready and stays there."

_KILL = Signal.of("killed after failing its probe", r"failed (liveness|startup) probe")
_UNHEALTHY = Signal.of("probe failures", r"(liveness|readiness|startup) probe failed")
_TIMEOUT = Signal.of("timeout", r"deadline exceeded|timeout|timed out")
_WRONG_TARGET = Signal.of("wrong endpoint", r"connection refused|statuscode: 404|no such file")


def assess(ev: Evidence, policy: object = None) -> Assessment | None:
    focus = ev.focus_container
    events = [e for e in ev.events if e.reason in ("Killing", "Unhealthy")]
    kills = find_all([e.line() for e in events if e.reason == "Killing"], [_KILL])
    unhealthy = [e for e in events if e.reason == "Unhealthy" and _UNHEALTHY.pattern.search(e.message)]
    if not kills and not unhealthy:
        return None
    kinds = {m.match.group(1).lower() for m in kills} | {
        m.group(1).lower() for e in unhealthy if (m := _UNHEALTHY.pattern.search(e.message))
    }
    failures = sum(e.count for e in unhealthy)
    reasons: list[Reason] = []
    if kills:
        reasons.append(Reason("the kubelet killed the container after failed probes", kills[-1].quote, "events"))
    if unhealthy:
        worst, *others = group_events(unhealthy)  # each distinct failure once, with how many pods saw it
        reasons.append(Reason(f"{failures} probe failures ({', '.join(sorted(kinds))})", worst.line(), "events"))
        reasons.extend(Reason("the probe also failed with", g.line()[:300], "events") for g in others[:2])
    last = _last_words(ev)
    if last and (kills or unhealthy):
        reasons.append(Reason("the last thing the app logged before it was killed", last, "logs"))
    term = ev.focus.last_termination if ev.focus else None
    if kills and term and term.exit_code in (137, 143) and term.reason != "OOMKilled":
        reasons.append(
            Reason(
                f"exit {term.exit_code} follows the probe kill: not an OOM kill",
                f"lastState.terminated: reason={term.reason} exitCode={term.exit_code}",
                "status",
            )
        )
    score = 0.9 if kills else (0.7 if "readiness" not in kinds or len(kinds) > 1 else 0.55)
    text = " ".join(e.message for e in unhealthy)
    wrong = _WRONG_TARGET.pattern.search(text) and not _TIMEOUT.pattern.search(text)
    spec = next((s for s in ev.workload.containers if s.name == focus), None)
    remedy = patch_probes_remedy(spec, kinds) if spec else None
    next_step = ""
    if wrong:
        next_step = "the probe gets connection refused / 404: check the probe's port and path against the app"
        reasons.append(Reason("the probe target answers wrongly: port or path may be wrong", None, "events"))
    headline = f"{ev.workload.name}/{focus} fails its {'/'.join(sorted(kinds))} probe"
    return Assessment(BRANCH, score, headline, tuple(reasons), (remedy,) if remedy else (), next_step)


def _last_words(ev: Evidence) -> str | None:
    """The crashed run's last non-blank log line: where a slow start was when the probe gave up on it."""
    log = ev.focus_logs()
    lines = [line.strip() for line in (log.lines if log else ()) if line.strip()]
    return lines[-1][:300] if lines else None


def patch_probes_remedy(spec: ContainerSpec, failing: set[str]) -> Remedy | None:
    """Relaxed probe settings proposed from the container's current ones; None when it has no probes."""
    changes: dict[str, dict[str, Any]] = {}
    before: dict[str, dict[str, Any]] = {}
    liveness = spec.probes.get("liveness")
    startup = spec.probes.get("startup")
    if liveness and ("liveness" in failing or "startup" in failing):
        if startup is None:
            changes["startup"] = {**_handler(liveness), "periodSeconds": 5, "failureThreshold": 30}
        else:
            changes["startup"] = {"failureThreshold": max(startup.failure_threshold * 2, 30)}
            before["startup"] = _settings(startup)
        changes["liveness"] = {
            "timeoutSeconds": max(liveness.timeout_seconds, 5),
            "failureThreshold": max(liveness.failure_threshold, 3),
        }
        before["liveness"] = _settings(liveness)
    readiness = spec.probes.get("readiness")
    if readiness and "readiness" in failing:
        changes["readiness"] = {
            "timeoutSeconds": max(readiness.timeout_seconds, 3),
            "failureThreshold": max(readiness.failure_threshold, 6),
        }
        before["readiness"] = _settings(readiness)
    if not changes:
        return None
    title = "Add a startupProbe and relax liveness" if "startup" in changes else "Relax probe thresholds"
    params = {"container": spec.name, "probes": changes, "before": before}
    return Remedy(RemedyId.PATCH_PROBES, title, params, "give the app time to start before liveness kills it")


def _handler(probe: Probe) -> dict[str, Any]:
    return {k: v for k, v in probe.raw.items() if k in ("httpGet", "tcpSocket", "exec", "grpc")}


def _settings(probe: Probe) -> dict[str, int]:
    return {
        "initialDelaySeconds": probe.initial_delay_seconds,
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "failureThreshold": probe.failure_threshold,
    }
