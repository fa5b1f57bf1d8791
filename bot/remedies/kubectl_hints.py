"""The kubectl commands a remedy corresponds to, shown next to it so a human can check or run it by hand.

One builder per remedy, each taking the workload reference (`deployment/web`), the quoted namespace and the
remedy's parameters; `bot.remedies.registry` puts each in its remedy's spec.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from bot.core.redact import redact


def _status(ref: str, ns: str) -> str:
    return f"kubectl rollout status {ref} -n {ns}"


def bump_memory(ref: str, ns: str, p: dict[str, Any]) -> list[str]:
    return [f"kubectl set resources {ref} -n {ns} -c {p['container']} --limits=memory={p['to']}", _status(ref, ns)]


def set_image(ref: str, ns: str, p: dict[str, Any]) -> list[str]:
    command = f"kubectl set image {ref} -n {ns} {p['container']}={_image(p)}"
    return [command] if ref.startswith("pod/") else [command, _status(ref, ns)]


def _image(p: dict[str, Any]) -> str:
    return shlex.quote(str(p["image"])) if p.get("image") else "<a working image>"


def rollout_undo(ref: str, ns: str, p: dict[str, Any]) -> list[str]:
    revision = f" --to-revision={p['to_revision']}" if p.get("to_revision") else ""
    return [f"kubectl rollout undo {ref} -n {ns}{revision}", _status(ref, ns)]


def rollout_restart(ref: str, ns: str, _: dict[str, Any]) -> list[str]:
    return [f"kubectl rollout restart {ref} -n {ns}", _status(ref, ns)]


def set_env(ref: str, ns: str, p: dict[str, Any]) -> list[str]:
    return [f"kubectl set env {ref} -n {ns} -c {p['container']} {p['name']}=<value>  (or --from=secret/<name>)"]


def service_account(ref: str, ns: str, p: dict[str, Any]) -> list[str]:
    patch = json.dumps({"spec": {"template": {"spec": {"serviceAccountName": p["service_account"]}}}})
    first = ["kubectl apply -f proposed-rbac.yaml  # after review: the YAML shown above"] if p.get("create") else []
    return [*first, f"kubectl patch {ref} -n {ns} -p {shlex.quote(patch)}", _status(ref, ns)]


def netcheck(_: str, ns: str, p: dict[str, Any]) -> list[str]:
    target = f"{p['host']} {p['port']}" if p.get("port") else str(p["host"])
    check = shlex.quote(f"nslookup {p['host']}; nc -zv -w 3 {target} && echo ok || echo fail")
    return [f"kubectl run netcheck --rm -it --restart=Never -n {ns} --image=busybox:1.36 -- sh -c {check}"]


def patch_probes(ref: str, ns: str, p: dict[str, Any]) -> list[str]:
    return [f"kubectl edit {ref} -n {ns}  # probes for {p['container']}: {json.dumps(p['probes'])}"]


def silence(ref: str, ns: str, p: dict[str, Any]) -> list[str]:
    """amtool's equivalent: exactly the matchers `bot.alertmanager.matchers` derives for the workload, with the
    environment's cluster when the caller passes it as `cluster` (the guard's silence preview does)."""
    kind, _, name = ref.partition("/")
    kinds = {"deployment": "Deployment", "statefulset": "StatefulSet", "daemonset": "DaemonSet", "pod": "Pod"}
    if kind not in kinds:
        return []
    namespace = shlex.split(ns)[0] if ns else ns
    cluster = str(p["cluster"]) if p.get("cluster") else None
    from bot.alertmanager.matchers import workload_matchers  # only for this hint: a triage shows no silence

    matchers = workload_matchers(kind=kinds[kind], namespace=namespace, workload=name, cluster=cluster)
    comment = shlex.quote(redact(str(p.get("comment") or "crashloop-bot")))
    return [
        f"amtool silence add --alertmanager.url=$ALERTMANAGER_URL --duration={shlex.quote(str(p.get('duration')))} "
        f"--comment={comment} " + " ".join(shlex.quote(m.text()) for m in matchers)
    ]


def unsilence(_: str, __: str, p: dict[str, Any]) -> list[str]:
    return [f"amtool silence expire --alertmanager.url=$ALERTMANAGER_URL {shlex.quote(str(p.get('silence_id')))}"]
