"""deploy/Dockerfile, read as text (there is no Docker engine here): slim base, non-root, installs the package.

Checks what a build would get wrong silently: a root user, a fat base, a COPY of a path that does not exist, a
package of pyproject.toml left out of the build context, a uid or port that disagrees with the Deployment.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass

import pytest

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


def test_every_stage_is_built_on_python_3_11_slim() -> None:
    args = _args()
    bases = [ins.value.split()[0] for ins in instructions() if ins.keyword == "FROM"]
    assert bases
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], base)
        assert re.fullmatch(r"python:3\.11-slim(-\w+)?", image), image


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


def test_the_package_is_installed_with_pip_without_a_cache() -> None:
    runs = [ins.value for ins in instructions() if ins.keyword == "RUN"]
    assert any(re.search(r"pip install --no-cache-dir \.(\s|$)", r) for r in runs)


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
