"""Runbook branch 4 — RBAC & mounts (permissions, service account, volumes).

Signals:
- a Forbidden answer from the Kubernetes API in the logs: `… is forbidden: User "system:serviceaccount:NS:SA"
  cannot VERB resource "R" in API group "G"` — the app's service account lacks a permission;
- `FailedMount` / `FailedAttachVolume` events (a volume cannot be mounted);
- "permission denied", "EACCES", "read-only file system" in the logs (file system permissions on a mount);
- the pod's service account does not exist;
- a write to a path no volume backs, in a container with `readOnlyRootFilesystem: true`.
(Volume errors that name a path — permission denied, read-only, disk full — are signatures, `runbooks.signatures`,
tied to the volume mounted there and its claim size by `runbooks.signature_match`.)

Remedy: `service_account` — move a pod off the namespace's shared `default` account (or a missing one) to one named
after the workload, created by the proposal when it does not exist. The Role + RoleBinding (ClusterRole +
ClusterRoleBinding for a cluster-scope request) granting exactly the missing verb is always proposed as YAML
(`Assessment.proposal`), never applied; a workload already on its own account gets the YAML and no switch.
"""

from __future__ import annotations

import re

from runbooks.matching import Signal, excerpt, find_last, group_events
from runbooks.model import Assessment, Branch, Evidence, Reason, Remedy, RemedyId

BRANCH = Branch.RBAC_MOUNTS
SUCCESS = "Permission/mount errors disappear; the pod reaches Ready."

_FORBIDDEN = re.compile(
    # quotes may come escaped (\") when the app logs the API's JSON error body; older API servers omit "resource"
    r'User \\?"system:serviceaccount:(?P<ns>[\w.{}-]+):(?P<sa>[\w.-]+)\\?" '
    r'cannot (?P<verb>\w+) (?:resource )?\\?"?(?P<resource>[\w/-]+)(?P<dotted>\.[\w.-]+)?\\?"?'
    r'(?: in API group \\?"(?P<group>[\w.-]*)\\?")?(?P<scope> at the cluster scope)?',
    re.IGNORECASE,
)
_FILE_PERMS = (
    Signal.of("permission denied on the file system", r"permission denied|EACCES|operation not permitted"),
    Signal.of("read-only file system", r"read-only file system"),
)
_FORBIDDEN_ANY = (Signal.of("Forbidden from the Kubernetes API", r"\bforbidden\b|\b403\b.*Forbidden"),)


def assess(ev: Evidence, policy: object = None) -> Assessment | None:
    for check in (_forbidden, _mount_events, _missing_service_account, _read_only_root, _file_permissions):
        found = check(ev)
        if found is not None:
            return found
    return None


def _forbidden(ev: Evidence) -> Assessment | None:
    lines = ev.all_log_lines()
    found = next(((line, m) for line in reversed(lines) if (m := _FORBIDDEN.search(line))), None)
    if found is None:
        generic = find_last(lines, _FORBIDDEN_ANY)
        if generic is None:
            return None
        reason = Reason("the app got Forbidden from an API", generic.quote, "logs")
        return Assessment(BRANCH, 0.6, f"{ev.workload.name} is denied access", (reason,))
    line, hit = found
    sa, verb, resource = hit["sa"], hit["verb"], hit["resource"]
    group = hit["group"] or (hit["dotted"] or "").lstrip(".")
    cluster = bool(hit["scope"])
    reason = Reason(f"service account {sa} may not {verb} {resource}", excerpt(line, *hit.span()), "logs")
    headline = f"{ev.workload.name} runs as service account {sa}, which may not {verb} {resource}"
    remedy = service_account_remedy(ev, sa, verb, resource, group, cluster=cluster)
    account = str(remedy.params["service_account"]) if remedy else sa
    yaml = rbac_proposal(
        ev.workload.namespace,
        account,
        verb,
        resource,
        group,
        cluster=cluster,
        create_sa=bool(remedy and remedy.params.get("create")),
    )
    next_step = f"review and apply the proposed RBAC granting {verb} on {resource} to {account}"
    return Assessment(BRANCH, 0.9, headline, (reason,), (remedy,) if remedy else (), next_step, yaml)


def _mount_events(ev: Evidence) -> Assessment | None:
    mounts = [e for e in ev.events if e.reason in ("FailedMount", "FailedAttachVolume")]
    if not mounts:
        return None
    groups = group_events(mounts)[:3]  # one line per distinct failure, with how many pods reported it
    reasons = tuple(Reason(f"a volume cannot be mounted ({g.reason} x{g.count})", g.line(), "events") for g in groups)
    pod = f" (pod {ev.focus_pod}, container {ev.focus_container})" if ev.focus_pod else ""
    headline = f"{ev.workload.name} cannot mount a volume{pod}"
    return Assessment(BRANCH, 0.9, headline, reasons, (), groups[0].message)


def _missing_service_account(ev: Evidence) -> Assessment | None:
    if ev.service_account_exists is not False:
        return None
    sa = ev.workload.service_account
    reason = Reason(f"service account {sa} does not exist", f"serviceAccountName: {sa}", "spec")
    remedy = service_account_remedy(ev, sa, None, None, "")
    return Assessment(
        BRANCH, 0.85, f"{ev.workload.name} uses a missing service account {sa}", (reason,), (remedy,) if remedy else ()
    )


_WRITE = re.compile(
    r"\b(?:mkdir|open|create|creat|write|chmod|chown|touch|mktemp|rename)\b\W{0,3}[‘'\"]?(?P<path>/[\w./-]+)",
    re.IGNORECASE,
)


def _read_only_root(ev: Evidence) -> Assessment | None:
    """A failed write to a path no volume backs, in a container whose root file system is read-only."""
    spec = next((s for s in ev.workload.containers if s.name == ev.focus_container), None)
    if spec is None or not spec.read_only_root:
        return None
    mounted = [m.path.rstrip("/") + "/" for m in ev.workload.mounts if m.container == spec.name]
    for line in reversed(ev.all_log_lines()):
        m = _WRITE.search(line)
        if m and not any((m.group("path") + "/").startswith(p) for p in mounted):
            path = m.group("path")
            text = (
                f"the container writes {path}, but its root file system is read-only "
                "(securityContext.readOnlyRootFilesystem: true) and no volume is mounted there"
            )
            next_step = f"mount an emptyDir at {path.rsplit('/', 1)[0] or '/'} (or let the container write its root)"
            headline = f"{ev.workload.name}/{spec.name} cannot write {path}: read-only root file system"
            return Assessment(BRANCH, 0.88, headline, (Reason(text, excerpt(line, *m.span()), "logs"),), (), next_step)
    return None


def _file_permissions(ev: Evidence) -> Assessment | None:
    hit = find_last(ev.all_log_lines(), _FILE_PERMS)
    if hit is None:
        return None
    reason = Reason(hit.signal.label, hit.quote, "logs")
    next_step = "check the volume's ownership (securityContext.fsGroup / runAsUser) and readOnly mounts"
    return Assessment(BRANCH, 0.65, f"{ev.workload.name} is denied access to a file", (reason,), (), next_step)


def service_account_remedy(
    ev: Evidence, current: str, verb: str | None, resource: str | None, group: str, *, cluster: bool = False
) -> Remedy | None:
    """Move a pod off the namespace's shared `default` account (or a missing one) to its own account.

    The account named after the workload is proposed; when it does not exist yet, creating it is part of the
    reviewed RBAC proposal (`create`: true). A workload that already runs as its own account keeps it: the fix is
    a rule in its Role, which is proposed as YAML, not a switch.
    """
    candidate = ev.workload.name
    own_account = current != "default" and ev.service_account_exists is not False
    if own_account or candidate == current:
        return None
    params: dict[str, object] = {"from": current, "service_account": candidate}
    if candidate not in ev.service_accounts:
        params["create"] = True
    if verb and resource:
        params["missing"] = {"verb": verb, "resource": resource, "apiGroup": group}
        params["rbac_yaml"] = rbac_proposal(
            ev.workload.namespace,
            candidate,
            verb,
            resource,
            group,
            cluster=cluster,
            create_sa=bool(params.get("create")),
        )
    made = " (created by the proposed YAML)" if params.get("create") else ""
    title = f"Use service account {candidate}{made}"
    return Remedy(RemedyId.SERVICE_ACCOUNT, title, params, f"{current} is shared by every pod of the namespace")


def rbac_proposal(
    namespace: str, sa: str, verb: str, resource: str, group: str, *, cluster: bool = False, create_sa: bool = False
) -> str:
    """A minimal Role + RoleBinding (ClusterRole + ClusterRoleBinding for a cluster-scope request) granting exactly
    the missing verb on the missing resource to `sa` — shown for review, never applied by the bot."""
    verbs = sorted({verb, "get"}) if verb in ("list", "watch") else [verb]
    quoted = ", ".join(f'"{v}"' for v in verbs)
    name = f"{sa}-{verb}-{resource.replace('/', '-')}"
    role, binding = ("ClusterRole", "ClusterRoleBinding") if cluster else ("Role", "RoleBinding")
    where = "" if cluster else f", namespace: {namespace}"
    account = f"apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {sa}, namespace: {namespace}}}\n---\n"
    return (
        (account if create_sa else "")
        + f"apiVersion: rbac.authorization.k8s.io/v1\nkind: {role}\nmetadata: {{name: {name}{where}}}\n"
        + f'rules:\n- apiGroups: ["{group}"]\n  resources: ["{resource}"]\n  verbs: [{quoted}]\n'
        + f"---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {binding}\nmetadata: {{name: {name}{where}}}\n"
        + f"subjects: [{{kind: ServiceAccount, name: {sa}, namespace: {namespace}}}]\n"
        + f"roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: {role}, name: {name}}}\n"
    )
