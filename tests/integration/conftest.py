"""A simulated cluster shared by the integration tests, and a crashloop.yaml pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.devtools.simcluster import SimCluster, load_scenarios


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimCluster]:
    with SimCluster(load_scenarios(), token="sim-token").running() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def kubeconfig(sim: SimCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(sim.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig", context="sim"))


def write_config(path: Path, kubeconfig: Path, **triage: object) -> Path:
    config = {
        "environments": {
            "prod": {
                "context": "sim",
                "kubeconfig": str(kubeconfig),
                "namespaces": ["shop", "payments"],
                "channel": "C0INCIDENTS",
                "cluster_label": "sim-1",
            }
        },
        "access": {"responders": ["U0ONCALL1"], "viewers": ["U0VIEWER1"]},
        "limits": {"max_memory": "4Gi"},
    }
    if triage:
        config["triage"] = dict(triage)
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def config_file(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("cfg") / "crashloop.yaml", kubeconfig)


@pytest.fixture(autouse=True)
def _no_faults(sim: SimCluster) -> Iterator[None]:
    yield
    sim.clear_faults()
