"""`scripts/setup-test-deps.sh` (what `make test` and CI run first): on a machine where the Debian packages are
missing and the user cannot install them, it stops at once with the exact command to run as root.

The missing packages are simulated with a PATH that holds only the shell tools the script needs; as root the
script runs as `nobody` (through runuser), so it takes the not-root path whoever runs the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "setup-test-deps.sh"
TOOLS = ("bash", "id", "ls", "head", "printf", "cat", "dirname")


@pytest.fixture
def world_readable() -> Iterator[Path]:
    """A scratch directory `nobody` can enter (pytest's own tmp_path is private to the user running the tests)."""
    with tempfile.TemporaryDirectory(prefix="setup-check-") as name:
        Path(name).chmod(0o755)
        yield Path(name)


def _bare_path(tmp_path: Path) -> Path:
    """A directory of symlinks to basic tools only: no prometheus, promtool, amtool, kubectl, apt-get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(mode=0o755)
    for name in TOOLS:
        found = shutil.which(name)
        assert found, name
        (bin_dir / name).symlink_to(found)
    return bin_dir


def _copy_script(tmp_path: Path) -> Path:
    scripts = tmp_path / "repo" / "scripts"
    scripts.mkdir(parents=True)
    copy = scripts / SCRIPT.name
    shutil.copy(SCRIPT, copy)
    for path in (tmp_path, tmp_path / "repo", scripts, copy):
        path.chmod(0o755)
    return copy


def test_without_root_it_stops_with_the_command_to_run(world_readable: Path) -> None:
    bin_dir, script = _bare_path(world_readable), _copy_script(world_readable)
    command = [str(bin_dir / "bash"), str(script)]
    if os.geteuid() == 0:
        command = [shutil.which("runuser") or "runuser", "-u", "nobody", "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, env={"PATH": str(bin_dir)})
    assert result.returncode == 1
    assert "prometheus is missing and this user cannot install it. Run, as root:" in result.stderr
    assert "apt-get install -y --no-install-recommends prometheus prometheus-alertmanager" in result.stderr
    assert "exit 101" in result.stderr  # keeps apt from starting the packaged daemons


def test_the_demo_needs_nothing_beyond_python(tmp_path: Path) -> None:
    bin_dir, script = _bare_path(tmp_path), _copy_script(tmp_path)
    result = subprocess.run(
        [str(bin_dir / "bash"), str(script), "--demo"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": str(bin_dir)},
    )
    assert (result.returncode, result.stderr) == (0, "")
