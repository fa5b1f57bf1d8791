"""bot.kube.transport over real TLS, real exec plugins and a real proxy.

An HTTPS API-server stand-in with a self-signed CA (tests/integration/kube_tls.py) checks what reaches it: the
server certificate is verified against the kubeconfig's CA (and `tls-server-name`), a client certificate from the
kubeconfig or from an exec plugin is presented, an exec plugin runs once while its token holds and again after a
401, and an HTTP proxy carries the calls (CONNECT for https, absolute URLs for http). Failures read as the CLI
prints them.
"""

from __future__ import annotations

import base64
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.devtools.simcluster import SimCluster, load_scenarios
from bot.kube.client import KubeError, KubeReader, Timeouts, connect
from tests.integration.kube_tls import CertificateAuthority, http_proxy, https_api

CA = CertificateAuthority()
SERVER = CA.issue("apiserver", ips=("127.0.0.1",), client=False)
NAMED_ONLY = CA.issue("apiserver", dns=("kubernetes.test",), client=False)  # no IP SAN: only by name
ALICE = CA.issue("alice", client=True)
BOB = CA.issue("bob", client=True)
STRANGER_CA = CertificateAuthority("stranger")
QUICK = Timeouts(connect=3.0, read=5.0)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(tmp: Path, cluster: dict[str, Any], user: dict[str, Any]) -> str:
    path = tmp / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "main", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "main",
            }
        )
    )
    return str(path)


def version(kubeconfig: str) -> str:
    reader = KubeReader(connect("main", kubeconfig), QUICK)
    try:
        return reader.version()
    finally:
        reader.close()


def plugin(tmp: Path, status: str, *, name: str = "plugin.py") -> tuple[Path, Path]:
    """An exec plugin script; `status` is a Python expression of the status dict (`n` = this run's number).
    Returns the script and the file counting its runs."""
    count = tmp / f"{name}.runs"
    script = tmp / name
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, pathlib\n"
        f"runs = pathlib.Path({str(count)!r})\n"
        "n = int(runs.read_text()) + 1 if runs.exists() else 1\n"
        "runs.write_text(str(n))\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        f"print(json.dumps({{'apiVersion': info['apiVersion'], 'kind': 'ExecCredential', 'status': {status}}}))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, count


def exec_user(script: Path, version: str = "client.authentication.k8s.io/v1") -> dict[str, Any]:
    return {"exec": {"apiVersion": version, "command": str(script), "interactiveMode": "Never"}}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Any]:
    with https_api(tmp_path, CA, SERVER) as state:
        yield state


# --- server certificate ------------------------------------------------------------------------------------


def test_the_server_is_verified_against_the_kubeconfig_ca(tmp_path: Path, api: Any) -> None:
    good = write_kubeconfig(tmp_path, {"server": api.url, "certificate-authority-data": b64(CA.pem)}, {"token": "t"})
    assert version(good) == "v1.30.0-tls"
    assert api.seen[-1]["authorization"] == "Bearer t"
    stranger = write_kubeconfig(
        tmp_path, {"server": api.url, "certificate-authority-data": b64(STRANGER_CA.pem)}, {"token": "t"}
    )
    with pytest.raises(KubeError) as refused:
        version(stranger)
    assert refused.value.reason == "unreachable"
    assert f"cannot reach the API server at {api.url} (TLS error:" in refused.value.message
    assert "certificate verify failed" in refused.value.message


def test_insecure_skip_tls_verify_accepts_any_certificate(tmp_path: Path, api: Any) -> None:
    path = write_kubeconfig(tmp_path, {"server": api.url, "insecure-skip-tls-verify": True}, {"token": "t"})
    assert version(path) == "v1.30.0-tls"


def test_tls_server_name_checks_the_certificate_for_that_name(tmp_path: Path) -> None:
    with https_api(tmp_path, CA, NAMED_ONLY) as named:
        cluster = {"server": named.url, "certificate-authority-data": b64(CA.pem)}
        with pytest.raises(KubeError, match="TLS error"):  # 127.0.0.1 is not in the certificate
            version(write_kubeconfig(tmp_path, cluster, {}))
        assert version(write_kubeconfig(tmp_path, {**cluster, "tls-server-name": "kubernetes.test"}, {})).startswith(
            "v1.30"
        )


# --- client certificates ------------------------------------------------------------------------------------


def test_a_client_certificate_from_the_kubeconfig(tmp_path: Path) -> None:
    with https_api(tmp_path, CA, SERVER, require_client_cert=True) as api:
        cluster = {"server": api.url, "certificate-authority-data": b64(CA.pem)}
        (tmp_path / "alice.crt").write_bytes(ALICE.cert)
        (tmp_path / "alice.key").write_bytes(ALICE.key)
        assert version(
            write_kubeconfig(tmp_path, cluster, {"client-certificate": "alice.crt", "client-key": "alice.key"})
        )
        assert api.seen[-1]["client"] == "alice"
        inline = {"client-certificate-data": b64(BOB.cert), "client-key-data": b64(BOB.key)}
        assert version(write_kubeconfig(tmp_path, cluster, inline))
        assert api.seen[-1]["client"] == "bob"
        with pytest.raises(KubeError, match="cannot reach the API server"):  # the server demands one
            version(write_kubeconfig(tmp_path, cluster, {"token": "t"}))


def test_an_exec_plugin_may_answer_with_a_client_certificate(tmp_path: Path) -> None:
    status = f"{{'clientCertificateData': {ALICE.cert.decode()!r}, 'clientKeyData': {ALICE.key.decode()!r}}}"
    script, _ = plugin(tmp_path, status)
    with https_api(tmp_path, CA, SERVER, require_client_cert=True) as api:
        cluster = {"server": api.url, "certificate-authority-data": b64(CA.pem)}
        assert version(write_kubeconfig(tmp_path, cluster, exec_user(script)))
        assert api.seen[-1] == {"path": "/version", "authorization": None, "client": "alice"}


# --- exec plugins: caching, expiry, 401 ---------------------------------------------------------------------


def _reader(tmp: Path, url: str, user: dict[str, Any]) -> KubeReader:
    path = write_kubeconfig(tmp, {"server": url, "certificate-authority-data": b64(CA.pem)}, user)
    return KubeReader(connect("main", path), QUICK)


@pytest.mark.parametrize("version_", ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"])
def test_an_exec_token_is_reused_until_it_expires(tmp_path: Path, api: Any, version_: str) -> None:
    script, runs = plugin(tmp_path, "{'token': f'tok-{n}', 'expirationTimestamp': '2999-01-01T00:00:00Z'}")
    reader = _reader(tmp_path, api.url, exec_user(script, version_))
    try:
        for _ in range(3):
            reader.version()
    finally:
        reader.close()
    assert runs.read_text() == "1"
    assert [s["authorization"] for s in api.seen] == ["Bearer tok-1"] * 3


def test_an_expired_exec_token_runs_the_plugin_again(tmp_path: Path, api: Any) -> None:
    script, runs = plugin(tmp_path, "{'token': f'tok-{n}', 'expirationTimestamp': '2000-01-01T00:00:00Z'}")
    reader = _reader(tmp_path, api.url, exec_user(script))
    try:
        reader.version()
        reader.version()
    finally:
        reader.close()
    assert runs.read_text() == "2"
    assert [s["authorization"] for s in api.seen] == ["Bearer tok-1", "Bearer tok-2"]


def test_a_401_drops_the_exec_token_and_retries_once(tmp_path: Path, api: Any) -> None:
    script, runs = plugin(tmp_path, "{'token': f'tok-{n}'}")  # no expiry: kept until refused
    api.accepted_tokens = {"tok-2"}
    reader = _reader(tmp_path, api.url, exec_user(script))
    try:
        assert reader.version() == "v1.30.0-tls"
        reader.version()
        api.accepted_tokens = {"tok-9"}
        with pytest.raises(KubeError) as refused:
            reader.version()
    finally:
        reader.close()
    first, second, third = ["Bearer tok-1", "Bearer tok-2"], ["Bearer tok-2"], ["Bearer tok-2", "Bearer tok-3"]
    assert [s["authorization"] for s in api.seen] == [*first, *second, *third]
    assert runs.read_text() == "3"
    assert refused.value.status == 401


def test_a_failing_exec_plugin_is_named_with_what_it_said(tmp_path: Path, api: Any) -> None:
    script = tmp_path / "broken.py"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nsys.stderr.write('error: SSO session expired; run aws sso login\\n')\n"
        "sys.exit(3)\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    reader = _reader(tmp_path, api.url, exec_user(script))
    try:
        with pytest.raises(KubeError) as failed:
            reader.version()
    finally:
        reader.close()
    assert failed.value.reason == "unauthenticated"
    assert f"exec plugin `{script}` exited with code 3: error: SSO session expired" in failed.value.message
    assert api.seen == []  # nothing was sent without credentials


def test_an_exec_plugin_answering_the_wrong_api_version(tmp_path: Path, api: Any) -> None:
    script, _ = plugin(tmp_path, "{'token': 't'}")
    user = exec_user(script, "client.authentication.k8s.io/v1")
    script.write_text(script.read_text().replace("info['apiVersion']", "'client.authentication.k8s.io/v1beta1'"))
    reader = _reader(tmp_path, api.url, user)
    try:
        with pytest.raises(KubeError, match=r"answered apiVersion 'client\.authentication\.k8s\.io/v1beta1'"):
            reader.version()
    finally:
        reader.close()


# --- proxy --------------------------------------------------------------------------------------------------


def test_https_through_a_proxy_tunnel(tmp_path: Path, api: Any) -> None:
    with http_proxy() as proxy:
        cluster = {"server": api.url, "certificate-authority-data": b64(CA.pem), "proxy-url": proxy.url}
        assert version(write_kubeconfig(tmp_path, cluster, {"token": "t"})) == "v1.30.0-tls"
    assert proxy.requests == [f"CONNECT {api.url.removeprefix('https://')}"]
    assert api.seen[-1]["authorization"] == "Bearer t"


def test_plain_http_through_a_proxy(tmp_path: Path) -> None:
    with SimCluster(load_scenarios(), token="sim-token").running() as sim, http_proxy() as proxy:
        url = sim.url
        path = write_kubeconfig(tmp_path, {"server": url, "proxy-url": proxy.url}, {"token": "sim-token"})
        reader = KubeReader(connect("main", path), QUICK)
        try:
            pods = reader.list_pods("shop", "app=ledger-api")
        finally:
            reader.close()
    assert pods
    assert proxy.requests == [f"GET {url}/api/v1/namespaces/shop/pods?labelSelector=app%3Dledger-api"]


def test_an_unsupported_proxy_scheme_is_refused_at_connect(tmp_path: Path) -> None:
    from bot.kube.client import KubeConfigError

    path = write_kubeconfig(tmp_path, {"server": "https://x", "proxy-url": "socks5://127.0.0.1:1080"}, {})
    with pytest.raises(KubeConfigError, match="only http:// proxies are supported"):
        connect("main", path)


# --- keep-alive ---------------------------------------------------------------------------------------------


def test_connections_are_kept_alive_and_a_closed_one_is_replaced(tmp_path: Path) -> None:
    """Many calls share few connections; after the server goes away and comes back, calls still succeed."""
    with SimCluster(load_scenarios(), token="sim-token").running() as sim:
        path = write_kubeconfig(tmp_path, {"server": sim.url}, {"token": "sim-token"})
        reader = KubeReader(connect("main", path), QUICK)
        try:
            for _ in range(20):
                reader.version()
            pool = reader.api._pool  # what is pooled is the point of this test
            assert len(pool._idle) == 1
            for conn in pool._idle:
                assert conn.sock is not None
                conn.sock.shutdown(2)  # as if the server had closed an idle keep-alive connection
            assert reader.version()
        finally:
            reader.close()
