"""bot.kube.kubeconfig reads kubeconfigs as the `kubernetes` package does — checked against that package's own loader.

For every shape real kubeconfigs take (tokens, token files, basic auth, exec plugins v1 and v1beta1, CA and client
certificates as files or inline data, insecure-skip-tls-verify, tls-server-name, proxy-url, named and current
contexts, $KUBECONFIG merging several files, in-cluster config), both loaders read the same file and must agree on
the host, the Authorization header sent, and the TLS material (CA, client certificate and key, verification,
server name, proxy). Then what the light loader refuses (a legacy `auth-provider`) is shown to be loaded by the
package instead, and to reach a real (simulated) API server.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.config.incluster_config import InClusterConfigLoader

from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.kube.auth import auth_for
from bot.kube.client import KubeConfigError, KubeReader, connect
from bot.kube.kubeconfig import (
    KubeconfigError,
    NeedsFullClient,
    kubeconfig_files,
    load_incluster,
    load_kubeconfig,
)
from tests.integration.kube_tls import CertificateAuthority

CA = CertificateAuthority()
CLIENT = CA.issue("alice", client=True)
OTHER_CA = CertificateAuthority("other-ca")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def exec_script(tmp: Path, name: str = "plugin.py", body: str | None = None) -> Path:
    """A real executable exec plugin: prints an ExecCredential whose token names its args and env."""
    script = tmp / name
    script.write_text(
        f"#!{sys.executable}\n"
        + (
            body
            or "import json, os, sys\n"
            "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
            "token = 'exec-' + '-'.join(sys.argv[1:]) + '-' + os.environ.get('PLUGIN_ENV', 'none')\n"
            "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',\n"
            "                  'status': {'token': token, 'expirationTimestamp': '2999-01-01T00:00:00Z'}}))\n"
        )
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def kubeconfig(
    tmp: Path, cluster: dict[str, Any], user: dict[str, Any], *, name: str = "kubeconfig", extra: bool = False
) -> Path:
    """One file with context `main` (current) for cluster/user, and with `extra` a second context `other`."""
    data: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u", "namespace": "shop"}}],
        "current-context": "main",
    }
    if extra:
        data["clusters"].append({"name": "c2", "cluster": {"server": "https://other.example:6443"}})
        data["users"].append({"name": "u2", "user": {"token": "other-token"}})
        data["contexts"].append({"name": "other", "context": {"cluster": "c2", "user": "u2"}})
    path = tmp / name
    path.write_text(yaml.safe_dump(data))
    return path


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def theirs(path: Path | str, context: str | None = None) -> dict[str, Any]:
    """What the kubernetes package's loader makes of the file: the oracle."""
    cfg = k8s_client.Configuration()
    k8s_config.load_kube_config(config_file=str(path), context=context, client_configuration=cfg, persist_config=False)
    return {
        "host": cfg.host,
        "authorization": cfg.get_api_key_with_prefix("BearerToken"),
        "ca": _read(cfg.ssl_ca_cert),
        "cert": _read(cfg.cert_file),
        "key": _read(cfg.key_file),
        "verify": bool(cfg.verify_ssl),
        "tls_server_name": cfg.tls_server_name,
        "proxy": cfg.proxy,
    }


def ours(path: Path | str, context: str | None = None) -> dict[str, Any]:
    access = load_kubeconfig(str(path), context)
    return {
        "host": access.server,
        "authorization": auth_for(access).current().header,
        "ca": access.ca_pem,
        "cert": access.client_cert_pem,
        "key": access.client_key_pem,
        "verify": access.verify,
        "tls_server_name": access.tls_server_name,
        "proxy": access.proxy_url,
    }


def shapes(tmp: Path) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """(cluster, user) of every shape compared; files are written under tmp, referred to relatively or not."""
    (tmp / "certs").mkdir()
    (tmp / "certs" / "ca.crt").write_bytes(CA.pem)
    (tmp / "certs" / "alice.crt").write_bytes(CLIENT.cert)
    (tmp / "certs" / "alice.key").write_bytes(CLIENT.key)
    (tmp / "token").write_text("file-token")
    plugin = exec_script(tmp)
    https = "https://10.0.0.1:6443"
    return {
        "http-token": ({"server": "http://127.0.0.1:8080"}, {"token": "plain-token"}),
        "https-ca-file-client-cert-files": (
            {"server": https, "certificate-authority": "certs/ca.crt"},
            {"client-certificate": "certs/alice.crt", "client-key": "certs/alice.key"},
        ),
        "https-absolute-paths": (
            {"server": https, "certificate-authority": str(tmp / "certs" / "ca.crt")},
            {"client-certificate": str(tmp / "certs/alice.crt"), "client-key": str(tmp / "certs/alice.key")},
        ),
        "https-inline-data": (
            {"server": https, "certificate-authority-data": b64(CA.pem)},
            {"client-certificate-data": b64(CLIENT.cert), "client-key-data": b64(CLIENT.key)},
        ),
        "data-wins-over-file": (
            {"server": https, "certificate-authority-data": b64(OTHER_CA.pem), "certificate-authority": "certs/ca.crt"},
            {"token": "t"},
        ),
        "insecure-skip-tls-verify": ({"server": https, "insecure-skip-tls-verify": True}, {"token": "t"}),
        "tls-server-name": (
            {"server": https, "certificate-authority-data": b64(CA.pem), "tls-server-name": "kubernetes.test"},
            {"token": "t"},
        ),
        "proxy-url": ({"server": https, "proxy-url": "http://proxy.internal:3128"}, {"token": "t"}),
        "token-file-relative": ({"server": https}, {"tokenFile": "token"}),
        "token-wins-over-token-file": ({"server": https}, {"token": "inline", "tokenFile": "token"}),
        "basic-auth": ({"server": https}, {"username": "admin", "password": "s3cret:with:colons"}),
        "exec-v1beta1": (
            {"server": https},
            {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1beta1",
                    "command": str(plugin),
                    "args": ["get-token", "--cluster", "prod"],
                    "env": [{"name": "PLUGIN_ENV", "value": "from-kubeconfig"}],
                }
            },
        ),
        "exec-v1-relative-command": (
            {"server": https},
            {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1",
                    "command": "./plugin.py",
                    "interactiveMode": "Never",
                    "args": ["v1"],
                }
            },
        ),
        "token-wins-over-exec": (
            {"server": https},
            {"token": "inline", "exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}},
        ),
        "no-user-credentials": ({"server": https, "certificate-authority-data": b64(CA.pem)}, {}),
        "server-with-path-and-slash": ({"server": "https://rancher.example/k8s/clusters/c-abc/"}, {"token": "t"}),
    }


# What some shapes must produce, so that agreeing with the oracle is not agreeing on nothing.
EXPECTED = {
    "https-inline-data": ("cert", CLIENT.cert),
    "https-ca-file-client-cert-files": ("key", CLIENT.key),
    "data-wins-over-file": ("ca", OTHER_CA.pem),
    "insecure-skip-tls-verify": ("verify", False),
    "tls-server-name": ("tls_server_name", "kubernetes.test"),
    "proxy-url": ("proxy", "http://proxy.internal:3128"),
    "token-file-relative": ("authorization", "Bearer file-token"),
    "basic-auth": ("authorization", "Basic " + b64(b"admin:s3cret:with:colons")),
    "exec-v1beta1": ("authorization", "Bearer exec-get-token---cluster-prod-from-kubeconfig"),
    "exec-v1-relative-command": ("authorization", "Bearer exec-v1-none"),
    "token-wins-over-exec": ("authorization", "Bearer inline"),
    "server-with-path-and-slash": ("host", "https://rancher.example/k8s/clusters/c-abc"),
}


@pytest.mark.parametrize(
    "shape",
    [
        "http-token",
        "https-ca-file-client-cert-files",
        "https-absolute-paths",
        "https-inline-data",
        "data-wins-over-file",
        "insecure-skip-tls-verify",
        "tls-server-name",
        "proxy-url",
        "token-file-relative",
        "token-wins-over-token-file",
        "basic-auth",
        "exec-v1beta1",
        "exec-v1-relative-command",
        "token-wins-over-exec",
        "no-user-credentials",
        "server-with-path-and-slash",
    ],
)
def test_each_shape_connects_as_the_kubernetes_package_would(
    tmp_path: Path, shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the package runs a relative exec command from the kubeconfig's directory too
    cluster, user = shapes(tmp_path)[shape]
    path = kubeconfig(tmp_path, cluster, user)
    expected, got = theirs(path), ours(path)
    assert got == expected
    if shape in EXPECTED:
        key, value = EXPECTED[shape]
        assert got[key] == value


def test_a_named_context_and_kubeconfig_merging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = kubeconfig(tmp_path, {"server": "https://first.example"}, {"token": "first"}, name="a", extra=True)
    second_data = yaml.safe_load(first.read_text())
    second_data["clusters"][0]["cluster"]["server"] = "https://second.example"  # same name: the first file wins
    second_data["clusters"].append({"name": "c3", "cluster": {"server": "https://third.example"}})
    second_data["users"].append({"name": "u3", "user": {"username": "bob", "password": "pw"}})
    second_data["contexts"].append({"name": "third", "context": {"cluster": "c3", "user": "u3"}})
    second_data["current-context"] = "third"  # the package lets a later file's current-context win
    second = tmp_path / "b"
    second.write_text(yaml.safe_dump(second_data))
    both = f"{first}{os.pathsep}{second}"
    for context in (None, "main", "other", "third"):
        assert ours(both, context) == theirs(both, context), context
    assert ours(both, None)["host"] == "https://third.example"
    monkeypatch.setenv("KUBECONFIG", both)
    assert kubeconfig_files(None) == [first, second]
    assert load_kubeconfig(None, "other").server == "https://other.example:6443"


def test_token_file_content_is_stripped_and_re_read(tmp_path: Path) -> None:
    """A token file written with a trailing newline (as `kubectl create token > f` does) sends no newline."""
    (tmp_path / "token").write_text("rotating-1\n")
    access = load_kubeconfig(str(kubeconfig(tmp_path, {"server": "https://x"}, {"tokenFile": "token"})), None)
    auth = auth_for(access)
    assert auth.current().header == "Bearer rotating-1"
    (tmp_path / "token").write_text("rotating-2\n")
    assert auth.refused() is True  # a 401 re-reads the file: a new token, worth one more try
    assert auth.current().header == "Bearer rotating-2"
    assert auth.refused() is False  # unchanged: retrying would not help


@pytest.mark.parametrize(
    ("cluster", "user", "context", "message"),
    [
        ({"server": "https://x"}, {"token": "t"}, "nope", "context 'nope' not found in"),
        (
            {"server": "https://x", "certificate-authority": "missing.crt"},
            {},
            None,
            "cannot read certificate-authority",
        ),
        ({"server": "https://x"}, {"tokenFile": "missing-token"}, None, "cannot read the token file"),
        ({"server": "https://x"}, {"client-certificate-data": b64(CLIENT.cert)}, None, "needs its client key"),
        ({}, {"token": "t"}, None, "its cluster has no server"),
        (
            {"server": "https://x"},
            {"exec": {"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"}},
            None,
            "exec plugin apiVersion",
        ),
    ],
)
def test_what_cannot_be_loaded_is_said_clearly(
    tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any], context: str | None, message: str
) -> None:
    path = kubeconfig(tmp_path, cluster, user)
    with pytest.raises(KubeconfigError, match=message):
        load_kubeconfig(str(path), context)
    with pytest.raises(KubeConfigError, match="cannot load Kubernetes"):
        connect(context or "main", str(path))


def test_an_empty_or_absent_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="no kubeconfig found"):
        load_kubeconfig(str(tmp_path / "absent"), None)
    (tmp_path / "empty").write_text("")
    with pytest.raises(KubeconfigError, match="empty or not a mapping"):
        load_kubeconfig(str(tmp_path / "empty"), None)


# --- in-cluster ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["10.96.0.1", "fd00::1"])
def test_in_cluster_config_as_the_kubernetes_package_reads_it(tmp_path: Path, host: str) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_bytes(CA.pem)
    environ = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": "443"}
    cfg = k8s_client.Configuration()
    InClusterConfigLoader(
        token_filename=str(tmp_path / "token"), cert_filename=str(tmp_path / "ca.crt"), environ=environ
    ).load_and_set(cfg)
    access = load_incluster(environ, tmp_path)
    assert access.server == cfg.host
    assert access.ca_pem == Path(cfg.ssl_ca_cert).read_bytes()
    # the package sends "bearer" in lower case; the scheme is case-insensitive (RFC 7235) and kubectl sends "Bearer"
    assert str(auth_for(access).current().header).lower() == str(cfg.get_api_key_with_prefix("BearerToken")).lower()


def test_in_cluster_config_outside_a_pod(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="not running in a pod"):
        load_incluster({}, tmp_path)
    with pytest.raises(KubeconfigError, match="token file"):
        load_incluster({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}, tmp_path)


# --- what only the kubernetes package reads ---------------------------------------------------------------


def _jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2ln"


def test_a_legacy_auth_provider_is_loaded_by_the_kubernetes_package_and_works(tmp_path: Path) -> None:
    id_token = _jwt({"iss": "https://idp.example", "exp": 32503680000, "sub": "alice"})
    with SimCluster(load_scenarios(), token=id_token).running() as sim:
        user = {
            "auth-provider": {
                "name": "oidc",
                "config": {"client-id": "k8s", "id-token": id_token, "idp-issuer-url": "https://idp.example"},
            }
        }
        path = kubeconfig(tmp_path, {"server": sim.url}, user)
        with pytest.raises(NeedsFullClient, match="auth-provider 'oidc'"):
            load_kubeconfig(str(path), "main")
        reader = KubeReader(connect("main", str(path)))
        try:
            assert reader.version().startswith("v1.")
            assert [p["metadata"]["name"] for p in reader.list_pods("shop", "app=ledger-api")]
        finally:
            reader.close()
