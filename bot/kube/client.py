"""The bot's only door to the Kubernetes API.

It connects through a kubeconfig context or in-cluster config, makes one API call per method, and returns the
API's own JSON (dicts) — no generated models, which are slow to import and deserialise and which the bot does not
need. Every call has a timeout; every failure becomes a `KubeError` that says what was tried and what the API
answered (403 with the missing permission, 404, timeout), so callers can record it instead of crashing.
Secrets are only ever read as metadata (`PartialObjectMetadata`): their values never enter the process.

The calls go through `bot.kube.transport` (the standard library's http.client), with the cluster and credentials read by
`bot.kube.kubeconfig` — not through the `kubernetes` package, whose import alone was most of a triage's wall time
and of the bot's idle memory (bench/cli_speed.py, bench/storm.py). Only a context using a legacy `auth-provider`
is loaded by that package (`bot.kube.fallback`, imported only then); reads and writes alike use the same transport.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.core.redact import redact
from bot.kube.kubeconfig import KubeconfigError, NeedsFullClient, load_incluster, load_kubeconfig
from bot.kube.transport import ApiStatusError, Connection, Response

KubeObject = dict[str, Any]
_METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


class KubeError(Exception):
    """A failed API call: `status` is the HTTP code (None for timeouts and connection errors); every text redacted."""

    def __init__(self, what: str, status: int | None, reason: str, message: str) -> None:
        # the apiserver echoes what it was sent (a rejected env value, an arg): no error text carries it in clear
        what, reason, message = redact(what), redact(reason), redact(message)
        super().__init__(f"{what}: {status or ''} {reason}: {message}".replace("  ", " "))
        self.what = what
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def short(self) -> str:
        """e.g. "403 Forbidden", "timeout"."""
        return f"{self.status} {self.reason}" if self.status else self.reason


class KubeConfigError(Exception):
    """The kubeconfig context or in-cluster config cannot be loaded."""


@dataclass(frozen=True)
class Timeouts:
    """Per-call timeouts in seconds: connecting, and reading the answer."""

    connect: float = 3.0
    read: float = 5.0


def connect(context: str | None, kubeconfig: str | None = None, pool_size: int = 32) -> Connection:
    """A connection for a kubeconfig context, or for in-cluster config when `context` and `kubeconfig` are None."""
    where = f"context {context!r}" if context else ("in-cluster config" if kubeconfig is None else "current context")
    try:
        if context is None and kubeconfig is None:
            return Connection(load_incluster(), pool_size=pool_size)
        try:
            return Connection(load_kubeconfig(kubeconfig, context), pool_size=pool_size)
        except NeedsFullClient:
            from bot.kube.fallback import load_with_kubernetes

            access, auth = load_with_kubernetes(kubeconfig, context)
            return Connection(access, pool_size=pool_size, auth=auth)
    except KubeconfigError as exc:
        raise KubeConfigError(f"cannot load Kubernetes {where}: {exc}") from exc


# Every call the bot makes: (HTTP method, path with {placeholders}). The adapters below name their routes literally,
# so tests/deploy/test_deploy_rbac.py can derive the RBAC each adapter needs from this module's syntax tree.
ROUTES: dict[str, tuple[str, str]] = {
    "version": ("GET", "/version"),
    "read_pod": ("GET", "/api/v1/namespaces/{namespace}/pods/{name}"),
    "list_pods": ("GET", "/api/v1/namespaces/{namespace}/pods"),
    "read_pod_log": ("GET", "/api/v1/namespaces/{namespace}/pods/{name}/log"),
    "create_pod": ("POST", "/api/v1/namespaces/{namespace}/pods"),
    "delete_pod": ("DELETE", "/api/v1/namespaces/{namespace}/pods/{name}"),
    "list_events": ("GET", "/api/v1/namespaces/{namespace}/events"),
    "read_secret": ("GET", "/api/v1/namespaces/{namespace}/secrets/{name}"),
    "read_configmap": ("GET", "/api/v1/namespaces/{namespace}/configmaps/{name}"),
    "read_serviceaccount": ("GET", "/api/v1/namespaces/{namespace}/serviceaccounts/{name}"),
    "list_serviceaccounts": ("GET", "/api/v1/namespaces/{namespace}/serviceaccounts"),
    "read_deployment": ("GET", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"),
    "list_deployments": ("GET", "/apis/apps/v1/namespaces/{namespace}/deployments"),
    "patch_deployment": ("PATCH", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}"),
    "read_statefulset": ("GET", "/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}"),
    "list_statefulsets": ("GET", "/apis/apps/v1/namespaces/{namespace}/statefulsets"),
    "patch_statefulset": ("PATCH", "/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}"),
    "read_daemonset": ("GET", "/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}"),
    "list_daemonsets": ("GET", "/apis/apps/v1/namespaces/{namespace}/daemonsets"),
    "patch_daemonset": ("PATCH", "/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}"),
    "read_replicaset": ("GET", "/apis/apps/v1/namespaces/{namespace}/replicasets/{name}"),
    "list_replicasets": ("GET", "/apis/apps/v1/namespaces/{namespace}/replicasets"),
    "list_controllerrevisions": ("GET", "/apis/apps/v1/namespaces/{namespace}/controllerrevisions"),
    "read_lease": ("GET", "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"),
    "create_lease": ("POST", "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"),
    "replace_lease": ("PUT", "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"),
}


class KubeReader:
    """Read-only calls triage needs. Blocking: callers run them in a thread pool (see `bot.triage.evidence`)."""

    def __init__(self, api: Connection, timeouts: Timeouts | None = None) -> None:
        self.api = api
        t = timeouts or Timeouts()
        self._timeout = (t.connect, t.read)

    def close(self) -> None:
        self.api.close()

    def version(self) -> str:
        """The API server's version (`/version`, readable by any authenticated client): a reachability check."""
        data = self._json("get /version", "version")
        return str(data.get("gitVersion", "unknown"))

    # --- workloads ---------------------------------------------------------------------------------------

    def get_workload(self, kind: str, namespace: str, name: str) -> KubeObject:
        route = {
            "Deployment": "read_deployment",
            "StatefulSet": "read_statefulset",
            "DaemonSet": "read_daemonset",
            "ReplicaSet": "read_replicaset",
            "Pod": "read_pod",
        }[kind]
        return self._json(f"get {kind.lower()} {namespace}/{name}", route, namespace=namespace, name=name)

    def list_workloads(self, kind: str, namespace: str) -> list[KubeObject]:
        route = {"Deployment": "list_deployments", "StatefulSet": "list_statefulsets", "DaemonSet": "list_daemonsets"}[
            kind
        ]
        return self._items(f"list {kind.lower()}s in {namespace}", route, namespace=namespace)

    def list_pods(self, namespace: str, selector: str) -> list[KubeObject]:
        return self._items(
            f"list pods {selector} in {namespace}",
            "list_pods",
            namespace=namespace,
            query=[("labelSelector", selector)],
        )

    def list_replicasets(self, namespace: str, selector: str) -> list[KubeObject]:
        return self._items(
            f"list replicasets in {namespace}",
            "list_replicasets",
            namespace=namespace,
            query=[("labelSelector", selector)],
        )

    def list_controller_revisions(self, namespace: str, selector: str) -> list[KubeObject]:
        return self._items(
            f"list controllerrevisions in {namespace}",
            "list_controllerrevisions",
            namespace=namespace,
            query=[("labelSelector", selector)],
        )

    # --- what happened -----------------------------------------------------------------------------------

    def list_events(self, namespace: str, involved_name: str, kind: str | None = None) -> list[KubeObject]:
        selector = f"involvedObject.name={involved_name}"
        if kind:
            selector += f",involvedObject.kind={kind}"
        return self._items(
            f"events of {namespace}/{involved_name}",
            "list_events",
            namespace=namespace,
            query=[("fieldSelector", selector)],
        )

    def read_log(
        self, namespace: str, pod: str, container: str, *, previous: bool, tail_lines: int, limit_bytes: int
    ) -> str:
        what = f"logs {'--previous ' if previous else ''}{namespace}/{pod}/{container}"
        query = [
            ("container", container),
            ("previous", previous),
            ("tailLines", tail_lines),
            ("limitBytes", limit_bytes),
        ]
        response = self._call(what, "read_pod_log", namespace=namespace, name=pod, query=query)
        return bytes(response.data).decode("utf-8", errors="replace")

    # --- references (existence only) ---------------------------------------------------------------------

    def exists(self, kind: str, namespace: str, name: str) -> bool:
        """Whether a Secret/ConfigMap/ServiceAccount exists; reads metadata only, never values."""
        route = {"Secret": "read_secret", "ConfigMap": "read_configmap", "ServiceAccount": "read_serviceaccount"}[kind]
        try:
            what = f"get {kind.lower()} {namespace}/{name}"
            self._call(what, route, namespace=namespace, name=name, headers=_accept(_METADATA_ONLY))
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def list_service_accounts(self, namespace: str) -> list[str]:
        items = self._items(
            f"list serviceaccounts in {namespace}",
            "list_serviceaccounts",
            namespace=namespace,
            headers=_accept(_METADATA_LIST),
        )
        return [str(i.get("metadata", {}).get("name")) for i in items]

    # --- plumbing ----------------------------------------------------------------------------------------

    def _items(self, what: str, route: str, **kwargs: Any) -> list[KubeObject]:
        items = self._json(what, route, **kwargs).get("items") or []
        return list(items)

    def _json(self, what: str, route: str, **kwargs: Any) -> KubeObject:
        response = self._call(what, route, **kwargs)
        try:
            data = json.loads(response.data)
        except ValueError as exc:
            raise KubeError(what, response.status, "BadResponse", f"not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise KubeError(what, response.status, "BadResponse", "expected a JSON object")
        return data

    def _call(
        self,
        what: str,
        route: str,
        *,
        namespace: str = "",
        name: str = "",
        query: list[tuple[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> Response:
        method, template = ROUTES[route]
        path = template.format(namespace=quote(namespace, safe=""), name=quote(name, safe=""))
        try:
            return self.api.request(method, path, query=query or (), headers=headers, body=body, timeout=self._timeout)
        except ApiStatusError as exc:
            raise api_error(what, exc) from exc
        except KubeconfigError as exc:  # credentials that failed at call time (an exec plugin, a token file)
            raise KubeError(what, None, "unauthenticated", str(exc)) from exc
        except TimeoutError as exc:  # connecting or reading
            raise KubeError(
                what, None, "timeout", f"the API server at {self.api.host} did not answer within {self._timeout[1]:g}s"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:  # refused, name not resolved, TLS, connection lost
            raise KubeError(what, None, "unreachable", self._unreachable(exc)) from exc

    def _unreachable(self, exc: BaseException) -> str:
        """ "cannot reach the API server at URL (connection refused)": where, and the reason in a few words."""
        return f"cannot reach the API server at {self.api.host} ({connection_failure(exc)})"


PATCH_CONTENT_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
}
FIELD_MANAGER = "crashloop-bot"


class KubeWriter:
    """The writes remedies make. Only `bot.guard.executor` uses it: it is the one path that changes a cluster."""

    def __init__(self, api: Connection, timeouts: Timeouts | None = None) -> None:
        self._reader = KubeReader(api, timeouts)

    def patch_workload(
        self, kind: str, namespace: str, name: str, body: Any, patch_type: str, *, dry_run: bool
    ) -> KubeObject:
        """PATCH the workload (`dryRun=All` when dry_run); returns the object the API server answered with."""
        route = {"Deployment": "patch_deployment", "StatefulSet": "patch_statefulset", "DaemonSet": "patch_daemonset"}[
            kind
        ]
        verb = "dry-run patch" if dry_run else "patch"
        return self._reader._json(
            f"{verb} {kind.lower()} {namespace}/{name}",
            route,
            namespace=namespace,
            name=name,
            body=body,
            query=_write_query(dry_run),
            headers={"Content-Type": PATCH_CONTENT_TYPES[patch_type]},
        )

    def create_pod(self, namespace: str, manifest: KubeObject, *, dry_run: bool) -> KubeObject:
        name = manifest.get("metadata", {}).get("name")
        return self._reader._json(
            f"create pod {namespace}/{name}",
            "create_pod",
            namespace=namespace,
            body=manifest,
            query=_write_query(dry_run),
        )

    def delete_pod(self, namespace: str, name: str) -> None:
        self._reader._call(f"delete pod {namespace}/{name}", "delete_pod", namespace=namespace, name=name)


class LeaseClient:
    """The coordination.k8s.io/v1 Lease the replicas elect their leader with (get, create, update: nothing else)."""

    def __init__(self, api: Connection, timeouts: Timeouts | None = None) -> None:
        self._reader = KubeReader(api, timeouts)

    def get(self, namespace: str, name: str) -> KubeObject | None:
        try:
            return self._reader._json(f"get lease {namespace}/{name}", "read_lease", namespace=namespace, name=name)
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, namespace: str, body: KubeObject) -> KubeObject:
        name = body.get("metadata", {}).get("name")
        return self._reader._json(f"create lease {namespace}/{name}", "create_lease", namespace=namespace, body=body)

    def replace(self, namespace: str, name: str, body: KubeObject) -> KubeObject:
        """PUT with the body's resourceVersion: 409 when another replica wrote first."""
        return self._reader._json(
            f"update lease {namespace}/{name}", "replace_lease", namespace=namespace, name=name, body=body
        )


def _write_query(dry_run: bool) -> list[tuple[str, Any]]:
    return [("dryRun", "All"), ("fieldManager", FIELD_MANAGER)] if dry_run else [("fieldManager", FIELD_MANAGER)]


def api_error(what: str, exc: ApiStatusError) -> KubeError:
    """A KubeError from a non-2xx answer, with the apiserver's own Status message when it sent one."""
    message = exc.reason or ""
    reason = exc.reason or "Error"
    body = exc.body.decode("utf-8", errors="replace") if exc.body else ""
    if body:
        try:
            status = json.loads(body)
            message = status.get("message") or message
            reason = status.get("reason") or reason
        except (ValueError, AttributeError):
            message = body[:300]
    return KubeError(what, exc.status, reason, message)


def connection_failure(exc: BaseException) -> str:
    """Why a connection failed, in a few words ("connection refused", "name not resolved", …)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "name not resolved"
        if isinstance(seen, ssl.SSLError):
            return f"TLS error: {seen}"
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    for needle, short in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "name not resolved"),
    ):
        if needle in text:
            return short
    return text


def _accept(value: str) -> dict[str, str]:
    return {"Accept": value}
