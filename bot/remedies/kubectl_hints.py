"""The kubectl commands a remedy corresponds to, shown next to it so a human can check or run it by hand."""

from __future__ import annotations

import json
import shlex
from typing import Any

from runbooks.model import Remedy, RemedyId, Workload


def kubectl_command(w: Workload, remedy: Remedy) -> list[str]:
    """The runbook's command(s) for `remedy` on workload `w`; empty for remedies with no one-liner."""
    p = remedy.params
    ns = shlex.quote(w.namespace)
    if w.kind == "Pod":  # a bare pod has no template: only what a pod itself allows
        return _pod_command(w, remedy, ns)
    ref = f"{w.kind.lower()}/{w.name}"
    status = f"kubectl rollout status {ref} -n {ns}"
    if remedy.id == RemedyId.BUMP_MEMORY:
        return [f"kubectl set resources {ref} -n {ns} -c {p['container']} --limits=memory={p['to']}", status]
    if remedy.id == RemedyId.SET_IMAGE:
        return [f"kubectl set image {ref} -n {ns} {p['container']}={_image(p)}", status]
    if remedy.id == RemedyId.ROLLOUT_UNDO:
        return [f"kubectl rollout undo {ref} -n {ns} --to-revision={p['to_revision']}", status]
    if remedy.id == RemedyId.ROLLOUT_RESTART:
        return [f"kubectl rollout restart {ref} -n {ns}", status]
    if remedy.id == RemedyId.SET_ENV:
        return [f"kubectl set env {ref} -n {ns} -c {p['container']} {p['name']}=<value>  (or --from=secret/<name>)"]
    if remedy.id == RemedyId.SERVICE_ACCOUNT:
        patch = json.dumps({"spec": {"template": {"spec": {"serviceAccountName": p["service_account"]}}}})
        first = ["kubectl apply -f proposed-rbac.yaml  # after review: the YAML shown above"] if p.get("create") else []
        return [*first, f"kubectl patch {ref} -n {ns} -p {shlex.quote(patch)}", status]
    if remedy.id == RemedyId.NETCHECK:
        return _netcheck(p, ns)
    if remedy.id == RemedyId.PATCH_PROBES:
        return [f"kubectl edit {ref} -n {ns}  # probes for {p['container']}: {json.dumps(p['probes'])}"]
    return []


def _image(p: dict[str, Any]) -> str:
    return shlex.quote(str(p["image"])) if p.get("image") else "<a working image>"


def _pod_command(w: Workload, remedy: Remedy, ns: str) -> list[str]:
    """A pod's container image is the one field of a running pod that may change; the rest needs a new manifest."""
    p = remedy.params
    if remedy.id == RemedyId.SET_IMAGE:
        return [f"kubectl set image pod/{w.name} -n {ns} {p['container']}={_image(p)}"]
    if remedy.id == RemedyId.NETCHECK:
        return _netcheck(p, ns)
    return []


def _netcheck(p: dict[str, Any], ns: str) -> list[str]:
    target = f"{p['host']} {p['port']}" if p.get("port") else str(p["host"])
    check = shlex.quote(f"nslookup {p['host']}; nc -zv -w 3 {target} && echo ok || echo fail")
    return [f"kubectl run netcheck --rm -it --restart=Never -n {ns} --image=busybox:1.36 -- sh -c {check}"]
