"""Redaction of secrets in text that leaves the process (CLI output, Slack messages, logs, audit rows).

Container logs and Kubernetes messages routinely carry credentials: connection strings with passwords, bearer
tokens, JWTs, AWS keys, whole PEM private keys. Everything the bot shows passes through `redact_lines` first.
The patterns keep the *name* of what was hidden (`password=[REDACTED]`) so the line still explains the crash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class _Rule:
    """A redaction; `triggers` are lowercase substrings without which the pattern cannot match (a cheap guard:
    most log lines contain none of them, and these regexes are the costliest part of a triage)."""

    triggers: tuple[str, ...]
    pattern: re.Pattern[str]
    replacement: str


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
    _Rule(("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),
    _Rule(("xapp-",), re.compile(r"\bxapp-[A-Za-z0-9-]{10,}"), MASK),
    _Rule(("gh",), re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}"), MASK),
    _Rule(("github_pat_",), re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"), MASK),
    _Rule(("k_live_", "k_test_"), re.compile(r"\b[sr]k_(live|test)_[A-Za-z0-9]{16,}"), MASK),
    _Rule(("aiza",), re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), MASK),
    # name = "quoted value with spaces" / 'password': 'x y z' — the whole quoted value
    _Rule(
        _NAME_TRIGGERS,
        re.compile(rf"(?i)(\b{_NAME}{_SEPARATOR})(\"|')(?!\[REDACTED\])([^\"'\n]*)\2"),
        rf"\1\2{MASK}\2",
    ),
    # name=value / name: value where the name says it is secret — but not MySQL's "(using password: YES)" nor a
    # value that is itself the next label of a wrapped error ("…-secret: x509: cannot validate…")
    _Rule(
        _NAME_TRIGGERS,
        re.compile(
            rf"(?i)(\b{_NAME}{_SEPARATOR})(?!\[REDACTED\])(?!(?:YES|NO)\))(?![^\s\"',;&)}}\]]+:\s)"
            rf"([^\s\"',;&)}}\]]+)"
        ),
        rf"\1{MASK}",
    ),
    # --password xyz / --db-password=xyz style flags
    _Rule(_NAME_TRIGGERS, re.compile(rf"(?i)(--?{_NAME}[ =])(?!\[REDACTED\])([^\s\"']+)"), rf"\1{MASK}"),
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
