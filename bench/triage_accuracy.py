"""Benchmark: how often the triage is right on the corpus of real incidents, per branch, with a confusion matrix.

Every case of `tests/corpus/` goes through the same real path as the corpus test: seeded into a simulated cluster,
triaged by `crashloop triage <env> <workload> --format json` (the CLI command, the real `kubernetes` client).
A case is right when all four hold: the branch (or an alternative the thread leaves open), the container, a
decisive line quoted in summary/reasons, and the first remedy. The matrix counts the branch alone.

Run: `.venv/bin/python -m bench.triage_accuracy` (add `--markdown` for the tables in bench/README.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from runbooks.model import Branch
from tests.corpus.runner import Outcome, clusters, load_cases, score, triage_in_process

BRANCHES = [str(b) for b in Branch]
CHECKS = ("branch", "container", "quote", "first remedy")


def run() -> tuple[list[Outcome], list[float]]:
    cases = load_cases()
    outcomes, seconds = [], []
    with tempfile.TemporaryDirectory() as tmp, clusters(cases, Path(tmp)) as running:
        for config, group in running:
            for case in group:
                started = time.perf_counter()
                data = triage_in_process(config, case)
                seconds.append(time.perf_counter() - started)
                outcomes.append(score(case, data))
    return sorted(outcomes, key=lambda o: o.case.id), seconds


def _failed_check(o: Outcome, check: str) -> bool:
    prefix = {"branch": "branch", "container": "container", "quote": "none of", "first remedy": "first remedy"}[check]
    return any(p.startswith(prefix) for p in o.problems)


def report(outcomes: list[Outcome], seconds: list[float], markdown: bool) -> str:
    bar = "|" if markdown else " "
    total = len(outcomes)
    right = sum(o.ok for o in outcomes)
    lines = [
        f"cases: {total}; right on all four checks: {right} ({right / total:.1%}); "
        f"median {statistics.median(seconds) * 1000:.0f} ms per case, {sum(seconds):.1f} s in all",
        "",
    ]
    head = ["expected branch", "cases", "right", "accuracy", "branch ok", "quote ok", "remedy ok"]
    lines.append(bar + bar.join(f" {h} " for h in head) + bar)
    if markdown:
        lines.append("|" + "|".join("---" for _ in head) + "|")
    for branch in BRANCHES:
        mine = [o for o in outcomes if o.case.expected["branch"] == branch]
        if not mine:
            continue
        ok = sum(o.ok for o in mine)
        cells = [
            branch,
            str(len(mine)),
            str(ok),
            f"{ok / len(mine):.0%}",
            str(sum(not _failed_check(o, "branch") for o in mine)),
            str(sum(not _failed_check(o, "quote") for o in mine)),
            str(sum(not _failed_check(o, "first remedy") for o in mine)),
        ]
        lines.append(bar + bar.join(f" {c} " for c in cells) + bar)
    lines += ["", "confusion matrix (rows: expected branch, columns: the bot's branch; * = an accepted alternative)"]
    matrix = Counter((o.case.expected["branch"], o.branch or "none") for o in outcomes)
    alternative = Counter(
        (o.case.expected["branch"], o.branch or "none")
        for o in outcomes
        if o.branch != o.case.expected["branch"] and o.branch in o.case.branches
    )
    columns = [*BRANCHES, "none"]
    lines.append(bar + bar.join(f" {c} " for c in ["expected \\ bot", *columns]) + bar)
    if markdown:
        lines.append("|" + "|".join("---" for _ in range(len(columns) + 1)) + "|")
    for row in BRANCHES:
        cells = [row]
        for col in columns:
            n = matrix[(row, col)]
            star = "*" if alternative[(row, col)] else ""
            cells.append(f"{n}{star}" if n else ".")
        lines.append(bar + bar.join(f" {c} " for c in cells) + bar)
    wrong = [o for o in outcomes if not o.ok]
    if wrong:
        lines += ["", "wrong:"]
        lines += [f"- {o.case.id}: {'; '.join(o.problems)}" for o in wrong]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = parser.parse_args(argv)
    outcomes, seconds = run()
    print(report(outcomes, seconds, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
