"""Credentials from a kubeconfig `exec` plugin (client.authentication.k8s.io v1 and v1beta1), as kubectl runs them.

Why: most managed clusters (EKS `aws eks get-token`, GKE `gke-gcloud-auth-plugin`, AKS `kubelogin`, OIDC
`kubectl oidc-login`) authenticate through an exec plugin. The plugin is run with the kubeconfig's args and env
plus KUBERNETES_EXEC_INFO (an ExecCredential naming the API version, whether it may prompt, and the cluster when
`provideClusterInfo` is set); it prints an ExecCredential whose `status` carries a bearer token or a client
certificate and key. The answer is kept for the life of the process until its `expirationTimestamp` (minus a
small margin), and dropped when the API server answers 401, so the next call runs the plugin again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.core.redact import redact
from bot.kube.kubeconfig import ExecPlugin, KubeconfigError

EXPIRY_MARGIN = timedelta(seconds=10)
RUN_TIMEOUT_SECONDS = 120.0  # a plugin may open a browser for a login; kubectl waits as long as it runs


@dataclass(frozen=True)
class ExecResult:
    """What the plugin answered: a token, or a client certificate and key (PEM); and until when it holds."""

    token: str | None = field(default=None, repr=False)
    client_cert_pem: bytes | None = field(default=None, repr=False)
    client_key_pem: bytes | None = field(default=None, repr=False)
    expires: datetime | None = None


class ExecCredentials:
    """Runs one plugin on demand and caches its answer; thread-safe (triage calls come from a thread pool)."""

    def __init__(self, plugin: ExecPlugin) -> None:
        self.plugin = plugin
        self._lock = threading.Lock()
        self._cached: ExecResult | None = None

    def current(self) -> ExecResult:
        """The cached answer while it holds, else a fresh one (the plugin runs at most once at a time)."""
        with self._lock:
            cached = self._cached
            if cached is None or (cached.expires is not None and cached.expires - EXPIRY_MARGIN <= _now()):
                cached = self._cached = run_plugin(self.plugin)
            return cached

    def invalidate(self, seen: ExecResult) -> None:
        """Forget `seen` (the API server refused it); a newer answer another thread already got is kept."""
        with self._lock:
            if self._cached is seen:
                self._cached = None


def _now() -> datetime:
    return datetime.now(UTC)


def run_plugin(plugin: ExecPlugin) -> ExecResult:
    """Run the plugin once and parse its ExecCredential; KubeconfigError says what went wrong."""
    interactive = plugin.interactive_mode != "Never" and _isatty(sys.stdin) and _isatty(sys.stdout)
    if plugin.interactive_mode == "Always" and not interactive:
        raise KubeconfigError(f"exec plugin `{plugin.command}` needs a terminal (interactiveMode: Always)")
    spec: dict[str, object] = {"interactive": interactive}
    if plugin.cluster is not None:
        spec["cluster"] = plugin.cluster
    info = {"apiVersion": plugin.api_version, "kind": "ExecCredential", "spec": spec}
    env = {**os.environ, **dict(plugin.env), "KUBERNETES_EXEC_INFO": json.dumps(info)}
    try:
        done = subprocess.run(
            [plugin.command, *plugin.args],
            cwd=plugin.cwd if plugin.cwd and os.path.isdir(plugin.cwd) else None,
            env=env,
            stdin=None if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None if interactive else subprocess.PIPE,
            timeout=RUN_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError as exc:
        raise KubeconfigError(f"exec plugin `{plugin.command}` was not found ({exc.strerror})") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KubeconfigError(f"exec plugin `{plugin.command}` could not run ({exc})") from exc
    if done.returncode != 0:
        said = redact((done.stderr or b"").decode("utf-8", errors="replace").strip())[-500:]
        raise KubeconfigError(
            f"exec plugin `{plugin.command}` exited with code {done.returncode}" + (f": {said}" if said else "")
        )
    return parse_credential(plugin, done.stdout)


def parse_credential(plugin: ExecPlugin, output: bytes) -> ExecResult:
    """The `status` of the ExecCredential the plugin printed."""
    where = f"exec plugin `{plugin.command}`"
    try:
        data = json.loads(output)
    except ValueError as exc:
        raise KubeconfigError(f"{where} printed no JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("kind") != "ExecCredential":
        raise KubeconfigError(f"{where} printed no ExecCredential")
    if data.get("apiVersion") != plugin.api_version:
        raise KubeconfigError(
            f"{where} answered apiVersion {data.get('apiVersion')!r}, the kubeconfig asks for {plugin.api_version}"
        )
    status = data.get("status")
    if not isinstance(status, dict):
        raise KubeconfigError(f"{where} printed an ExecCredential without status")
    expires = _expiry(where, status.get("expirationTimestamp"))
    if status.get("token"):
        return ExecResult(token=str(status["token"]), expires=expires)
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    if cert and key:
        return ExecResult(client_cert_pem=str(cert).encode(), client_key_pem=str(key).encode(), expires=expires)
    raise KubeconfigError(f"{where} printed an ExecCredential with neither a token nor a client certificate and key")


def _expiry(where: str, value: object) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise KubeconfigError(f"{where} printed an expirationTimestamp that is not RFC 3339 ({value!r})") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _isatty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False
