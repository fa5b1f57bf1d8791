"""The only path that changes a cluster: dry-run previews, guarded patches, netcheck pods, recovery checks.

Patches carry the workload's resourceVersion as a precondition (a JSON-patch `test`, or `metadata.resourceVersion`
in a merge patch), so a workload that changed between preview and apply is refused by the API server (409)
instead of being overwritten. A 403 becomes "the bot is not allowed to …" naming the missing permission.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.core.redact import mask_pod_secrets
from bot.kube.client import KubeError, KubeObject
from bot.kube.parse import selector_string
from bot.remedies.patches import (
    NetcheckResult,
    PatchPlan,
    netcheck_pod,
    parse_netcheck_log,
    plan,
    template_diff,
    template_of,
)
from bot.triage.run import Triager

_RESOURCES = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


class LostAnswer(KubeError):
    """The PATCH was sent but its answer was lost (timeout, dropped connection, 5xx): it may have landed."""

    def __init__(self, exc: KubeError, patch: PatchPlan) -> None:
        super().__init__(exc.what, exc.status, exc.reason, exc.message)
        self.patch = patch


@dataclass(frozen=True)
class Target:
    """The workload a change is about."""

    environment: str
    kind: str
    namespace: str
    name: str


@dataclass(frozen=True)
class Preview:
    """What a change would do, as the API server computed it (dry run)."""

    plan: PatchPlan
    diff: str
    resource_version: str
    generation: int | None


@dataclass(frozen=True)
class Recovery:
    """How the workload looked when the recovery check ended."""

    recovered: bool
    ready: int
    desired: int
    restarts: int
    detail: str


_FORBIDDEN = re.compile(
    r'cannot (?P<verb>\w+) resource "(?P<resource>[\w/.-]+)"(?: in API group "(?P<group>[\w.-]*)")?'
    r'(?: in the namespace "(?P<ns>[\w.-]+)")?'
)


def masked_template(template: KubeObject) -> KubeObject:
    """A pod template as a diff may show it: secret args/command items and secrets in any string masked
    (`mask_pod_secrets`) before the diff is computed. Env lists are kept as they are: `template_diff` hides every
    literal env value itself and still tells when one changed, which a mask applied first would hide."""
    masked: KubeObject = mask_pod_secrets(template)
    spec, original = masked.get("spec") or {}, template.get("spec") or {}
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for mine, theirs in zip(spec.get(field) or [], original.get(field) or [], strict=False):
            if isinstance(mine, dict) and isinstance(theirs, dict) and "env" in theirs:
                mine["env"] = [_env_entry(e) for e in theirs["env"]]
    return masked


def _env_entry(entry: Any) -> Any:
    """An env entry with everything but its literal value (which `template_diff` masks) redacted."""
    if not isinstance(entry, dict) or "value" not in entry:
        return mask_pod_secrets(entry)
    return {**mask_pod_secrets({k: v for k, v in entry.items() if k != "value"}), "value": entry["value"]}


def not_allowed(exc: KubeError) -> str:
    """A 403 in words an operator can act on: the verb, the resource and where, as the RBAC rule needs them."""
    m = _FORBIDDEN.search(exc.message)
    if m is None:
        return f"the bot is not allowed to {exc.what}: {exc.message}; grant it in the bot's RBAC (deploy/rbac)"
    group = f" (API group {m['group']})" if m["group"] else ""
    where = f" in {m['ns']}" if m["ns"] else " cluster-wide"
    return (
        f"the bot is not allowed to {m['verb']} {m['resource']}{where}: its Role lacks "
        f"verb {m['verb']!r} on {m['resource']!r}{group}; grant it in the bot's RBAC (deploy/rbac)"
    )


class Executor:
    """Changes to one cluster environment at a time, through the triager's connections."""

    def __init__(self, triager: Triager) -> None:
        self.triager = triager

    async def read(self, t: Target) -> tuple[KubeObject, list[KubeObject]]:
        """The workload and its rollout history (ReplicaSets or ControllerRevisions), as JSON."""
        reader, kube = self.triager.reader(t.environment), self.triager.kube
        obj = await kube.call(
            f"get {t.kind.lower()} {t.namespace}/{t.name}", reader.get_workload, t.kind, t.namespace, t.name
        )
        selector = selector_string((obj.get("spec") or {}).get("selector"))
        history_of = reader.list_replicasets if t.kind == "Deployment" else reader.list_controller_revisions
        history = await kube.call(f"rollout history of {t.namespace}/{t.name}", history_of, t.namespace, selector)
        return obj, history

    async def preview(
        self, t: Target, remedy: str, params: dict[str, Any], live: tuple[KubeObject, list[KubeObject]] | None = None
    ) -> Preview:
        """Plan the patch from the live workload (`live`, or read now) and have the API server dry-run it.

        PlanError/KubeError on failure.
        """
        obj, history = live or await self.read(t)
        patch = plan(remedy, params, obj, history)
        result = await self._patch(t, patch, dry_run=True)
        meta = obj.get("metadata") or {}
        return Preview(
            patch,
            template_diff(masked_template(template_of(obj)), masked_template(template_of(result))),
            str(meta.get("resourceVersion")),
            meta.get("generation"),
        )

    async def apply(
        self,
        t: Target,
        remedy: str,
        params: dict[str, Any],
        resource_version: str,
        *,
        before_send: Callable[[PatchPlan], Awaitable[None]] | None = None,
    ) -> KubeObject:
        """Apply the patch if the workload is still at `resource_version` (else KubeError 409 Conflict).

        `before_send` hears the exact patch before it leaves (the guard keeps it in SQL, to settle a lost answer
        even after a crash). A lost answer (timeout, dropped connection, 5xx) raises `LostAnswer`, carrying it.
        """
        obj, history = await self.read(t)
        patch = plan(remedy, params, obj, history)
        if before_send is not None:
            await before_send(patch)
        try:
            return await self._patch(t, _with_precondition(patch, resource_version), dry_run=False)
        except KubeError as exc:
            if exc.status is None or exc.status >= 500:
                raise LostAnswer(exc, patch) from exc
            raise

    async def _patch(self, t: Target, patch: PatchPlan, *, dry_run: bool) -> KubeObject:
        writer = self.triager.writer(t.environment)
        return await self.triager.kube.call(
            f"patch {_RESOURCES[t.kind]} in {t.namespace}",
            writer.patch_workload,
            t.kind,
            t.namespace,
            t.name,
            patch.body,
            patch.patch_type,
            dry_run=dry_run,
        )

    async def service_accounts(self, t: Target) -> frozenset[str]:
        """The names of the service accounts in the workload's namespace (a remedy may only pick one of them)."""
        reader, kube = self.triager.reader(t.environment), self.triager.kube
        names = await kube.call(f"list serviceaccounts in {t.namespace}", reader.list_service_accounts, t.namespace)
        return frozenset(names)

    async def namespace_pods(self, t: Target) -> list[KubeObject]:
        """Every pod in the workload's namespace (a silence's pod matcher must match none but the workload's)."""
        reader, kube = self.triager.reader(t.environment), self.triager.kube
        return await kube.call(f"list pods in {t.namespace}", reader.list_pods, t.namespace, "")

    async def netcheck(
        self, t: Target, host: str, port: int | None, *, dry_run: bool, wait: float = 45.0
    ) -> NetcheckResult | KubeObject:
        """Run the throwaway check pod (or dry-run its creation), read its verdict, delete it."""
        name = f"netcheck-{t.name[:40]}-{secrets.token_hex(3)}"
        manifest = netcheck_pod(t.namespace, host, port, name=name, owner_workload=t.name)
        writer, kube = self.triager.writer(t.environment), self.triager.kube
        created = await kube.call(
            f"create pods in {t.namespace}", writer.create_pod, t.namespace, manifest, dry_run=dry_run
        )
        if dry_run:
            return created
        try:
            await self._wait_finished(t, name, wait)
            reader = self.triager.reader(t.environment)
            log = await kube.call(
                f"read logs of {t.namespace}/{name}",
                reader.read_log,
                t.namespace,
                name,
                "netcheck",
                previous=False,
                tail_lines=50,
                limit_bytes=16384,
            )
            return parse_netcheck_log(log)
        finally:
            with contextlib.suppress(KubeError):  # activeDeadlineSeconds ends it anyway; its label finds it
                await kube.call(f"delete pods in {t.namespace}", writer.delete_pod, t.namespace, name)

    async def _wait_finished(self, t: Target, name: str, wait: float) -> None:
        reader, kube = self.triager.reader(t.environment), self.triager.kube
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            pod = await kube.call(f"get pod {t.namespace}/{name}", reader.get_workload, "Pod", t.namespace, name)
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                return
            await asyncio.sleep(1.0)
        raise KubeError(f"wait for pod {t.namespace}/{name}", None, "timeout", f"not finished within {wait:g}s")

    async def recovery(
        self,
        t: Target,
        *,
        within: float,
        stable: float,
        interval: float = 2.0,
        on_observe: Callable[[Recovery], Awaitable[None]] | None = None,
    ) -> Recovery:
        """Watch until the workload's pods are all Ready and their restart counts stop growing for `stable` seconds.

        `on_observe` hears every observation (what the check still waits for).
        """
        deadline = time.monotonic() + within
        last: tuple[int, float] | None = None
        state = Recovery(False, 0, 0, 0, "no observation yet")
        while time.monotonic() < deadline:
            state = await self._observe(t)
            if on_observe is not None:
                await on_observe(state)
            now = time.monotonic()
            if state.ready and state.ready >= state.desired:
                if last is None or last[0] != state.restarts:
                    last = (state.restarts, now)
                elif now - last[1] >= stable:
                    return Recovery(True, state.ready, state.desired, state.restarts, "pods Ready, restarts stopped")
            else:
                last = None
            await asyncio.sleep(interval)
        return Recovery(
            False, state.ready, state.desired, state.restarts, f"not recovered within {within:g}s: {state.detail}"
        )

    async def _observe(self, t: Target) -> Recovery:
        reader, kube = self.triager.reader(t.environment), self.triager.kube
        obj = await kube.call(
            f"get {t.kind.lower()} {t.namespace}/{t.name}", reader.get_workload, t.kind, t.namespace, t.name
        )
        selector = selector_string((obj.get("spec") or {}).get("selector"))
        pods = await kube.call(f"list pods of {t.namespace}/{t.name}", reader.list_pods, t.namespace, selector)
        desired = int(
            (obj.get("spec") or {}).get("replicas") or (obj.get("status") or {}).get("desiredNumberScheduled") or 1
        )
        live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
        ready = sum(1 for p in live if _pod_ready(p))
        restarts = sum(
            int(c.get("restartCount", 0)) for p in live for c in (p.get("status") or {}).get("containerStatuses") or []
        )
        waiting = sorted(
            {
                (c.get("state") or {}).get("waiting", {}).get("reason", "")
                for p in live
                for c in (p.get("status") or {}).get("containerStatuses") or []
            }
            - {""}
        )
        detail = f"{ready}/{desired} pods ready, {restarts} restarts" + (
            f", waiting: {', '.join(waiting)}" if waiting else ""
        )
        return Recovery(False, ready, desired, restarts, detail)


def _pod_ready(pod: KubeObject) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _with_precondition(patch: PatchPlan, resource_version: str) -> PatchPlan:
    """The same patch, refused by the API server (409) if the object is no longer at `resource_version`."""
    body = copy.deepcopy(patch.body)
    if patch.patch_type == "json" and isinstance(body, list):
        body.insert(0, {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version})
    elif isinstance(body, dict):
        body.setdefault("metadata", {})["resourceVersion"] = resource_version
    return PatchPlan(patch.patch_type, body, patch.summary)
