"""Fixtures for the simulated cluster's tests: a running sim, its kubeconfig, official clients, kubectl, raw HTTP.

kubectl never sends a bearer token over plain HTTP (kubernetes/kubectl#744), so kubectl tests use a sim created
without a token; the official Python client tests use one with a token.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from simview import TOKEN, RawResponse, SimView, raw_request

from bot.devtools.simcluster import Scenario, SimCluster, load_scenarios

SEED = 7


@pytest.fixture(scope="session")
def scenarios() -> list[Scenario]:
    return load_scenarios()


@pytest.fixture
def sim(scenarios: list[Scenario]) -> Iterator[SimCluster]:
    with SimCluster(scenarios, token=TOKEN, seed=SEED).running() as running:
        yield running


@pytest.fixture
def kubeconfig(sim: SimCluster, tmp_path: Path) -> Path:
    return sim.write_kubeconfig(tmp_path / "kubeconfig", context="sim")


@pytest.fixture
def api_client(kubeconfig: Path) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(kubeconfig), context="sim")
    yield api
    api.close()


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture
def raw(sim: SimCluster) -> Callable[..., RawResponse]:
    def call(path: str, method: str = "GET", **kwargs: Any) -> RawResponse:
        return raw_request(sim.url + path, method, **kwargs)

    return call


@pytest.fixture
def open_sim(scenarios: list[Scenario]) -> Iterator[SimCluster]:
    """A sim without a token, for kubectl."""
    with SimCluster(scenarios, seed=SEED).running() as running:
        yield running


@pytest.fixture
def kubectl(open_sim: SimCluster, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.fail("kubectl is not installed: the kubectl tests need /usr/bin/kubectl (.ci/run checks for it)")
    path = open_sim.write_kubeconfig(tmp_path / "kubectl-config")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [binary, "--kubeconfig", str(path), "--cache-dir", str(tmp_path / "kube-cache"), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done

    return run


@pytest.fixture
def view(sim: SimCluster) -> SimView:
    return SimView(sim)


@pytest.fixture
def open_view(open_sim: SimCluster) -> SimView:
    return SimView(open_sim)
