"""`crashloop config check`'s look at each environment's cluster: does its kubeconfig context exist, and does its
API server answer?

The contexts are read from the kubeconfig files themselves (YAML; $KUBECONFIG may list several), so a typo in
`context:` is reported with the contexts that do exist, without loading the Kubernetes client. Unless `--offline`,
one `GET /version` per environment (readable by any authenticated client) says whether the API server answers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.core.config import Environment
from bot.kube.kubeconfig import kubeconfig_files

EXIT_UNREACHABLE = 1
EXIT_NOT_FOUND = 2
VERSION_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Check:
    """The outcome for one environment: a line to print, and the exit code it calls for (0 when fine)."""

    message: str
    exit_code: int = 0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def contexts(files: list[Path]) -> list[str]:
    """Every context name the files define (unreadable or missing files define none)."""
    names: list[str] = []
    for path in files:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        for entry in data.get("contexts") or [] if isinstance(data, dict) else []:
            if isinstance(entry, dict) and entry.get("name") and entry["name"] not in names:
                names.append(str(entry["name"]))
    return names


def check_environment(env: Environment, *, offline: bool) -> Check:
    """The context exists (or in-cluster config applies) and, unless offline, the API server answers."""
    if env.context is None and env.kubeconfig is None:
        where = "in-cluster config"
        if offline:
            return Check(f"{where} (used inside the cluster; API server not contacted: --offline)")
        if not os.environ.get("KUBERNETES_SERVICE_HOST"):
            return Check(
                f"{where}, but this is not a pod (no KUBERNETES_SERVICE_HOST): set `context:`, or check with --offline",
                EXIT_NOT_FOUND,
            )
    else:
        files = kubeconfig_files(env.kubeconfig)
        known = contexts(files)
        shown = ", ".join(str(f) for f in files)
        if env.context is not None and env.context not in known:
            listed = ", ".join(known) if known else "none"
            return Check(
                f"context {env.context!r} is not in {shown} (contexts there: {listed}); fix `context:` or run "
                "`kubectl config get-contexts`",
                EXIT_NOT_FOUND,
            )
        where = f"context {env.context}" if env.context else f"current context of {shown}"
    if offline:
        return Check(f"{where} (API server not contacted: --offline)")
    return _answers(env, where)


def _answers(env: Environment, where: str) -> Check:
    from bot.kube.client import KubeConfigError, KubeError, KubeReader, Timeouts, connect

    try:
        api = connect(env.context, env.kubeconfig, pool_size=1)
    except KubeConfigError as exc:
        return Check(str(exc), EXIT_NOT_FOUND)
    reader = KubeReader(api, Timeouts(connect=VERSION_TIMEOUT_SECONDS, read=VERSION_TIMEOUT_SECONDS))
    try:
        version = reader.version()
    except KubeError as exc:
        return Check(f"{where}: {exc.message}", EXIT_UNREACHABLE)
    finally:
        reader.close()
    return Check(f"{where}: the API server at {api.host} answers ({version})")
