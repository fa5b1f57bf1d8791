"""Where the API server is and how to authenticate to it, read from a kubeconfig context or in-cluster config —
without importing the `kubernetes` package.

Why: `import kubernetes` alone costs ≈ 0.3 s and tens of MB (its package `__init__` loads the whole client,
`config`, `dynamic`, `watch`, `stream`, requests-oauthlib, pydantic…), which is most of a read-only
`crashloop triage` (issue 11, bench/cli_speed.py) and of the bot's idle memory (issue 13). What real kubeconfigs
use is small, and this module reads it into one `ClusterAccess`:

- `current-context` or a named context; `$KUBECONFIG` listing several files, merged as the `kubernetes` package
  merges them (the first file to define a cluster/user/context name wins; a later `current-context` replaces an
  earlier one);
- cluster: `server`, `certificate-authority` (file or `-data`), `insecure-skip-tls-verify`, `tls-server-name`,
  `proxy-url`;
- user: `client-certificate`/`client-key` (file or `-data`), `token`, `tokenFile`, `username`/`password`, and
  `exec` credential plugins (client.authentication.k8s.io v1 and v1beta1: `bot.kube.exec_credential`);
- in-cluster config: the service account's token and CA under /var/run/secrets/kubernetes.io/serviceaccount and
  KUBERNETES_SERVICE_HOST/PORT.

The precedence between a user's credentials is the `kubernetes` package's (token, then tokenFile, then exec, then
username/password), so a context connects the same way as before; tests/unit/test_kube_kubeconfig.py checks each
shape against that package's own loader. What this does not read — the legacy `auth-provider` (gcp, azure, oidc)
— raises `NeedsFullClient`, and `bot.kube.fallback` loads that context with the `kubernetes` package instead.
Relative file paths resolve against the directory of the file that defined the entry, as kubectl does.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
# libyaml's safe loader when PyYAML was built with it: a kubeconfig with many contexts and inline certificates is
# tens of kB, which the pure-Python parser takes tens of milliseconds to read. Same safe subset of YAML either way.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KubeconfigError(Exception):
    """The kubeconfig (or in-cluster config) cannot be used: what is missing or wrong, in a sentence."""


class NeedsFullClient(KubeconfigError):
    """The context uses something only the `kubernetes` package reads (e.g. a legacy `auth-provider`)."""


@dataclass(frozen=True)
class ExecPlugin:
    """A `user.exec` credential plugin: the command, how to run it, and the cluster it may be told about."""

    command: str
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    api_version: str
    interactive_mode: str  # "Never", "IfAvailable" or "Always"
    cwd: str | None
    cluster: dict[str, Any] | None  # spec.cluster of the ExecCredential, when provideClusterInfo is true


@dataclass(frozen=True)
class ClusterAccess:
    """Everything needed to open a connection to one API server; secrets stay out of `repr`."""

    server: str
    where: str  # "context prod of /home/me/.kube/config", for messages
    verify: bool = True
    ca_pem: bytes | None = field(default=None, repr=False)
    tls_server_name: str | None = None
    client_cert_pem: bytes | None = field(default=None, repr=False)
    client_key_pem: bytes | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    token_file: str | None = None
    basic: tuple[str, str] | None = field(default=None, repr=False)
    exec_plugin: ExecPlugin | None = None
    proxy_url: str | None = None

    @property
    def tls(self) -> bool:
        return self.server.startswith("https")


# --- kubeconfig files -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """A named cluster/user/context and the directory of the file that defined it (relative paths start there)."""

    body: dict[str, Any]
    base: Path


@dataclass
class _Merged:
    clusters: dict[str, _Entry] = field(default_factory=dict)
    users: dict[str, _Entry] = field(default_factory=dict)
    contexts: dict[str, _Entry] = field(default_factory=dict)
    current_context: str | None = None
    files: list[Path] = field(default_factory=list)


def kubeconfig_files(explicit: str | None) -> list[Path]:
    """The files to read: the given path (itself a `:`-separated list, as the kubernetes package allows), else
    $KUBECONFIG's list, else ~/.kube/config."""
    listed = explicit if explicit else os.environ.get("KUBECONFIG", "")
    paths = [Path(p).expanduser() for p in listed.split(os.pathsep) if p]
    return paths or [Path.home() / ".kube" / "config"]


def _merge(files: list[Path]) -> _Merged:
    merged = _Merged()
    for path in files:
        if not path.exists():
            continue
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise KubeconfigError(f"cannot read kubeconfig {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise KubeconfigError(f"invalid kubeconfig {path}: the file is empty or not a mapping")
        merged.files.append(path)
        base = path.absolute().parent
        for section, into in (("clusters", merged.clusters), ("users", merged.users), ("contexts", merged.contexts)):
            for item in data.get(section) or []:
                if isinstance(item, dict) and item.get("name") is not None and str(item["name"]) not in into:
                    into[str(item["name"])] = _Entry(_mapping(item, section[:-1]), base)
        if "current-context" in data:
            merged.current_context = data["current-context"]
    if not merged.files:
        shown = ", ".join(str(f) for f in files)
        raise KubeconfigError(f"no kubeconfig found at {shown}")
    return merged


def _mapping(item: dict[str, Any], kind: str) -> dict[str, Any]:
    body = item.get(kind)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise KubeconfigError(f"invalid kubeconfig: {kind} {item.get('name')!r} is not a mapping")
    return body


def load_kubeconfig(kubeconfig: str | None, context: str | None) -> ClusterAccess:
    """The ClusterAccess of `context` (else the current context) in the kubeconfig file(s)."""
    merged = _merge(kubeconfig_files(kubeconfig))
    shown = ", ".join(str(f) for f in merged.files)
    name = context if context is not None else merged.current_context
    if not name:
        raise KubeconfigError(f"no current-context in {shown}: name a context")
    if name not in merged.contexts:
        known = ", ".join(merged.contexts) or "none"
        raise KubeconfigError(f"context {name!r} not found in {shown} (contexts there: {known})")
    ctx = merged.contexts[name].body
    cluster_name = ctx.get("cluster")
    if cluster_name is None or str(cluster_name) not in merged.clusters:
        raise KubeconfigError(f"context {name!r} names cluster {cluster_name!r}, which {shown} does not define")
    cluster = merged.clusters[str(cluster_name)]
    user_name = ctx.get("user")
    user = merged.users.get(str(user_name)) if user_name is not None else None
    return _access(name, shown, cluster, user)


def _access(name: str, shown: str, cluster: _Entry, user: _Entry | None) -> ClusterAccess:
    c = cluster.body
    server = str(c.get("server") or "").rstrip("/")
    if not server:
        raise KubeconfigError(f"context {name!r}: its cluster has no server")
    u = user.body if user else {}
    if "auth-provider" in u:
        provider = (u.get("auth-provider") or {}).get("name", "?")
        raise NeedsFullClient(f"context {name!r} uses the auth-provider {provider!r}")
    tls = server.startswith("https")
    cert = key = None
    if tls and user is not None:
        cert = _file_or_data(u, "client-certificate", user.base)
        key = _file_or_data(u, "client-key", user.base)
        if (cert is None) != (key is None):
            raise KubeconfigError(f"context {name!r}: a client certificate needs its client key, and vice versa")
    token, token_file, basic, plugin = _credentials(name, u, user.base if user else cluster.base, c)
    return ClusterAccess(
        server=server,
        where=f"context {name} of {shown}",
        verify=not _flag(c.get("insecure-skip-tls-verify")),
        ca_pem=_file_or_data(c, "certificate-authority", cluster.base) if tls else None,
        tls_server_name=c.get("tls-server-name") or None,
        client_cert_pem=cert,
        client_key_pem=key,
        token=token,
        token_file=token_file,
        basic=basic,
        exec_plugin=plugin,
        proxy_url=c.get("proxy-url") or None,
    )


def _credentials(
    name: str, u: dict[str, Any], base: Path, cluster: dict[str, Any]
) -> tuple[str | None, str | None, tuple[str, str] | None, ExecPlugin | None]:
    """(token, tokenFile, basic, exec): the first the user defines, in the kubernetes package's order."""
    if u.get("token"):
        return str(u["token"]).strip(), None, None, None
    if u.get("tokenFile"):
        path = str(base / str(u["tokenFile"]))
        read_token_file(path)  # fail now, with the path, rather than at the first call
        return None, path, None, None
    if u.get("exec"):
        return None, None, None, _exec_plugin(name, u["exec"], base, cluster)
    if "username" in u and "password" in u:
        return None, None, (str(u["username"]), str(u["password"])), None
    return None, None, None, None


def _exec_plugin(name: str, spec: Any, base: Path, cluster: dict[str, Any]) -> ExecPlugin:
    if not isinstance(spec, dict) or not spec.get("command"):
        raise KubeconfigError(f"context {name!r}: its exec plugin has no command")
    version = str(spec.get("apiVersion") or "")
    if version not in EXEC_API_VERSIONS:
        raise KubeconfigError(
            f"context {name!r}: exec plugin apiVersion {version!r} is not one of {', '.join(EXEC_API_VERSIONS)}"
        )
    env = tuple((str(e["name"]), str(e.get("value", ""))) for e in spec.get("env") or [] if isinstance(e, dict))
    info = None
    if spec.get("provideClusterInfo"):
        info = {k: v for k, v in cluster.items() if k != "extensions"}
        for extension in cluster.get("extensions") or []:
            if isinstance(extension, dict) and extension.get("name") == "client.authentication.k8s.io/exec":
                info["config"] = extension.get("extension")
    return ExecPlugin(
        command=str(spec["command"]),
        args=tuple(str(a) for a in spec.get("args") or []),
        env=env,
        api_version=version,
        interactive_mode=str(spec.get("interactiveMode") or "IfAvailable"),
        cwd=str(base),
        cluster=info,
    )


def _file_or_data(obj: dict[str, Any], key: str, base: Path) -> bytes | None:
    """`key-data` (base64) if set, else the file `key` names (relative to `base`), else None."""
    data = obj.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=False)
        except (binascii.Error, ValueError) as exc:
            raise KubeconfigError(f"{key}-data is not valid base64: {exc}") from exc
    if obj.get(key):
        path = base / str(obj[key])
        try:
            return path.read_bytes()
        except OSError as exc:
            raise KubeconfigError(f"cannot read {key} {path}: {exc.strerror or exc}") from exc
    return None


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def read_token_file(path: str) -> str:
    """A bearer token file's content, stripped; KubeconfigError when missing or empty."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise KubeconfigError(f"cannot read the token file {path}: {exc}") from exc
    if not token:
        raise KubeconfigError(f"the token file {path} is empty")
    return token


# --- in-cluster -------------------------------------------------------------------------------------------


def load_incluster(environ: dict[str, str] | None = None, account_dir: Path = SERVICE_ACCOUNT_DIR) -> ClusterAccess:
    """The pod's own service account: its token (re-read as it rotates), the cluster CA, the service address."""
    env = os.environ if environ is None else environ
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if host is None or port is None:
        raise KubeconfigError("not running in a pod: KUBERNETES_SERVICE_HOST/PORT are not set")
    if not host or not port:
        raise KubeconfigError("KUBERNETES_SERVICE_HOST/PORT are set but empty")
    token_file = str(account_dir / "token")
    read_token_file(token_file)
    ca_file = account_dir / "ca.crt"
    try:
        ca = ca_file.read_bytes()
    except OSError as exc:
        raise KubeconfigError(f"cannot read the service account CA {ca_file}: {exc.strerror or exc}") from exc
    if not ca.strip():
        raise KubeconfigError(f"the service account CA {ca_file} is empty")
    bracketed = f"[{host}]" if ":" in host or "%" in host else host
    return ClusterAccess(
        server=f"https://{bracketed}:{port}",
        where="in-cluster config",
        ca_pem=ca,
        token_file=token_file,
    )
