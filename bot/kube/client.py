"""The bot's only door to the Kubernetes API (the only module that imports `kubernetes`).

It connects through a kubeconfig context or in-cluster config, makes one API call per method, and returns the
API's own JSON (dicts) — skipping the client's model deserialisation, which is slow and which the bot does not
need. Every call has a timeout; every failure becomes a `KubeError` that says what was tried and what the API
answered (403 with the missing permission, 404, timeout), so callers can record it instead of crashing.
Secrets are only ever read as metadata (`PartialObjectMetadata`): their values never enter the process.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from functools import partial
from typing import Any

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from bot.core.redact import redact

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


def connect(context: str | None, kubeconfig: str | None = None, pool_size: int = 32) -> k8s_client.ApiClient:
    """An ApiClient for a kubeconfig context, or for in-cluster config when `context` is None."""
    cfg = k8s_client.Configuration()
    try:
        if context is None and kubeconfig is None:
            k8s_config.load_incluster_config(client_configuration=cfg)
        else:
            k8s_config.load_kube_config(
                config_file=kubeconfig, context=context, client_configuration=cfg, persist_config=False
            )
    except (ConfigException, OSError, TypeError, ValueError) as exc:
        where = f"context {context!r}" if context else "in-cluster config"
        raise KubeConfigError(f"cannot load Kubernetes {where}: {exc}") from exc
    cfg.connection_pool_maxsize = pool_size
    cfg.retries = False  # a bounded triage beats a retried one: failures are recorded, not hidden
    return k8s_client.ApiClient(cfg)


# The reads triage makes, by the kubernetes client's own method names: (HTTP method, path, positional parameters).
READ_ROUTES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "read_namespaced_pod": ("GET", "/api/v1/namespaces/{namespace}/pods/{name}", ("name", "namespace")),
    "list_namespaced_pod": ("GET", "/api/v1/namespaces/{namespace}/pods", ("namespace",)),
    "read_namespaced_pod_log": ("GET", "/api/v1/namespaces/{namespace}/pods/{name}/log", ("name", "namespace")),
    "list_namespaced_event": ("GET", "/api/v1/namespaces/{namespace}/events", ("namespace",)),
    "read_namespaced_secret": ("GET", "/api/v1/namespaces/{namespace}/secrets/{name}", ("name", "namespace")),
    "read_namespaced_config_map": ("GET", "/api/v1/namespaces/{namespace}/configmaps/{name}", ("name", "namespace")),
    "read_namespaced_service_account": (
        "GET",
        "/api/v1/namespaces/{namespace}/serviceaccounts/{name}",
        ("name", "namespace"),
    ),
    "list_namespaced_service_account": ("GET", "/api/v1/namespaces/{namespace}/serviceaccounts", ("namespace",)),
    "list_namespace": ("GET", "/api/v1/namespaces", ()),
    "read_namespaced_deployment": (
        "GET",
        "/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
        ("name", "namespace"),
    ),
    "list_namespaced_deployment": ("GET", "/apis/apps/v1/namespaces/{namespace}/deployments", ("namespace",)),
    "read_namespaced_stateful_set": (
        "GET",
        "/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}",
        ("name", "namespace"),
    ),
    "list_namespaced_stateful_set": ("GET", "/apis/apps/v1/namespaces/{namespace}/statefulsets", ("namespace",)),
    "read_namespaced_daemon_set": (
        "GET",
        "/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}",
        ("name", "namespace"),
    ),
    "list_namespaced_daemon_set": ("GET", "/apis/apps/v1/namespaces/{namespace}/daemonsets", ("namespace",)),
    "read_namespaced_replica_set": (
        "GET",
        "/apis/apps/v1/namespaces/{namespace}/replicasets/{name}",
        ("name", "namespace"),
    ),
    "list_namespaced_replica_set": ("GET", "/apis/apps/v1/namespaces/{namespace}/replicasets", ("namespace",)),
    "list_namespaced_controller_revision": (
        "GET",
        "/apis/apps/v1/namespaces/{namespace}/controllerrevisions",
        ("namespace",),
    ),
}


class ReadApi:
    """The read operations of CoreV1Api/AppsV1Api under the same names, through the same ApiClient (kubeconfig
    auth, TLS, query encoding, ApiException on non-2xx), without importing the generated API classes.

    Why: `kubernetes.client.api.core_v1_api` imports every model its 400 operations mention and wraps each in
    pydantic validation — seconds of start-up (bench/cli_speed.py) for a triage that reads raw JSON anyway
    (`_preload_content=False`). Writes keep the generated classes (`KubeWriter`): they run in `act` and `serve`.
    """

    def __init__(self, api: k8s_client.ApiClient) -> None:
        self._api = api

    def __getattr__(self, name: str) -> Any:
        if name not in READ_ROUTES:
            raise AttributeError(name)
        return partial(self._request, *READ_ROUTES[name])

    def _request(
        self,
        method: str,
        path: str,
        positional: tuple[str, ...],
        *args: Any,
        _preload_content: bool = False,
        _request_timeout: Any = None,
        _headers: dict[str, str] | None = None,
        **query: Any,
    ) -> Any:
        serialized = self._api.param_serialize(
            method=method,
            resource_path=path,
            path_params=dict(zip(positional, args, strict=True)),
            query_params=[(_camel(k), v) for k, v in query.items() if v is not None],
            header_params={"Accept": "application/json", **(_headers or {})},
            auth_settings=["BearerToken"],
        )
        response = self._api.call_api(*serialized, _request_timeout=_request_timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response


def _camel(name: str) -> str:
    """label_selector → labelSelector: the API's query parameter names."""
    return re.sub(r"_([a-z])", lambda m: m[1].upper(), name)


class KubeReader:
    """Read-only calls triage needs. Blocking: callers run them in a thread pool (see `bot.triage.evidence`)."""

    def __init__(self, api: k8s_client.ApiClient, timeouts: Timeouts | None = None) -> None:
        self._api = api
        self.api = api
        self.core = ReadApi(api)
        self.apps = ReadApi(api)
        t = timeouts or Timeouts()
        self._timeout = (t.connect, t.read)

    def close(self) -> None:
        self._api.close()

    def version(self) -> str:
        """The API server's version (`/version`, readable by any authenticated client): a reachability check."""
        data = self._json("get /version", k8s_client.VersionApi(self._api).get_code)
        return str(data.get("gitVersion", "unknown"))

    # --- workloads ---------------------------------------------------------------------------------------

    def get_workload(self, kind: str, namespace: str, name: str) -> KubeObject:
        read = {
            "Deployment": self.apps.read_namespaced_deployment,
            "StatefulSet": self.apps.read_namespaced_stateful_set,
            "DaemonSet": self.apps.read_namespaced_daemon_set,
            "ReplicaSet": self.apps.read_namespaced_replica_set,
            "Pod": self.core.read_namespaced_pod,
        }[kind]
        return self._json(f"get {kind.lower()} {namespace}/{name}", read, name, namespace)

    def list_workloads(self, kind: str, namespace: str) -> list[KubeObject]:
        list_ = {
            "Deployment": self.apps.list_namespaced_deployment,
            "StatefulSet": self.apps.list_namespaced_stateful_set,
            "DaemonSet": self.apps.list_namespaced_daemon_set,
        }[kind]
        return self._items(f"list {kind.lower()}s in {namespace}", list_, namespace)

    def list_pods(self, namespace: str, selector: str) -> list[KubeObject]:
        return self._items(
            f"list pods {selector} in {namespace}", self.core.list_namespaced_pod, namespace, label_selector=selector
        )

    def list_replicasets(self, namespace: str, selector: str) -> list[KubeObject]:
        return self._items(
            f"list replicasets in {namespace}",
            self.apps.list_namespaced_replica_set,
            namespace,
            label_selector=selector,
        )

    def list_controller_revisions(self, namespace: str, selector: str) -> list[KubeObject]:
        return self._items(
            f"list controllerrevisions in {namespace}",
            self.apps.list_namespaced_controller_revision,
            namespace,
            label_selector=selector,
        )

    # --- what happened -----------------------------------------------------------------------------------

    def list_events(self, namespace: str, involved_name: str, kind: str | None = None) -> list[KubeObject]:
        selector = f"involvedObject.name={involved_name}"
        if kind:
            selector += f",involvedObject.kind={kind}"
        return self._items(
            f"events of {namespace}/{involved_name}",
            self.core.list_namespaced_event,
            namespace,
            field_selector=selector,
        )

    def read_log(
        self, namespace: str, pod: str, container: str, *, previous: bool, tail_lines: int, limit_bytes: int
    ) -> str:
        what = f"logs {'--previous ' if previous else ''}{namespace}/{pod}/{container}"
        response = self._call(
            what,
            self.core.read_namespaced_pod_log,
            pod,
            namespace,
            container=container,
            previous=previous,
            tail_lines=tail_lines,
            limit_bytes=limit_bytes,
        )
        return bytes(response.data).decode("utf-8", errors="replace")

    # --- references (existence only) ---------------------------------------------------------------------

    def exists(self, kind: str, namespace: str, name: str) -> bool:
        """Whether a Secret/ConfigMap/ServiceAccount exists; reads metadata only, never values."""
        read = {
            "Secret": self.core.read_namespaced_secret,
            "ConfigMap": self.core.read_namespaced_config_map,
            "ServiceAccount": self.core.read_namespaced_service_account,
        }[kind]
        try:
            what = f"get {kind.lower()} {namespace}/{name}"
            self._call(what, read, name, namespace, _headers=_accept(_METADATA_ONLY))
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def list_service_accounts(self, namespace: str) -> list[str]:
        items = self._items(
            f"list serviceaccounts in {namespace}",
            self.core.list_namespaced_service_account,
            namespace,
            _headers=_accept(_METADATA_LIST),
        )
        return [str(i.get("metadata", {}).get("name")) for i in items]

    # --- plumbing ----------------------------------------------------------------------------------------

    def _items(self, what: str, method: Any, *args: Any, **kwargs: Any) -> list[KubeObject]:
        items = self._json(what, method, *args, **kwargs).get("items") or []
        return list(items)

    def _json(self, what: str, method: Any, *args: Any, **kwargs: Any) -> KubeObject:
        response = self._call(what, method, *args, **kwargs)
        try:
            data = json.loads(response.data)
        except ValueError as exc:
            raise KubeError(what, response.status, "BadResponse", f"not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise KubeError(what, response.status, "BadResponse", "expected a JSON object")
        return data

    def _call(self, what: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, _preload_content=False, _request_timeout=self._timeout, **kwargs)
        except ApiException as exc:
            raise api_error(what, exc) from exc
        except urllib3.exceptions.NewConnectionError as exc:  # before TimeoutError: urllib3 subclasses it
            raise KubeError(what, None, "unreachable", self._unreachable(exc)) from exc
        except (urllib3.exceptions.TimeoutError, TimeoutError) as exc:
            where = self._api.configuration.host
            raise KubeError(
                what, None, "timeout", f"the API server at {where} did not answer within {self._timeout[1]:g}s"
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeError(what, None, "unreachable", self._unreachable(exc)) from exc

    def _unreachable(self, exc: BaseException) -> str:
        """ "cannot reach the API server at URL (connection refused)": where, and the reason in a few words."""
        return f"cannot reach the API server at {self._api.configuration.host} ({connection_failure(exc)})"


PATCH_CONTENT_TYPES = {
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
}
FIELD_MANAGER = "crashloop-bot"


class KubeWriter:
    """The writes remedies make. Only `bot.guard.executor` uses it: it is the one path that changes a cluster."""

    def __init__(self, api: k8s_client.ApiClient, timeouts: Timeouts | None = None) -> None:
        self._reader = KubeReader(api, timeouts)
        self.core, self.apps = k8s_client.CoreV1Api(api), k8s_client.AppsV1Api(api)

    def patch_workload(
        self, kind: str, namespace: str, name: str, body: Any, patch_type: str, *, dry_run: bool
    ) -> KubeObject:
        """PATCH the workload (`dryRun=All` when dry_run); returns the object the API server answered with."""
        method = {
            "Deployment": self.apps.patch_namespaced_deployment,
            "StatefulSet": self.apps.patch_namespaced_stateful_set,
            "DaemonSet": self.apps.patch_namespaced_daemon_set,
        }[kind]
        verb = "dry-run patch" if dry_run else "patch"
        return self._reader._json(
            f"{verb} {kind.lower()} {namespace}/{name}",
            method,
            name,
            namespace,
            body,
            dry_run="All" if dry_run else None,
            field_manager=FIELD_MANAGER,
            _content_type=PATCH_CONTENT_TYPES[patch_type],
        )

    def create_pod(self, namespace: str, manifest: KubeObject, *, dry_run: bool) -> KubeObject:
        name = manifest.get("metadata", {}).get("name")
        return self._reader._json(
            f"create pod {namespace}/{name}",
            self.core.create_namespaced_pod,
            namespace,
            manifest,
            dry_run="All" if dry_run else None,
            field_manager=FIELD_MANAGER,
        )

    def delete_pod(self, namespace: str, name: str) -> None:
        self._reader._call(f"delete pod {namespace}/{name}", self.core.delete_namespaced_pod, name, namespace)


class LeaseClient:
    """The coordination.k8s.io/v1 Lease the replicas elect their leader with (get, create, update: nothing else)."""

    def __init__(self, api: k8s_client.ApiClient, timeouts: Timeouts | None = None) -> None:
        self._reader = KubeReader(api, timeouts)
        self.coordination = k8s_client.CoordinationV1Api(api)

    def get(self, namespace: str, name: str) -> KubeObject | None:
        try:
            return self._reader._json(
                f"get lease {namespace}/{name}", self.coordination.read_namespaced_lease, name, namespace
            )
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, namespace: str, body: KubeObject) -> KubeObject:
        name = body.get("metadata", {}).get("name")
        return self._reader._json(
            f"create lease {namespace}/{name}", self.coordination.create_namespaced_lease, namespace, body
        )

    def replace(self, namespace: str, name: str, body: KubeObject) -> KubeObject:
        """PUT with the body's resourceVersion: 409 when another replica wrote first."""
        return self._reader._json(
            f"update lease {namespace}/{name}", self.coordination.replace_namespaced_lease, name, namespace, body
        )


def api_error(what: str, exc: ApiException) -> KubeError:
    """A KubeError from an ApiException, with the apiserver's own Status message when it sent one."""
    message = exc.reason or ""
    reason = exc.reason or "Error"
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if body:
        try:
            status = json.loads(body)
            message = status.get("message") or message
            reason = status.get("reason") or reason
        except (ValueError, AttributeError):
            message = str(body)[:300]
    return KubeError(what, exc.status, reason, message)


def connection_failure(exc: BaseException) -> str:
    """Why a connection failed, in a few words ("connection refused", "name not resolved", …)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "name not resolved"
        if isinstance(seen, urllib3.exceptions.SSLError):
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
