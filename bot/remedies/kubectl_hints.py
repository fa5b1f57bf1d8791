"""The kubectl commands a remedy corresponds to, shown next to it so a human can check or run it by hand."""

from __future__ import annotations

import json
import shlex

from runbooks.model import Remedy, RemedyId, Workload


def kubectl_command(w: Workload, remedy: Remedy) -> list[str]:
    """The runbook's command(s) for `remedy` on workload `w`; empty for remedies with no one-liner."""
    ref = f"{w.kind.lower()}/{w.name}" if w.kind != "Pod" else ""
    if not ref:
        return []
    p = remedy.params
    ns = shlex.quote(w.namespace)
    status = f"kubectl rollout status {ref} -n {ns}"
    if remedy.id == RemedyId.BUMP_MEMORY:
        return [f"kubectl set resources {ref} -n {ns} -c {p['container']} --limits=memory={p['to']}", status]
    if remedy.id == RemedyId.SET_IMAGE:
        return [f"kubectl set image {ref} -n {ns} {p['container']}={shlex.quote(str(p['image']))}", status]
    if remedy.id == RemedyId.ROLLOUT_UNDO:
        return [f"kubectl rollout undo {ref} -n {ns} --to-revision={p['to_revision']}", status]
    if remedy.id == RemedyId.ROLLOUT_RESTART:
        return [f"kubectl rollout restart {ref} -n {ns}", status]
    if remedy.id == RemedyId.SET_ENV:
        return [f"kubectl set env {ref} -n {ns} -c {p['container']} {p['name']}=<value>  (or --from=secret/<name>)"]
    if remedy.id == RemedyId.SERVICE_ACCOUNT:
        patch = json.dumps({"spec": {"template": {"spec": {"serviceAccountName": p["service_account"]}}}})
        return [f"kubectl patch {ref} -n {ns} -p {shlex.quote(patch)}", status]
    if remedy.id == RemedyId.NETCHECK:
        target = f"{p['host']} {p['port']}" if p.get("port") else str(p["host"])
        check = shlex.quote(f"nslookup {p['host']}; nc -zv -w 3 {target} && echo ok || echo fail")
        return [f"kubectl run netcheck --rm -it --restart=Never -n {ns} --image=busybox:1.36 -- sh -c {check}"]
    if remedy.id == RemedyId.PATCH_PROBES:
        return [f"kubectl edit {ref} -n {ns}  # probes for {p['container']}: {json.dumps(p['probes'])}"]
    return []
