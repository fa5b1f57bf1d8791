"""Every real incident of the corpus through the real path: simulated cluster, the bot's Kubernetes client, the CLI.

The bar (issue 9): the triage is right on at least 95 % of the cases — branch (or an honest alternative), the
container, the decisive line quoted in `summary`/`reasons`, and the first remedy. Cases it gets wrong are listed
by id in the failure message; none is skipped. A sample also runs as its own `crashloop` process, as a person
would run it, and must say exactly what the in-process run said.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.corpus.runner import Case, Outcome, clusters, load_cases, score, triage_in_process, triage_subprocesses

TARGET = 0.95
MIN_CASES = 80
SUBPROCESS_SAMPLE = 2  # each process pays the CLI start-up (~2.5 s of CPU); in-process runs cover the rest


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Outcome], dict[str, Path]]]:
    cases = load_cases()
    workdir = tmp_path_factory.mktemp("corpus")
    with clusters(cases, workdir) as running:
        outcomes = [score(case, triage_in_process(config, case)) for config, group in running for case in group]
        configs = {case.id: config for config, group in running for case in group}
        yield outcomes, configs


def test_the_corpus_is_large_and_spread_over_every_branch() -> None:
    cases = load_cases()
    assert len(cases) >= MIN_CASES
    branches = {c.expected["branch"] for c in cases}
    assert branches == {"app_env", "resources", "probes", "rbac_mounts", "image_config", "networking_deps"}
    assert all(str(c.raw["source"]["url"]).startswith("https://") for c in cases)


def test_the_triage_is_right_on_95_percent_of_real_incidents(runs: tuple[list[Outcome], dict[str, Path]]) -> None:
    outcomes, _ = runs
    wrong = [o for o in outcomes if not o.ok]
    right = len(outcomes) - len(wrong)
    listing = "\n".join(f"  {o.case.id}: {'; '.join(o.problems)}" for o in wrong)
    assert right / len(outcomes) >= TARGET, f"{right}/{len(outcomes)} right; wrong:\n{listing}"


def test_every_case_names_its_pod_and_container_and_quotes_evidence(
    runs: tuple[list[Outcome], dict[str, Path]],
) -> None:
    outcomes, _ = runs
    unnamed = [o.case.id for o in outcomes if not o.data["pod"] or not o.data["container"]]
    unquoted = [o.case.id for o in outcomes if not any(r.get("quote") for r in o.data["reasons"])]
    assert not unnamed, f"no pod/container named: {unnamed}"
    assert not unquoted, f"no reason quotes a line: {unquoted}"


def test_a_sample_run_as_its_own_process_says_the_same(runs: tuple[list[Outcome], dict[str, Path]]) -> None:
    outcomes, configs = runs
    step = len(outcomes) // SUBPROCESS_SAMPLE
    sample: list[tuple[Case, Outcome]] = [(o.case, o) for o in outcomes[::step][:SUBPROCESS_SAMPLE]]
    assert len(sample) == SUBPROCESS_SAMPLE
    results = triage_subprocesses([(configs[case.id], case) for case, _ in sample])
    for (case, in_process), data in zip(sample, results, strict=True):
        same = ("branch", "container", "summary", "confidence")
        assert {k: data[k] for k in same} == {k: in_process.data[k] for k in same}, case.id
        assert [r["id"] for r in data["remedies"]] == [r["id"] for r in in_process.data["remedies"]], case.id
