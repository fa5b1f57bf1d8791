"""What a person may type into a remedy, checked the same way whichever door they typed it at.

The triage proposes sane values; a form, a slash command or `--param` can carry anything. Each check here
raises `ParamRefused` naming the field and the limit ("9Gi: 4Gi is the most this environment allows"), so the
guard can refuse before anything is consumed or sent, and the person can correct the value and try again.
Pure functions: the guard gathers what they need (the configured limits, the live container, the namespace's
service accounts) into a `Limits` first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from runbooks.quantity import QuantityError, parse_bytes
from runbooks.silence import format_duration, parse_duration

# POSIX shells and most runtimes only see variables named like C identifiers; Kubernetes allows more, but a
# name outside this set is a typo far more often than an intent.
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_NAME_MAX = 256

# The image reference grammar of github.com/distribution/reference (reference.go):
#   reference := name [ ":" tag ] [ "@" digest ];  name := [domain '/'] remote-name
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
IMAGE_MAX = 4096  # what the kubelet and most registries accept for a whole reference
_NAME_MAX = 255  # distribution's limit on the repository name

# Probe settings within which a relaxed probe still detects a dead container in reasonable time.
PROBE_BOUNDS: dict[str, tuple[int, int]] = {
    "initialDelaySeconds": (0, 3600),
    "periodSeconds": (1, 300),
    "timeoutSeconds": (1, 120),
    "failureThreshold": (1, 360),
    "successThreshold": (1, 10),
    "terminationGracePeriodSeconds": (1, 3600),
}
STARTUP_BUDGET_MAX = 3600  # failureThreshold × periodSeconds of a startup probe: an hour at most
_PROBE_KINDS = ("startup", "liveness", "readiness", "startupProbe", "livenessProbe", "readinessProbe")
_SA_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class ParamRefused(ValueError):
    """A parameter outside what this environment allows; `field` names it, the message says the limit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Limits:
    """What the checks compare against: the configured maximum, the live container, existing service accounts."""

    max_memory: str
    current_memory: str | None = None  # the container's memory limit now (or request, when it has no limit)
    service_accounts: frozenset[str] | None = None  # None: not looked up (static checks only)
    silence_seconds: tuple[int, int] = (15 * 60, 7 * 86400)  # shortest and longest silence (config `silences`)


def memory(params: dict[str, Any], limits: Limits) -> None:
    """`to` (and `request_to`) are quantities within `limits.max_memory`, not below the current limit unless
    the person says so with `shrink=yes`."""
    cap = parse_bytes(limits.max_memory)
    for key in ("to", "request_to"):
        raw = params.get(key)
        if raw is None and key == "request_to":
            continue
        value = _bytes(key, raw)
        if value > cap:
            raise ParamRefused(
                key, f"{raw}: {limits.max_memory} is the most this environment allows (limits.max_memory)"
            )
    if limits.current_memory and not _yes(params.get("shrink")):
        now = _bytes("to", limits.current_memory)
        if _bytes("to", params.get("to")) < now:
            raise ParamRefused(
                "to",
                f"{params.get('to')} is below the container's current {limits.current_memory}: it would be killed "
                "sooner; to shrink it on purpose add shrink=yes",
            )


def probes(params: dict[str, Any], _: Limits) -> None:
    """Every probe setting an integer within PROBE_BOUNDS; a startup probe's budget within an hour."""
    given = params.get("probes")
    if not isinstance(given, dict) or not given:
        raise ParamRefused("probes", "probes must map startup/liveness/readiness to settings")
    for kind, settings in given.items():
        if str(kind) not in _PROBE_KINDS:
            raise ParamRefused("probes", f"unknown probe {kind!r}: use startup, liveness or readiness")
        if not isinstance(settings, dict):
            raise ParamRefused("probes", f"{kind}: settings must be a mapping")
        for key, (low, high) in PROBE_BOUNDS.items():
            value = settings.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ParamRefused("probes", f"{kind}.{key}={value!r}: allowed {low}–{high}")
        if str(kind).startswith("startup"):
            budget = int(settings.get("failureThreshold") or 3) * int(settings.get("periodSeconds") or 10)
            if budget > STARTUP_BUDGET_MAX:
                raise ParamRefused(
                    "probes", f"{kind}: failureThreshold × periodSeconds = {budget}s; {STARTUP_BUDGET_MAX}s at most"
                )


def env_name(params: dict[str, Any], _: Limits) -> None:
    """`name` is a C identifier (letters, digits, underscore; not starting with a digit), 256 characters at most."""
    name = params.get("name")
    if not isinstance(name, str) or not _ENV_NAME.match(name) or len(name) > _ENV_NAME_MAX:
        raise ParamRefused(
            "name", f"{name!r} is not a valid variable name: letters, digits and _, not starting with a digit"
        )


def image(params: dict[str, Any], _: Limits) -> None:
    """`image` follows the registry/repository:tag@digest grammar and fits in IMAGE_MAX characters."""
    value = params.get("image")
    if not isinstance(value, str) or not value:
        raise ParamRefused("image", "an image reference is required, e.g. registry.example.com/team/app:1.2.3")
    if len(value) > IMAGE_MAX:
        raise ParamRefused("image", f"the image reference is {len(value)} characters; {IMAGE_MAX} at most")
    match = _REFERENCE.match(value)
    if match is None:
        raise ParamRefused(
            "image", f"{value[:200]!r} is not an image reference (registry/repository:tag or …@sha256:digest)"
        )
    if len(match["name"]) > _NAME_MAX:
        raise ParamRefused("image", f"the repository name is {len(match['name'])} characters; {_NAME_MAX} at most")


def service_account(params: dict[str, Any], limits: Limits) -> None:
    """`service_account` is a valid name and, when the namespace's accounts are known, one of them."""
    name = params.get("service_account")
    if not isinstance(name, str) or not _SA_NAME.match(name) or len(name) > 253:
        raise ParamRefused("service_account", f"{name!r} is not a valid ServiceAccount name")
    if limits.service_accounts is not None and name not in limits.service_accounts:
        known = ", ".join(sorted(limits.service_accounts)[:10]) or "none"
        raise ParamRefused(
            "service_account", f"service account {name!r} does not exist in the namespace (existing: {known})"
        )


def host_port(params: dict[str, Any], _: Limits) -> None:
    """`host` is a DNS name or an IP address; `port`, when given, 1–65535."""
    # Imported here: the registry (and with it this module) is loaded to show a remedy's kubectl lines in a
    # read-only triage, which needs no patch planner (bench/cli_speed.py).
    from bot.remedies.patches import PlanError, check_host, check_port

    try:
        check_host(params.get("host"))  # type: ignore[arg-type]
    except PlanError as exc:
        raise ParamRefused("host", str(exc)) from None
    port = params.get("port")
    if port in (None, ""):
        return
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    try:
        check_port(port if isinstance(port, int) else -1)
    except PlanError:
        raise ParamRefused("port", f"port {params.get('port')!r} is not a number from 1 to 65535") from None


def revision(params: dict[str, Any], _: Limits) -> None:
    """`to_revision`, when given, a positive revision number."""
    raw = params.get("to_revision")
    if raw in (None, 0):
        return
    if isinstance(raw, bool) or not str(raw).isdigit():
        raise ParamRefused("to_revision", f"to_revision must be a positive revision number, got {raw!r}")


def container(params: dict[str, Any], _: Limits) -> None:
    """`container` names one (a non-empty string; the planner checks it exists)."""
    if not isinstance(params.get("container"), str) or not str(params["container"]).strip():
        raise ParamRefused("container", "container is required")


def nothing(_: dict[str, Any], __: Limits) -> None:
    """A remedy without parameters: nothing to check."""


def _bytes(key: str, raw: Any) -> int:
    if not isinstance(raw, str) or not raw.strip():
        raise ParamRefused(key, f"{key} is required, e.g. 512Mi")
    try:
        return parse_bytes(raw.strip())
    except QuantityError as exc:
        raise ParamRefused(key, f"{raw}: {exc}") from None


def _yes(value: Any) -> bool:
    return value is True or str(value).lower() in ("yes", "true", "1")


_SILENCE_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
COMMENT_MAX = 500


def duration(params: dict[str, Any], limits: Limits) -> None:
    """`duration` ("2h", "90m", "1d") within the configured shortest and longest silence; a short comment."""
    raw = params.get("duration")
    seconds = parse_duration(str(raw)) if isinstance(raw, str | int) else None
    if seconds is None:
        raise ParamRefused("duration", f"{raw!r} is not a duration: write it like 30m, 2h or 1d")
    shortest, longest = limits.silence_seconds
    if not shortest <= seconds <= longest:
        bounds = f"from {format_duration(shortest)} to {format_duration(longest)}"
        raise ParamRefused("duration", f"{raw}: a silence lasts {bounds} here (silences.min_minutes/max_hours)")
    comment = params.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > COMMENT_MAX):
        raise ParamRefused("comment", f"a comment is text of at most {COMMENT_MAX} characters")
    if "matchers" in params:
        raise ParamRefused(
            "matchers", "the matchers are the workload's own, derived by the bot; they are not a parameter"
        )


def silence_id(params: dict[str, Any], _: Limits) -> None:
    """`silence_id` is an Alertmanager silence id (a UUID)."""
    if not _SILENCE_ID.match(str(params.get("silence_id") or "")):
        raise ParamRefused("silence_id", f"{params.get('silence_id')!r} is not an Alertmanager silence id")
