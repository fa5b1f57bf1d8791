"""Contexts only the `kubernetes` package can read, loaded with it: the one place the bot still imports it.

Why: `bot.kube.kubeconfig` reads what real kubeconfigs use without the package's ≈ 0.3 s import, but not the
legacy `auth-provider` plugins (gcp, azure, oidc, `cmd-path` token sources — deprecated since Kubernetes 1.22 in
favour of exec plugins). For those the package's own loader fills a `Configuration` as it always did; its host,
TLS files and refreshing bearer token are then used by the same `bot.kube.transport.Connection` as every other
context, so calls, timeouts and errors behave the same whichever loader read the kubeconfig.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bot.kube.auth import Credentials
from bot.kube.kubeconfig import ClusterAccess, KubeconfigError


class ConfigurationAuth:
    """The bearer token of a `kubernetes.client.Configuration`, refreshed by the hook its loader installed."""

    def __init__(self, configuration: Any) -> None:
        self._configuration = configuration
        self._lock = threading.Lock()

    def current(self) -> Credentials:
        with self._lock:  # the refresh hook rewrites the configuration in place
            value = self._configuration.get_api_key_with_prefix("BearerToken")
        return Credentials(str(value) if value else None)

    def refused(self) -> bool:
        return False


def load_with_kubernetes(kubeconfig: str | None, context: str | None) -> tuple[ClusterAccess, ConfigurationAuth]:
    """The context as the `kubernetes` package loads it, as a ClusterAccess and its refreshing credentials."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False
        )
    except (ConfigException, OSError, TypeError, ValueError, KeyError) as exc:
        raise KubeconfigError(str(exc)) from exc
    access = ClusterAccess(
        server=str(configuration.host).rstrip("/"),
        where=f"context {context} (loaded by the kubernetes package)",
        verify=bool(configuration.verify_ssl),
        ca_pem=_read(configuration.ssl_ca_cert),
        tls_server_name=configuration.tls_server_name or None,
        client_cert_pem=_read(configuration.cert_file),
        client_key_pem=_read(configuration.key_file),
        proxy_url=configuration.proxy or None,
    )
    return access, ConfigurationAuth(configuration)


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KubeconfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
