"""deploy/Dockerfile, read as text (there is no Docker engine here): slim base, non-root, installs the package.

Checks what a build would get wrong silently: a root user, a fat base, a COPY of a path that does not exist, a
package of pyproject.toml left out of the build context, a uid or port that disagrees with the Deployment — and
the supply chain: a base pinned by digest, dependencies only from the hashed lock files, no build tools left in
the runtime, the development tools (bot/devtools, jsonpatch) kept out of the image.
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.deploytools import DEPLOY, REPO, one, overlay

DOCKERFILE = DEPLOY / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str


def instructions() -> list[Instruction]:
    """The Dockerfile's instructions, with line continuations joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "a line continuation runs off the end of the file"
    result = []
    for text in logical:
        keyword, _, value = text.partition(" ")
        result.append(Instruction(keyword.upper(), value.strip()))
    return result


def _final_stage() -> list[Instruction]:
    all_ = instructions()
    last_from = max(i for i, ins in enumerate(all_) if ins.keyword == "FROM")
    return all_[last_from:]


def _args() -> dict[str, str]:
    return dict(ins.value.split("=", 1) for ins in instructions() if ins.keyword == "ARG" and "=" in ins.value)


def _exec_form(keyword: str) -> list[str]:
    (ins,) = [i for i in _final_stage() if i.keyword == keyword]
    value = json.loads(ins.value)
    assert isinstance(value, list), f"{keyword} must use the exec (JSON) form so signals reach the process"
    return [str(v) for v in value]


def _bases() -> list[str]:
    args = _args()
    return [
        re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], ins.value.split()[0])
        for ins in instructions()
        if ins.keyword == "FROM"
    ]


def test_every_stage_is_built_on_python_3_11_slim() -> None:
    bases = _bases()
    assert bases
    for image in bases:
        assert re.fullmatch(r"python:3\.11(\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image


def test_every_stage_is_pinned_by_digest() -> None:
    """A tag can be moved to other content; a digest cannot (and the tag beside it says what it is)."""
    for image in _bases():
        assert re.search(r"@sha256:[0-9a-f]{64}$", image), f"{image}: not pinned by digest"


def test_the_image_runs_as_the_non_root_uid_the_deployment_requires() -> None:
    users = [ins.value for ins in _final_stage() if ins.keyword == "USER"]
    assert users, "the final stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid not in {"0", "root"}
    assert uid.isdigit(), "a numeric uid lets Kubernetes verify runAsNonRoot"
    container = one(overlay("single"), "Deployment", "crashloop-bot")["spec"]["template"]["spec"]["containers"][0]
    assert int(uid) == container["securityContext"]["runAsUser"] == 10001
    create_user = " ".join(ins.value for ins in _final_stage() if ins.keyword == "RUN")
    assert f"--uid {uid}" in create_user


def _runs() -> list[str]:
    return [ins.value for ins in instructions() if ins.keyword == "RUN"]


def test_dependencies_come_only_from_the_hashed_lock_files() -> None:
    runs = " && ".join(_runs())
    installs = re.findall(r"pip install ([^&]*)", runs)
    assert any("--require-hashes --no-deps -r requirements.lock" in i for i in installs), installs
    assert any("--require-hashes -r requirements-build.lock" in i for i in installs), installs
    for args in installs:  # anything else installs the built wheel, from no index and without dependencies
        assert "--require-hashes" in args or ("--no-index" in args and "--no-deps" in args), args
        assert "--no-cache-dir" in args
    assert re.search(r"pip wheel [^&]*--no-deps --no-build-isolation", runs), (
        "the package is built with the hashed tools"
    )
    assert "pip check" in runs


def _lock(name: str) -> dict[str, list[str]]:
    """package -> its hashes, from a pip-compile --generate-hashes file."""
    entries: dict[str, list[str]] = {}
    current = ""
    for line in (REPO / name).read_text(encoding="utf-8").splitlines():
        pinned = re.match(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)", line)
        if pinned:
            current = f"{canonicalize_name(pinned[1])}=={pinned[2]}"
            entries[current] = []
        elif line.strip().startswith("--hash=sha256:"):
            entries[current].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
        else:
            assert not line.strip() or line.lstrip().startswith("#"), f"{name}: unpinned line {line!r}"
    return entries


@pytest.mark.parametrize("name", ["requirements.lock", "requirements-build.lock"])
def test_every_locked_package_is_pinned_with_hashes(name: str) -> None:
    entries = _lock(name)
    assert entries
    for package, hashes in entries.items():
        assert hashes, f"{name}: {package} has no hash"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), package


def _locked_versions(name: str) -> dict[str, str]:
    return dict(entry.split("==", 1) for entry in _lock(name))


def _pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_lock_satisfies_every_runtime_dependency_and_holds_no_dev_tool() -> None:
    locked = _locked_versions("requirements.lock")
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is a dependency but not in requirements.lock: re-run pip-compile"
        assert requirement.specifier.contains(locked[name], prereleases=True), f"{name}=={locked[name]} vs {spec}"
    for tool in ("jsonpatch", "pytest", "ruff", "mypy", "pip-tools", "pip-audit", "pip", "setuptools", "wheel"):
        assert tool not in locked, f"{tool} must not be in the image's lock"


def test_the_build_lock_satisfies_the_build_system() -> None:
    locked = _locked_versions("requirements-build.lock")
    build_system = _pyproject()["build-system"]
    assert isinstance(build_system, dict)
    for spec in build_system["requires"]:
        requirement = Requirement(spec)
        assert requirement.specifier.contains(locked[canonicalize_name(requirement.name)])


def test_no_build_tool_is_left_in_the_runtime() -> None:
    """setuptools 65.5 (the base's and the venv's) carries published advisories; nothing needs it at run time."""
    build_stage = " && ".join(
        ins.value for ins in instructions()[: len(instructions()) - len(_final_stage())] if ins.keyword == "RUN"
    )
    final_stage = " && ".join(ins.value for ins in _final_stage() if ins.keyword == "RUN")
    assert "/opt/crashloop/bin/python -m pip uninstall --yes pip setuptools wheel" in build_stage
    assert "python -m pip uninstall --yes pip setuptools wheel" in final_stage
    copies = [ins.value for ins in _final_stage() if ins.keyword == "COPY"]
    assert copies == ["--from=build /opt/crashloop /opt/crashloop"], "only the runtime venv reaches the image"


def test_the_development_tools_stay_out_of_the_image() -> None:
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "bot/devtools" in ignored
    assert not {"requirements.lock", "requirements-build.lock"} & set(ignored)
    assert any('! /opt/crashloop/bin/python -c "import bot.devtools"' in r for r in _runs())
    extras = _pyproject()["project"]["optional-dependencies"]  # type: ignore[index]
    assert [canonicalize_name(Requirement(r).name) for r in extras["devtools"]] == ["jsonpatch"]
    assert "crashloop-bot[devtools]" in extras["dev"]


def test_only_the_demo_command_imports_the_development_tools() -> None:
    importers = {
        path.relative_to(REPO).as_posix()
        for package in ("bot", "handlers", "runbooks")
        for path in (REPO / package).rglob("*.py")
        if "devtools" not in path.parts and re.search(r"^\s*(from|import) bot\.devtools", path.read_text(), re.M)
    }
    (importer,) = importers  # one module: the `demo` command's (bot/cli/main.py, or its own bot/cli/demo.py)
    assert importer in {"bot/cli/main.py", "bot/cli/demo.py"}


def test_demo_without_the_development_tools_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli.main import cli

    for module in [m for m in sys.modules if m.startswith("bot.devtools")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "bot.devtools", None)  # as in the image: the package is not there

    result = CliRunner().invoke(cli, ["demo"])

    assert result.exit_code != 0  # a usage error, not a traceback
    assert "Traceback" not in result.output
    assert "the demo needs the development tools" in result.output
    assert "pip install -e '.[devtools]'" in result.output


def test_entrypoint_is_crashloop_and_the_default_command_serves() -> None:
    assert _exec_form("ENTRYPOINT") == ["crashloop"]
    command = _exec_form("CMD")
    assert command[0] == "serve"
    assert command[command.index("--port") + 1] == "3000"
    assert [ins.value for ins in _final_stage() if ins.keyword == "EXPOSE"] == ["3000"]


def test_copies_exist_and_cover_what_pyproject_builds() -> None:
    copies = [ins.value.split() for ins in instructions() if ins.keyword == "COPY" and "--from" not in ins.value]
    sources = {src.rstrip("/") for parts in copies for src in parts[:-1]}
    for src in sources:
        assert (REPO / src).exists(), f"COPY {src}: not in the repository (build context = repo root)"
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages <= sources, f"not copied into the build: {packages - sources}"
    assert {"pyproject.toml", project["project"]["readme"]} <= sources


@pytest.mark.parametrize("forbidden", ["ADD ", "sudo", "chmod 777", "--privileged"])
def test_no_risky_instructions(forbidden: str) -> None:
    text = "\n".join(f"{ins.keyword} {ins.value}" for ins in instructions())
    assert forbidden not in text
