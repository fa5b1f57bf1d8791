"""Dispatch of writes to the simulated controllers, garbage collection, and re-checking pods.

After every persisted (not dry-run) write the matching controller runs synchronously, so a client sees the new
ReplicaSet and pods in its very next read. Deleting an owner deletes its dependents (background propagation) unless
the client asked to orphan them. A Secret, ConfigMap or ServiceAccount appearing or disappearing, or a dependency
being toggled, makes the kubelet re-check the pods and the controllers resume stuck rollouts. Pods that end on
their own (netcheck pods) get their final status written by `catch_up`, which the API runs before every request.
"""

from __future__ import annotations

from typing import Any

from .context import ClusterContext
from .daemonsets import sync_daemonset
from .deployments import sync_deployment
from .pods import delete_pod
from .replicasets import sync_replicaset
from .resources import ResourceType
from .statefulsets import sync_statefulset
from .store import meta

JsonObj = dict[str, Any]

_ENVIRONMENT = {"Secret", "ConfigMap", "ServiceAccount"}
_DEPENDENT_TYPES = (("apps", "replicasets"), ("", "pods"), ("apps", "controllerrevisions"))


class Controllers:
    def __init__(self, ctx: ClusterContext) -> None:
        self._ctx = ctx

    def sync(self, rt: ResourceType, obj: JsonObj, revision: int | None = None) -> None:
        """Run the controller of a workload that was just written."""
        if rt.kind == "Deployment":
            sync_deployment(self._ctx, obj, revision)
        elif rt.kind == "StatefulSet":
            sync_statefulset(self._ctx, obj, revision)
        elif rt.kind == "DaemonSet":
            sync_daemonset(self._ctx, obj, revision)
        elif rt.kind == "ReplicaSet":
            sync_replicaset(self._ctx, obj)
            self._sync_owner(obj)

    def after_write(self, rt: ResourceType, obj: JsonObj) -> None:
        if rt.kind in _ENVIRONMENT:
            self.refresh(str(meta(obj).get("namespace")))
        elif rt.kind == "Pod":
            self._ctx.kubelet.respec(obj)
            self._sync_owner(obj)
        else:
            self.sync(rt, obj)

    def after_delete(self, rt: ResourceType, obj: JsonObj, orphan: bool) -> None:
        if orphan:
            self._orphan(obj)
        else:
            self._collect(obj)
        if rt.kind in _ENVIRONMENT:
            self.refresh(str(meta(obj).get("namespace")))
        elif rt.kind == "Pod":
            self._sync_owner(obj)

    def catch_up(self) -> None:
        """Write the status of pods whose containers exited (or hit their deadline) since the last look."""
        ctx = self._ctx
        pods = ctx.type("", "pods")
        for namespace, name in ctx.kubelet.finished(ctx.clock.now()):
            pod = ctx.store.get(pods, namespace, name)
            if pod is not None:
                ctx.kubelet.report_finished(pod)
                ctx.store.put(pods, pod)  # the kubelet's status update: a new resourceVersion, a watch event

    def refresh(self, namespace: str | None = None) -> None:
        """Re-check pods (like the kubelet retrying) and let controllers react to what changed."""
        ctx = self._ctx
        pods = ctx.type("", "pods")
        self.catch_up()
        for pod in ctx.kubelet.reevaluate(ctx.store.list(pods, namespace)):
            ctx.store.put(pods, pod)  # a status change is a new resourceVersion, and watchers hear of it
        for group, plural in (
            ("apps", "replicasets"),
            ("apps", "statefulsets"),
            ("apps", "daemonsets"),
            ("apps", "deployments"),
        ):
            rt = ctx.type(group, plural)
            for obj in ctx.store.list(rt, namespace):
                if rt.kind != "ReplicaSet" or not meta(obj).get("ownerReferences"):
                    self.sync(rt, obj)
                else:
                    sync_replicaset(ctx, obj)

    def _sync_owner(self, obj: JsonObj) -> None:
        namespace = str(meta(obj).get("namespace"))
        for ref in meta(obj).get("ownerReferences") or []:
            rt = self._ctx.registry.by_kind(str(ref.get("apiVersion")), str(ref.get("kind")))
            owner = self._ctx.store.get(rt, namespace, str(ref.get("name"))) if rt else None
            if rt is not None and owner is not None and ref.get("controller"):
                self.sync(rt, owner)

    def _dependents(self, owner: JsonObj) -> list[tuple[ResourceType, JsonObj]]:
        uid, namespace = meta(owner).get("uid"), meta(owner).get("namespace")
        found = []
        for group, plural in _DEPENDENT_TYPES:
            rt = self._ctx.type(group, plural)
            for obj in self._ctx.store.list(rt, str(namespace) if namespace else None):
                if any(ref.get("uid") == uid for ref in meta(obj).get("ownerReferences") or []):
                    found.append((rt, obj))
        return found

    def _collect(self, owner: JsonObj) -> None:
        for rt, obj in self._dependents(owner):
            if rt.kind == "Pod":
                delete_pod(self._ctx, obj)
            else:
                self._ctx.store.remove(rt, str(meta(obj).get("namespace")), str(meta(obj)["name"]))
                self._collect(obj)

    def _orphan(self, owner: JsonObj) -> None:
        uid = meta(owner).get("uid")
        for rt, obj in self._dependents(owner):
            refs = [r for r in meta(obj).get("ownerReferences") or [] if r.get("uid") != uid]
            meta(obj)["ownerReferences"] = refs
            if not refs:
                meta(obj).pop("ownerReferences")
            self._ctx.store.put(rt, obj)
