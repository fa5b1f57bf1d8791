"""Runs the corpus of real incidents through the bot's real path, for the corpus test and the accuracy bench.

Each case (`tests/corpus/<id>.yaml`, format in `tests/corpus/README.md`) is seeded into a simulated cluster; the bot
triages it with `crashloop triage <env> <workload> -n <namespace> --format json` — the real CLI command and the
bot's own Kubernetes client (`bot/kube`) — and the JSON is scored against the case's `expected`. Cases that share a
namespace would see each other's objects, so they are spread over a few clusters, each case alone in its namespace
there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from bot.cli.main import cli
from bot.devtools.simcluster import SimCluster
from bot.devtools.simcluster.scenarios import parse_scenario

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built in: the corpus is ~1 MB of YAML
CORPUS = Path(__file__).parent
# The operator's cap on bump_memory. The shipped default (4Gi) is for a small cluster; the corpus' reports come from
# clusters whose pods already run at 4-6Gi, where a cap at their current limit would rule every bump out.
LIMITS = {"max_memory": "16Gi"}


@dataclass(frozen=True)
class Case:
    """One incident of the corpus, as written by the person who transcribed it."""

    id: str
    raw: dict[str, Any]

    @property
    def namespace(self) -> str:
        return str(self.raw["scenario"]["namespace"])

    @property
    def workload(self) -> str:
        return str(self.raw["scenario"]["workload"]["manifest"]["metadata"]["name"])

    @property
    def expected(self) -> dict[str, Any]:
        return dict(self.raw["expected"])

    @property
    def branches(self) -> list[str]:
        return [self.expected["branch"], *(self.expected.get("alternatives") or [])]


@dataclass(frozen=True)
class Outcome:
    """How the bot did on one case: each check, and what it said."""

    case: Case
    data: dict[str, Any]
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def branch(self) -> str | None:
        return self.data.get("branch")


def load_cases(folder: Path = CORPUS) -> list[Case]:
    cases = []
    for path in sorted(folder.glob("*.yaml")):
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
        cases.append(Case(path.stem, raw))
    return cases


def footprint(case: Case) -> set[str]:
    """Every name a case creates or looks at in its namespace: its workload, its objects, and what its pod
    template references (Secrets, ConfigMaps, claims, its service account)."""
    names = {case.workload}
    names.update(str((o.get("metadata") or {}).get("name")) for o in case.raw["scenario"].get("objects") or [])
    for key in ("name", "secretName", "claimName", "serviceAccountName"):
        names.update(v for k, v in _pairs(case.raw["scenario"]["workload"]) if k == key and isinstance(v, str))
    return names


def _pairs(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k), v
            yield from _pairs(v)
    elif isinstance(node, list):
        for item in node:
            yield from _pairs(item)


def groups(cases: list[Case]) -> list[list[Case]]:
    """Cases spread over as few simulated clusters as can hold them without two cases of one namespace sharing a
    name (workload, object, or anything a pod template references): no case can see another's objects."""
    placed: list[tuple[dict[str, set[str]], list[Case]]] = []
    for case in cases:
        mine = footprint(case)
        slot = next((g for g in placed if not (g[0].get(case.namespace, set()) & mine)), None)
        if slot is None:
            slot = ({}, [])
            placed.append(slot)
        slot[0].setdefault(case.namespace, set()).update(mine)
        slot[1].append(case)
    return [g for _, g in placed]


@contextmanager
def clusters(cases: list[Case], workdir: Path) -> Iterator[list[tuple[Path, list[Case]]]]:
    """One running simulated cluster per group, each with a crashloop.yaml pointing at it."""
    with ExitStack() as stack:
        out = []
        for i, group in enumerate(groups(cases)):
            scenarios = [parse_scenario(c.raw["scenario"], c.id) for c in group]
            sim = stack.enter_context(SimCluster(scenarios, token="corpus-token").running())
            kubeconfig = sim.write_kubeconfig(workdir / f"kubeconfig-{i}", context="sim")
            config = workdir / f"crashloop-{i}.yaml"
            namespaces = sorted({c.namespace for c in group})
            env = {"context": "sim", "kubeconfig": str(kubeconfig), "namespaces": namespaces}
            config.write_text(yaml.safe_dump({"environments": {"corpus": env}, "limits": LIMITS}))
            out.append((config, group))
        yield out


def triage_args(config: Path, case: Case) -> list[str]:
    return ["--config", str(config), "triage", "corpus", case.workload, "-n", case.namespace, "--format", "json"]


def triage_in_process(config: Path, case: Case) -> dict[str, Any]:
    """`crashloop triage … --format json` through click's runner: the same command, in this process."""
    result = CliRunner().invoke(cli, triage_args(config, case), catch_exceptions=False)
    if result.exit_code != 0:
        raise RuntimeError(f"{case.id}: crashloop triage exited {result.exit_code}: {result.output}")
    data: dict[str, Any] = json.loads(result.output)
    return data


def triage_subprocesses(jobs: list[tuple[Path, Case]]) -> list[dict[str, Any]]:
    """`crashloop triage … --format json` as processes of their own, exactly as a person runs it (all at once)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bot.cli.main", *triage_args(config, case)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for config, case in jobs
    ]
    results = []
    for proc, (_, case) in zip(procs, jobs, strict=True):
        out, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{case.id}: crashloop triage exited {proc.returncode}: {err}")
        results.append(json.loads(out))
    return results


def score(case: Case, data: dict[str, Any]) -> Outcome:
    """The corpus' four checks: branch, container, a decisive quote in summary/reasons, first remedy."""
    exp = case.expected
    problems = []
    if data.get("branch") not in case.branches:
        problems.append(f"branch {data.get('branch')} not in {case.branches}")
    if data.get("container") != exp["container"]:
        problems.append(f"container {data.get('container')} != {exp['container']}")
    said = " ".join([data.get("summary") or ""] + [f"{r['text']} {r.get('quote') or ''}" for r in data["reasons"]])
    if not any(q in said for q in exp["quote"]):
        problems.append(f"none of {exp['quote']} quoted in summary/reasons")
    first = data["remedies"][0]["id"] if data.get("remedies") else None
    if first != exp.get("remedy"):
        problems.append(f"first remedy {first} != {exp.get('remedy')}")
    return Outcome(case, data, tuple(problems))


def run_corpus(workdir: Path, cases: list[Case] | None = None) -> list[Outcome]:
    """Every case through the real CLI against its simulated cluster, scored."""
    cases = load_cases() if cases is None else cases
    outcomes = []
    with clusters(cases, workdir) as running:
        for config, group in running:
            outcomes.extend(score(case, triage_in_process(config, case)) for case in group)
    return sorted(outcomes, key=lambda o: o.case.id)
