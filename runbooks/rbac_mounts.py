"""Runbook branch 4 — RBAC & mounts (permissions, service account, volumes).

Signals:
- a Forbidden answer from the Kubernetes API in the logs: `… is forbidden: User "system:serviceaccount:NS:SA"
  cannot VERB resource "R" in API group "G"` — the app's service account lacks a permission;
- `FailedMount` / `FailedAttachVolume` events (a volume cannot be mounted);
- "permission denied", "EACCES", "read-only file system" in the logs (file system permissions on a mount);
- the pod's service account does not exist.

Remedy: `service_account` — switch the pod template to an existing service account (one named after the
workload when it exists); the RBAC objects that would grant the missing permission are only proposed as YAML.
"""

from __future__ import annotations

import re

from runbooks.matching import Signal, find_last
from runbooks.model import Assessment, Branch, Evidence, Reason, Remedy, RemedyId

BRANCH = Branch.RBAC_MOUNTS
SUCCESS = "Permission/mount errors disappear; the pod reaches Ready."

_FORBIDDEN = re.compile(
    # quotes may come escaped (\") when the app logs the API's JSON error body
    r'User \\?"system:serviceaccount:(?P<ns>[\w.-]+):(?P<sa>[\w.-]+)\\?" '
    r'cannot (?P<verb>\w+) resource \\?"(?P<resource>[\w/.-]+)\\?"'
    r'(?: in API group \\?"(?P<group>[\w.-]*)\\?")?',
    re.IGNORECASE,
)
_FILE_PERMS = (
    Signal.of("permission denied on the file system", r"permission denied|EACCES|operation not permitted"),
    Signal.of("read-only file system", r"read-only file system"),
)
_FORBIDDEN_ANY = (Signal.of("Forbidden from the Kubernetes API", r"\bforbidden\b|\b403\b.*Forbidden"),)


def assess(ev: Evidence, policy: object = None) -> Assessment | None:
    for check in (_forbidden, _mount_events, _missing_service_account, _file_permissions):
        found = check(ev)
        if found is not None:
            return found
    return None


def _forbidden(ev: Evidence) -> Assessment | None:
    lines = ev.all_log_lines()
    hit = next((m for line in reversed(lines) if (m := _FORBIDDEN.search(line))), None)
    if hit is None:
        generic = find_last(lines, _FORBIDDEN_ANY)
        if generic is None:
            return None
        reason = Reason("the app got Forbidden from an API", generic.quote, "logs")
        return Assessment(BRANCH, 0.6, f"{ev.workload.name} is denied access", (reason,))
    line = next(line for line in reversed(lines) if _FORBIDDEN.search(line))
    sa, verb, resource, group = hit["sa"], hit["verb"], hit["resource"], hit["group"] or ""
    reason = Reason(f"service account {sa} may not {verb} {resource}", line.strip()[:300], "logs")
    headline = f"{ev.workload.name} runs as service account {sa}, which may not {verb} {resource}"
    remedy = service_account_remedy(ev, sa, verb, resource, group)
    next_step = "" if remedy else f"grant {verb} on {resource} to a service account (see the proposed YAML)"
    return Assessment(BRANCH, 0.9, headline, (reason,), (remedy,) if remedy else (), next_step)


def _mount_events(ev: Evidence) -> Assessment | None:
    mounts = [e for e in ev.events if e.reason in ("FailedMount", "FailedAttachVolume")]
    if not mounts:
        return None
    worst = max(mounts, key=lambda e: e.count)
    reason = Reason(f"a volume cannot be mounted ({worst.reason} x{worst.count})", worst.line(), "events")
    return Assessment(BRANCH, 0.9, f"{ev.workload.name} cannot mount a volume", (reason,), (), worst.message)


def _missing_service_account(ev: Evidence) -> Assessment | None:
    if ev.service_account_exists is not False:
        return None
    sa = ev.workload.service_account
    reason = Reason(f"service account {sa} does not exist", f"serviceAccountName: {sa}", "spec")
    remedy = service_account_remedy(ev, sa, None, None, "")
    return Assessment(
        BRANCH, 0.85, f"{ev.workload.name} uses a missing service account {sa}", (reason,), (remedy,) if remedy else ()
    )


def _file_permissions(ev: Evidence) -> Assessment | None:
    hit = find_last(ev.all_log_lines(), _FILE_PERMS)
    if hit is None:
        return None
    reason = Reason(hit.signal.label, hit.quote, "logs")
    next_step = "check the volume's ownership (securityContext.fsGroup / runAsUser) and readOnly mounts"
    return Assessment(BRANCH, 0.65, f"{ev.workload.name} is denied access to a file", (reason,), (), next_step)


def service_account_remedy(
    ev: Evidence, current: str, verb: str | None, resource: str | None, group: str
) -> Remedy | None:
    """Switch to the workload's own service account when it exists; always carry the RBAC proposal."""
    candidate = ev.workload.name if ev.workload.name in ev.service_accounts else None
    if candidate is None or candidate == current:
        return None
    params: dict[str, object] = {"from": current, "service_account": candidate}
    if verb and resource:
        params["missing"] = {"verb": verb, "resource": resource, "apiGroup": group}
        params["rbac_yaml"] = rbac_proposal(ev.workload.namespace, candidate, verb, resource, group)
    title = f"Use service account {candidate}"
    return Remedy(RemedyId.SERVICE_ACCOUNT, title, params, f"{current} lacks the permission")


def rbac_proposal(namespace: str, sa: str, verb: str, resource: str, group: str) -> str:
    """A minimal Role + RoleBinding granting exactly the missing permission (shown, never applied)."""
    verbs = sorted({verb, "get"}) if verb in ("list", "watch") else [verb]
    return (
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n"
        f"metadata: {{name: {sa}-{resource.replace('/', '-')}, namespace: {namespace}}}\n"
        f'rules:\n- apiGroups: ["{group}"]\n  resources: ["{resource}"]\n  verbs: {verbs}\n'
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n"
        f"metadata: {{name: {sa}-{resource.replace('/', '-')}, namespace: {namespace}}}\n"
        f"subjects: [{{kind: ServiceAccount, name: {sa}, namespace: {namespace}}}]\n"
        f"roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: {sa}-{resource.replace('/', '-')}}}\n"
    ).replace("'", '"')
