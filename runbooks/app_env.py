"""Runbook branch 1 — App & env (missing env, bad command, crash at startup).

Signals (in the logs of the crashed run):
- a DNS failure for a name that is the user of a URL in a literal env var (the client could not parse the URL);
- a missing environment variable: `KeyError: 'DB_URL'` (os.environ), "environment variable X is not set",
  "missing required env X", "X must be set";
- a stack trace or runtime exception: Python `Traceback`, Go `panic:`, Java `Exception in thread`, Node
  `Uncaught`, "FATAL"/"fatal error";
- a non-zero exit with no other explanation (exit 1 or 2, reason Error);
- exit 0 under restartPolicy Always: the main process ends (bad command, or a one-shot job run as a Deployment).

Remedies: `set_env` for a missing variable; `set_image` to the previous revision's image when the crash came
with a new image (`classify` puts `rollout_undo` first when the release is fresh).
"""

from __future__ import annotations

import re

from runbooks.matching import Signal, find_last
from runbooks.model import Assessment, Branch, Evidence, Reason, Remedy, RemedyId
from runbooks.remedies import set_previous_image
from runbooks.unmatched import telling_lines

BRANCH = Branch.APP_ENV
SUCCESS = "STATUS=Running, RESTARTS stop increasing, no new fatal logs."

_MISSING_ENV = (
    Signal.of("missing environment variable", r"KeyError: '(?P<name>(?-i:[A-Z_][A-Z0-9_]*))'"),
    Signal.of(
        "missing environment variable",
        r"(?:env(?:ironment)?(?: var(?:iable)?)?)\s+\"?'?(?P<name>(?-i:[A-Z_][A-Z0-9_]{2,}))\"?'?\s+"
        r"(?:is\s+)?(?:not set|unset|missing|required|undefined|empty)",
    ),
    Signal.of(
        "missing environment variable",
        r"(?:missing|required)\s+(?:required\s+)?env(?:ironment)?(?:\s+var(?:iable)?)?s?:?\s+\"?'?(?P<name>(?-i:[A-Z_][A-Z0-9_]{2,}))",
    ),
    Signal.of(
        "missing environment variable", r"\b(?P<name>(?-i:[A-Z][A-Z0-9]*_[A-Z0-9_]+)) (?:must be set|is required)"
    ),
    # github.com/kelseyhightower/envconfig: "required key SMTP_HOST missing value"
    Signal.of("missing environment variable", r"required key (?P<name>(?-i:[A-Z_][A-Z0-9_]*)) missing value"),
)
_CRASH = (
    Signal.of("Go panic", r"^panic: "),  # the goroutine dump that follows is not the error
    Signal.of("uncaught exception", r"^\w*(Error|Exception)(: |$)|Exception in thread|Uncaught \w+"),
    Signal.of("Python traceback", r"^Traceback \(most recent call last\)"),
    Signal.of("fatal error", r"\bFATAL\b|fatal error|\bCRITICAL\b"),
)


_DNS_HOST = re.compile(
    r"(?:ENOTFOUND|EAI_AGAIN|lookup|UnknownHostException:|could not translate host name) \"?(?P<host>[\w.-]+)"
)


def assess(ev: Evidence, policy: object = None) -> Assessment | None:
    lines = ev.all_log_lines()
    garbled = _user_read_as_host(ev, lines)
    if garbled is not None:
        return garbled
    missing = find_last(lines, _MISSING_ENV)
    if missing is not None:
        return _missing_env(ev, missing.match.group("name"), missing.quote)
    crash = find_last(lines, _CRASH)
    focus = ev.focus
    term = (focus.last_termination or focus.terminated) if focus else None
    code = term.exit_code if term else None
    if crash is not None:
        reason = Reason(f"the app crashed: {crash.signal.label}", crash.quote, "logs")
        headline = f"{ev.workload.name}/{ev.focus_container} crashes at startup ({crash.signal.label})"
        return Assessment(BRANCH, 0.6, headline, (reason,), set_previous_image(ev), "read the stack trace")
    if code == 0 and focus is not None and not focus.init:
        quote = f"lastState.terminated: reason={term.reason if term else None} exitCode=0"
        reason = Reason("the main process exits successfully, so Kubernetes restarts it", quote, "status")
        headline = f"{ev.workload.name}/{ev.focus_container} exits immediately (exit 0)"
        return Assessment(BRANCH, 0.55, headline, (reason,), (), "check command/args: the process must keep running")
    if (code is not None and code in (1, 2)) or (
        term is not None and term.reason == "Error" and code not in (137, 143)
    ):
        quote = f"lastState.terminated: reason={term.reason if term else None} exitCode={code}"
        reasons = [Reason(f"the app exits with code {code}; no known failure signature matched", quote, "status")]
        reasons.extend(telling_lines(ev))
        headline = f"{ev.workload.name}/{ev.focus_container} exits with code {code}; cause not recognised"
        return Assessment(BRANCH, 0.3, headline, tuple(reasons), (), "read the lines quoted above and the logs below")
    return None


def _user_read_as_host(ev: Evidence, lines: tuple[str, ...]) -> Assessment | None:
    """A DNS failure for a name that is the *user* of a connection URL in an env var: the client could not parse
    the URL (a `#`, `@` or `/` in the password), took the user for the host — the setting is wrong, not DNS."""
    users = {e.user: e for spec in ev.workload.containers for e in spec.endpoints if e.user}
    for line in reversed(lines):
        m = _DNS_HOST.search(line)
        if m and m.group("host") in users:
            endpoint = users[m.group("host")]
            container = ev.focus_container or ""
            text = (
                f"the client looked up {m.group('host')!r}, the user name of the URL in {endpoint.var}: it could not "
                "parse that URL (special characters in the password must be URL-encoded)"
            )
            params = {"container": container, "name": endpoint.var}
            remedy = Remedy(RemedyId.SET_ENV, f"Fix {endpoint.var}", params, "its URL does not parse")
            headline = f"{ev.workload.name}/{container}: {endpoint.var} holds a URL the client cannot parse"
            return Assessment(BRANCH, 0.94, headline, (Reason(text, m.string.strip()[:300], "logs"),), (remedy,))
    return None


def _missing_env(ev: Evidence, name: str, quote: str) -> Assessment:
    container = ev.focus_container or (ev.workload.containers[0].name if ev.workload.containers else "")
    reason = Reason(f"environment variable {name} is not set", quote, "logs")
    params = {"container": container, "name": name}
    remedy = Remedy(RemedyId.SET_ENV, f"Set {name}", params, "the app exits because it is missing")
    headline = f"{ev.workload.name}/{container} exits: environment variable {name} is not set"
    return Assessment(BRANCH, 0.85, headline, (reason,), (remedy,))
