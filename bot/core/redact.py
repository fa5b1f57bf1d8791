"""Redaction of secrets in text that leaves the process (CLI output, Slack messages, logs, audit rows).

Container logs and Kubernetes messages routinely carry credentials: connection strings with passwords, bearer
tokens, JWTs, AWS keys, whole PEM private keys. Everything the bot shows passes through `redact_lines` first.
The patterns keep the *name* of what was hidden (`password=[REDACTED]`) so the line still explains the crash.

Structures get the same treatment: `redact_obj` redacts every string in a JSON-like value (stored payloads) and
masks whatever sits under a secret-looking key; `mask_pod_secrets` also masks the literal env values, args and
command items of pod templates, which text patterns cannot see (`- name: DB_PASSWORD` / `value: hunter2`).
Kinds covered (tests/unit/test_redact.py): AWS keys, JWTs, PEM private keys, Slack and GitHub tokens, passwords in
URLs, `password=`-style assignments, bearer/basic auth, GCP service-account keys, api keys, Stripe keys, DB
connection strings. Not covered: a random-looking value under an innocent name (FOO=8f14e45f...).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

MASK = "[REDACTED]"

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY-----")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.S)
_SECRET_WORDS = (
    r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"client[_-]?secret|credentials?|auth[_-]?key|session[_-]?key|signing[_-]?key"
)
# A secret-looking name: contains one of the words, or ends in "pass" (DB_PASS) — but not "passed", "bypass".
_NAME = rf"(?:[\w.-]*(?:{_SECRET_WORDS})[\w.-]*|[\w.-]*[_.-]pass|pass)"
# name, optional closing quote, then "=" (spaces allowed) or ":" right after the name (not " : " as in
# kubelet messages like `volume "tls-secret" : secret "x" not found`)
_SEPARATOR = r"['\"]?(?:\s*=\s*|:\s*)"
_BASE64ISH = r"(?=[A-Za-z0-9._~+/-]*[0-9+/=._~-])[A-Za-z0-9._~+/-]{8,}=*"

_NAME_TRIGGERS = ("pass", "pwd", "secret", "token", "key", "credential")
# A name that refers to a secret rather than holding one (private_key_path=/etc/tls/key.pem, SECRET_NAME=db-creds).
_REFERENCE = re.compile(r"(?:[_.-](?i:path|file|dir|name|id|ref|arn)|[a-z](?:Path|File|Dir|Name|Id|Ref|Arn))$")
_NAME_AT_START = re.compile(r"[-\s'\"]*([\w.-]+)")

Replacement = str | Callable[[re.Match[str]], str]


def _unless_reference(template: str) -> Callable[[re.Match[str]], str]:
    """`template` applied, unless the matched name (group 1 starts with it) names where a secret is kept."""

    def replace(match: re.Match[str]) -> str:
        name = _NAME_AT_START.match(match.group(1))
        if name and _REFERENCE.search(name.group(1)):
            return match.group(0)
        return match.expand(template)

    return replace


@dataclass(frozen=True)
class _Rule:
    """A redaction; `triggers` are lowercase substrings without which the pattern cannot match (a cheap guard:
    most log lines contain none of them, and these regexes are the costliest part of a triage)."""

    triggers: tuple[str, ...]
    pattern: re.Pattern[str]
    replacement: Replacement


_RULES: tuple[_Rule, ...] = (
    # Authorization: Bearer xyz / Basic xyz / Token xyz
    _Rule(
        ("authorization",),
        re.compile(r"(?i)\b(authorization['\"]?\s*[:=]\s*['\"]?)(bearer|basic|token|digest)\s+[^\s\"',;]+"),
        rf"\1\2 {MASK}",
    ),
    _Rule(("bearer", "basic"), re.compile(rf"(?i)\b(bearer|basic)\s+{_BASE64ISH}"), rf"\1 {MASK}"),
    # JSON Web Tokens
    _Rule(("eyj",), re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    # credentials in URLs: scheme://user:password@host (the user may be empty: redis://:pw@host)
    _Rule(("://",), re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@\"']*):([^/\s@\"']+)@"), rf"\1\2:{MASK}@"),
    # AWS access key ids and secret keys
    _Rule(("akia", "asia", "agpa", "aida", "aroa"), re.compile(r"\b(AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}\b"), MASK),
    _Rule(
        ("aws_secret_access_key",),
        re.compile(r"(?i)(aws_secret_access_key['\"]?\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{20,}"),
        rf"\1{MASK}",
    ),
    # vendor tokens with recognisable prefixes (Slack, GitHub, Stripe, Google)
    _Rule(("xox",), re.compile(r"\b(?:xoxe\.)?xox[abposre]-[A-Za-z0-9-]{10,}"), MASK),
    _Rule(("xapp-",), re.compile(r"\bxapp-[A-Za-z0-9-]{10,}"), MASK),
    _Rule(("gh",), re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), MASK),
    _Rule(("github_pat_",), re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"), MASK),
    _Rule(("k_live_", "k_test_"), re.compile(r"\b[sr]k_(live|test)_[A-Za-z0-9]{16,}"), MASK),
    _Rule(("whsec_",), re.compile(r"\bwhsec_[A-Za-z0-9+/=]{16,}"), MASK),
    _Rule(("aiza",), re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), MASK),
    # name = "quoted value with spaces" / 'password': 'x y z' — the whole quoted value
    _Rule(
        _NAME_TRIGGERS,
        re.compile(rf"(?i)(\b{_NAME}{_SEPARATOR})(\"|')(?!\[REDACTED\]|••••)([^\"'\n]*)\2"),
        _unless_reference(rf"\1\2{MASK}\2"),
    ),
    # name=value / name: value where the name says it is secret — but not MySQL's "(using password: YES)" nor a
    # value that is itself the next label of a wrapped error ("…-secret: x509: cannot validate…")
    _Rule(
        _NAME_TRIGGERS,
        re.compile(
            rf"(?i)(\b{_NAME}{_SEPARATOR})(?!\[REDACTED\]|••••)(?!(?:YES|NO)\))(?![^\s\"',;&)}}\]]+:\s)"
            rf"([^\s\"',;&)}}\]]+)"
        ),
        _unless_reference(rf"\1{MASK}"),
    ),
    # --password xyz / --db-password=xyz style flags
    _Rule(
        _NAME_TRIGGERS,
        re.compile(rf"(?i)(--?{_NAME}[ =])(?!\[REDACTED\]|••••)([^\s\"']+)"),
        _unless_reference(rf"\1{MASK}"),
    ),
)


_ANY_TRIGGER = re.compile(
    "|".join(re.escape(t) for t in sorted({t for r in _RULES for t in r.triggers} | {"private key"}))
)


def redact(text: str) -> str:
    """`text` with every recognised secret replaced by [REDACTED]."""
    if not text:
        return text
    lowered = text.lower()
    if not _ANY_TRIGGER.search(lowered):
        return text
    if "private key" in lowered:
        text = _PEM_BLOCK.sub(lambda m: f"-----BEGIN {m.group(1)}PRIVATE KEY----- {MASK}", text)
    for rule in _RULES:
        if any(t in lowered for t in rule.triggers):
            text = rule.pattern.sub(rule.replacement, text)
            lowered = text.lower()
    return text


def redact_lines(lines: Iterable[str]) -> list[str]:
    """Redact line by line, hiding every line inside a PEM private key block."""
    out: list[str] = []
    in_key = False
    for line in lines:
        if in_key:  # the key's body and its END line are dropped: the BEGIN line already says what was hidden
            in_key = _PEM_END.search(line) is None
            continue
        begin = _PEM_BEGIN.search(line)
        if begin and not _PEM_END.search(line):
            in_key = True
            out.append(redact(line[: begin.end()]) + f" {MASK}")
            continue
        out.append(redact(line))
    return out


# --- structures --------------------------------------------------------------------------------------------------

_SECRET_KEY = re.compile(rf"(?i)^(?:{_NAME})$")
# env var names whose value is a secret even without a secret word: *_KEY, *_DSN, *_AUTH, connection strings
_SECRET_ENV = re.compile(r"(?i)(?:^|[_.-])(?:key|dsn|auth|conn(?:ection)?[_-]?str(?:ing)?)$")
_SECRET_FLAG = re.compile(rf"(?i)^--?{_NAME}$")
_CONTAINER_LISTS = ("args", "command")


def secret_name(name: str, *, env: bool = False) -> bool:
    """Whether a key (or, with `env`, an env var name) says its value is secret: DB_PASSWORD, apiKey, and for env
    vars also STRIPE_KEY or SENTRY_DSN; never a name that points at a secret (SECRET_NAME, key_path)."""
    if _REFERENCE.search(name):
        return False
    return bool(_SECRET_KEY.match(name) or (env and _SECRET_ENV.search(name)))


def redact_strings(value: Any) -> Any:
    """A copy of a JSON-like `value` with every string in it (dict keys excepted) passed through `redact`: the
    structure and every key kept, so what is stored or sent still means what it meant. Idempotent."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_strings(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_strings(v) for v in value]
    return value


def redact_obj(value: Any) -> Any:
    """A copy of a JSON-like `value` with every string redacted and every string under a secret-looking key (or
    the `value` of a `{"name": <secret-looking>, "value": ...}` pair) replaced by MASK. Other types are kept."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        pair_is_secret = isinstance(value.get("name"), str) and secret_name(value["name"], env=True)
        return {k: _redact_item(k, v, pair_is_secret) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_obj(v) for v in value]
    return value


def mask_pod_secrets(value: Any) -> Any:
    """`redact_obj`, and in every container (Deployment, pod template or pod spec — found at any depth): env values
    masked whole when the name says secret (redacted otherwise), args/command items that are secret or follow a
    secret flag (`--db-password hunter2`)."""
    if isinstance(value, dict):
        return {k: _mask_container_field(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_pod_secrets(v) for v in value]
    return redact_obj(value)


def _redact_item(key: Any, item: Any, pair_is_secret: bool) -> Any:
    if isinstance(item, str) and (secret_name(str(key)) or (pair_is_secret and key == "value")):
        return MASK
    return redact_obj(item)


def _mask_container_field(key: str, item: Any) -> Any:
    if key == "env" and isinstance(item, list):
        return [_mask_env(e) for e in item]
    if key in _CONTAINER_LISTS and isinstance(item, list):
        return _mask_argv(item)
    if isinstance(item, dict | list | tuple):
        return mask_pod_secrets(item)
    return redact_obj({key: item})[key]


def _mask_env(entry: Any) -> Any:
    if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
        return redact_obj(entry)
    value = entry["value"]
    by_name = secret_name(str(entry.get("name", "")), env=True) and value
    return {**redact_obj(entry), "value": MASK if by_name else redact(value)}


def _mask_argv(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    after_flag = False
    for item in items:
        if not isinstance(item, str):
            out.append(item)
        elif after_flag and not item.startswith("-"):
            out.append(MASK)
        else:
            out.append(redact(item))
        after_flag = isinstance(item, str) and bool(_SECRET_FLAG.match(item)) and not _REFERENCE.search(item)
    return out
