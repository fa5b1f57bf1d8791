"""Runbook branch 5 — Image & configuration (bad image, wrong entrypoint, missing Secret/ConfigMap).

Signals:
- waiting reasons `ImagePullBackOff`, `ErrImagePull`, `InvalidImageName` (the image cannot be pulled), quoting the
  registry's answer from the `Failed` event (`manifest unknown`, `not found`, `unauthorized`, `no such host`); a tag
  that does not exist offers `set_image`, an auth or registry problem does not;
- a termination with reason `StartError` or exit code 128, or runtime messages "exec format error" (wrong CPU
  architecture), "executable file not found", "no such file or directory" (wrong entrypoint / missing binary);
- exit 127 (command not found) and 126 (not executable);
- waiting reason `CreateContainerConfigError` with `secret "x" not found`, `configmap "x" not found` or
  `couldn't find key K in Secret ns/x`; references to Secrets/ConfigMaps that do not exist.

Remedies: `set_image` to the previous revision's image (and `rollout_undo` when the release is fresh, added by
`classify`); `set_env` to point an env var at an existing Secret/ConfigMap key.
"""

from __future__ import annotations

import re

from runbooks.matching import Signal, find_last
from runbooks.model import Assessment, Branch, Evidence, ObjectRef, Reason, Remedy, RemedyId
from runbooks.remedies import set_image_remedy, set_previous_image

BRANCH = Branch.IMAGE_CONFIG
SUCCESS = "No missing resource/image errors; the container starts cleanly."

_PULL_REASONS = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}
_START = (
    Signal.of("exec format error (image built for another CPU architecture)", r"exec format error"),
    Signal.of("entrypoint not found in the image", r"executable file not found|no such file or directory"),
    Signal.of("the runtime could not start the process", r"OCI runtime create failed|failed to create shim"),
)
# In the container's own output only what runc writes counts: an app's "open /tmp/x: no such file" is not this.
_START_IN_LOGS = (
    _START[0],
    Signal.of(
        "entrypoint not found in the image",
        r"(?:exec|stat) \\?\"?[\w/.-]+\\?\"?: (?:executable file not found|no such file or directory)|"
        r"starting container process caused",
    ),
)
_PULL_ERROR = re.compile(
    r"(?P<error>manifest (?:for \S+ )?(?:not found|unknown)|\S+: not found|not found: manifest unknown|"
    r"pull access denied[^,]*|unauthorized: [\w ]+|no such host|denied: [\w ]+|"
    r"(?:i/o timeout|connection refused)|no matching manifest for [\w/]+|toomanyrequests[^\n]*)",
    re.IGNORECASE,
)
_NOT_RUNNABLE = (
    Signal.of("not executable", r"Permission denied|not executable|cannot execute"),
    Signal.of("not found", r"not found|No such file or directory"),
)
_TAG_MISSING = re.compile(r"not found|manifest unknown|no matching manifest", re.IGNORECASE)
_MISSING_OBJECT = re.compile(r'(secret|configmap)s? "([\w.-]+)" not found', re.IGNORECASE)
_MISSING_KEY = re.compile(r"couldn't find key ([\w.-]+) in (Secret|ConfigMap) ([\w.-]+)/([\w.-]+)", re.IGNORECASE)


def assess(ev: Evidence, policy: object = None) -> Assessment | None:
    for check in (_pull_failure, _start_failure, _config_error, _missing_refs, _exit_127):
        found = check(ev)
        if found is not None:
            return found
    return None


def _pull_failure(ev: Evidence) -> Assessment | None:
    c = ev.focus
    if c is None or c.waiting_reason not in _PULL_REASONS:
        return None
    quote = f"{c.waiting_reason}: {c.waiting_message}"
    reasons = [Reason(f"the image cannot be pulled ({c.waiting_reason})", quote, "status")]
    pulls = [e for e in ev.events if "pull" in e.message.lower() and _PULL_ERROR.search(e.message)]
    error = None
    if pulls:
        worst = max(pulls, key=lambda e: (e.reason == "Failed", e.count))
        error = _PULL_ERROR.search(worst.message)
        what = error.group("error") if error else "pull error"
        reasons.append(Reason(f"the registry answers: {what}", worst.message[:300], "events"))
    headline = f"{ev.workload.name}/{c.name} cannot pull image {c.image}"
    next_step = "check the image name/tag exists and the imagePullSecrets can read the registry"
    remedies = set_previous_image(ev)
    if not remedies and error is not None and _TAG_MISSING.search(error.group("error")):
        fix = set_image_remedy(ev, "the tag does not exist in the registry")
        remedies = (fix,) if fix else ()
        next_step = f"use a tag of {c.image.rsplit(':', 1)[0]} that exists"
    return Assessment(BRANCH, 0.95, headline, tuple(reasons), remedies, next_step)


def _start_failure(ev: Evidence) -> Assessment | None:
    c = ev.focus
    if c is None:
        return None
    term = c.last_termination or c.terminated
    texts = [t for t in (c.waiting_message, term.message if term else None) if t]
    match = find_last(texts, _START)
    source = "status"
    if match is None:  # runc may write the error to the container's own output instead
        match = find_last(ev.all_log_lines(), _START_IN_LOGS)
        source = "logs"
    start_error = term is not None and (term.reason == "StartError" or term.exit_code == 128)
    if not match and not start_error:
        return None
    reasons = []
    if term is not None and start_error:
        quote = f"lastState.terminated: reason={term.reason} exitCode={term.exit_code}"
        reasons.append(Reason("the runtime could not start the container process", quote, "status"))
    if match:
        reasons.append(Reason(match.signal.label, match.quote, source))
    headline = f"{ev.workload.name}/{c.name} cannot start its process (image/entrypoint problem)"
    next_step = "pin a known-good image; check the entrypoint and the image's CPU architecture"
    arch = match is not None and match.signal is _START[0]  # another architecture: an image for this one fixes it
    remedies = set_previous_image(ev)
    if arch and not remedies:
        remedy = set_image_remedy(ev, "the image is built for another CPU architecture")
        remedies = (remedy,) if remedy else ()
    return Assessment(BRANCH, 0.95, headline, tuple(reasons), remedies, next_step)


def _config_error(ev: Evidence) -> Assessment | None:
    c = ev.focus
    if c is None or c.waiting_reason != "CreateContainerConfigError":
        return None
    message = c.waiting_message or ""
    reasons = [Reason("the kubelet cannot build the container's config", f"{c.waiting_reason}: {message}", "status")]
    key = _MISSING_KEY.search(message)
    obj = _MISSING_OBJECT.search(message)
    if key:
        kind, name = key.group(2), key.group(4)
        next_step = f"add key {key.group(1)} to {kind} {ev.workload.namespace}/{name}, or point the variable elsewhere"
    elif obj:
        kind, name = obj.group(1).capitalize().replace("Configmap", "ConfigMap"), obj.group(2)
        next_step = f"create {kind} {ev.workload.namespace}/{name} (the kubelet retries by itself)"
    else:
        return Assessment(BRANCH, 0.8, f"{ev.workload.name}/{c.name} has an invalid config", tuple(reasons))
    headline = f"{ev.workload.name}/{c.name} references {kind} {name}, which does not exist"
    refs = [r for r in _refs(ev) if r.name == name]
    return Assessment(BRANCH, 0.95, headline, tuple(reasons), _env_remedies(ev, refs), next_step)


def _missing_refs(ev: Evidence) -> Assessment | None:
    missing = [r for r in _refs(ev) if r.exists is False and not r.optional]
    if not missing or ev.focus is None:
        return None
    reasons = tuple(
        Reason(f"{r.kind} {r.name} does not exist", f"{r.via} {r.env_var or ''} → {r.kind} {r.name}".strip(), "spec")
        for r in missing
    )
    first = missing[0]
    headline = f"{ev.workload.name} references {first.kind} {first.name}, which does not exist"
    next_step = f"create {first.kind} {ev.workload.namespace}/{first.name}, or remove the reference"
    return Assessment(BRANCH, 0.75, headline, reasons, _env_remedies(ev, missing), next_step)


def _exit_127(ev: Evidence) -> Assessment | None:
    c = ev.focus
    term = c.last_termination if c else None
    if c is None or term is None or term.exit_code not in (126, 127):
        return None
    what = "command not found" if term.exit_code == 127 else "command not executable"
    reasons = [Reason(f"exit {term.exit_code}: {what}", f"lastState.terminated: exitCode={term.exit_code}", "status")]
    said = find_last(ev.all_log_lines(), _NOT_RUNNABLE)
    if said is not None:  # the shell says which file: exit 126/127 plus that line is decisive, not a volume problem
        reasons.append(Reason(f"the shell could not run it: {said.signal.label}", said.quote, "logs"))
    headline = f"{ev.workload.name}/{c.name}: {what} (wrong entrypoint or missing binary)"
    score = 0.95 if said else 0.8
    return Assessment(
        BRANCH, score, headline, tuple(reasons), set_previous_image(ev), "check command/args and the image"
    )


def _refs(ev: Evidence) -> list[ObjectRef]:
    return [r for spec in ev.workload.containers for r in spec.refs]


def _env_remedies(ev: Evidence, refs: list[ObjectRef]) -> tuple[Remedy, ...]:
    remedies = []
    for ref in refs:
        if ref.env_var and ev.focus_container:
            params = {"container": ev.focus_container, "name": ref.env_var, "from_kind": ref.kind}
            title = f"Set {ref.env_var} from an existing Secret/ConfigMap"
            remedies.append(Remedy(RemedyId.SET_ENV, title, params, f"{ref.kind} {ref.name} is missing"))
    return tuple(remedies) + set_previous_image(ev)
