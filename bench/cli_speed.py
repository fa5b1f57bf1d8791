"""Benchmark: the `crashloop` command's wall time against kubectl's, side by side in one run.

Issue 11's targets: `crashloop triage` at most 5× `kubectl describe pod` against the same simulated apiserver,
and `crashloop --help` under 0.3 s. Every sample is a fresh process (what a person typing the command waits
for: interpreter start, imports, kubeconfig, the API calls, rendering); the commands alternate round by round so
that load on the shared machine hits them alike. Also measured: `python -c pass` (the interpreter's own floor)
and `import kubernetes` alone — what the triage no longer pays (bot/kube reads the kubeconfig and calls the API
itself). The load average is printed before and after the run: the machine is shared.

The project's modules are byte-compiled first, as pip does when it installs the wheel (deploy/Dockerfile): the
samples measure loading the code, not compiling it. An editable install run with PYTHONDONTWRITEBYTECODE=1 never
writes .pyc files, so without this step every sample recompiled the ≈ 80 modules a triage loads (≈ 0.1 s, more
than the ratio's margin). That case is still shown, as its own line: a triage with an empty bytecode cache.

Run: `make bench` (or `.venv/bin/python -m bench.cli_speed [--runs N]`).
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

TRIAGE_RATIO_TARGET = 5.0
HELP_TARGET_SECONDS = 0.3
REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "runbooks", "handlers")  # what pyproject.toml ships
NO_PYC = "crashloop triage, no .pyc"


def _byte_compile() -> None:
    """The .pyc files pip writes at install: written next to the sources (`__pycache__/`, ignored by git)."""
    for package in PACKAGES:
        compileall.compile_dir(REPO / package, quiet=1)


def _without_pyc(where: Path) -> dict[str, str]:
    """An environment whose `bot`, `runbooks` and `handlers` are copies without .pyc that stay without: the project's
    modules compiled from source on every run, the standard library's and dependencies' from their .pyc files."""
    for package in PACKAGES:
        shutil.copytree(REPO / package, where / package, ignore=shutil.ignore_patterns("__pycache__"))
    return {**os.environ, "PYTHONPATH": str(where), "PYTHONDONTWRITEBYTECODE": "1"}


@contextmanager
def _apiserver(tmp: Path) -> Iterator[Path]:
    """The simulated apiserver in a process of its own, as a real one would be."""
    kubeconfig = tmp / "kubeconfig"
    command = [sys.executable, "-m", "bot.devtools.simcluster", "--port", "0", "--kubeconfig", str(kubeconfig)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if kubeconfig.exists():
                break
            time.sleep(0.05)
        time.sleep(0.3)
        yield kubeconfig
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def _config(tmp: Path, kubeconfig: Path) -> Path:
    path = tmp / "crashloop.yaml"
    environment = {"context": "sim", "kubeconfig": str(kubeconfig), "namespaces": ["shop", "payments"]}
    path.write_text(yaml.safe_dump({"environments": {"prod": environment}}))
    return path


def _pod(kubeconfig: Path) -> str:
    kubectl = [_kubectl(), "--kubeconfig", str(kubeconfig), "-n", "shop", "get", "pods", "-o", "name"]
    names = subprocess.run(kubectl, capture_output=True, text=True, check=True).stdout.split()
    return next(n for n in names if "ledger-api" in n).removeprefix("pod/")


def _kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        raise SystemExit("kubectl is not on PATH (scripts/setup-test-deps.sh checks for it)")
    return path


def _time(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - started


def measure(runs: int) -> dict[str, list[float]]:
    crashloop = str(Path(sys.executable).with_name("crashloop"))
    _byte_compile()
    with tempfile.TemporaryDirectory() as tmp_name, _apiserver(Path(tmp_name)) as kubeconfig:
        config = _config(Path(tmp_name), kubeconfig)
        envs = {NO_PYC: _without_pyc(Path(tmp_name) / "src")}
        commands = {
            "kubectl describe pod": [
                _kubectl(),
                "--kubeconfig",
                str(kubeconfig),
                "-n",
                "shop",
                "describe",
                "pod",
                _pod(kubeconfig),
            ],
            "crashloop triage": [crashloop, "--config", str(config), "triage", "prod", "ledger-api"],
            NO_PYC: [crashloop, "--config", str(config), "triage", "prod", "ledger-api"],
            "crashloop --help": [crashloop, "--help"],
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import kubernetes'": [sys.executable, "-c", "import kubernetes"],
        }
        for name, command in commands.items():  # warm-up: disk cache
            _time(command, envs.get(name))
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, command in commands.items():
                samples[name].append(_time(command, envs.get(name)))
    return samples


def report(samples: dict[str, list[float]]) -> str:
    median = {name: statistics.median(values) for name, values in samples.items()}
    lines = ["| command | median s | min s | max s |", "|---|---|---|---|"]
    for name, values in samples.items():
        lines.append(f"| `{name}` | {median[name]:.3f} | {min(values):.3f} | {max(values):.3f} |")
    ratio = median["crashloop triage"] / median["kubectl describe pod"]
    verdict = "met" if ratio <= TRIAGE_RATIO_TARGET else "NOT met"
    lines.append("")
    lines.append(f"triage / kubectl describe: {ratio:.1f}x (target <= {TRIAGE_RATIO_TARGET:g}x: {verdict})")
    no_pyc = median[NO_PYC] / median["kubectl describe pod"]
    lines.append(f"(with an empty bytecode cache, e.g. the first run after an editable install: {no_pyc:.1f}x)")
    help_verdict = "met" if median["crashloop --help"] < HELP_TARGET_SECONDS else "NOT met"
    lines.append(f"--help: {median['crashloop --help']:.3f} s (target < {HELP_TARGET_SECONDS} s: {help_verdict})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    before = _loadavg()
    samples = measure(args.runs)
    print(f"load average before: {before}; after: {_loadavg()}")
    print(report(samples))


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    main()
