"""Benchmark: taking pod UIDs out of event text (`bot.slack.blocks.strip_uids`) on hostile input, side by side with
the pattern it replaced.

Event messages reach the root message and are partly written by whoever controls a workload (a container's
termination message, an admission webhook's refusal). `strip_uids` runs on the event loop, so its cost must grow
linearly with the text: the pattern it replaced started with `\\s*` before a literal, which retried every position
of a whitespace run (quadratic: 10k blanks cost seconds). Median of 5 runs per input.

Run: `.venv/bin/python -m bench.event_text`.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable

from bot.slack.blocks import strip_uids

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
REPLACED = re.compile(  # the pattern of the first version, for comparison
    rf"\s*\(\s*(?:(?:pod[_ ]?)?uid\s*[:=]?\s*)?{_UUID}\s*\)|\s*\b(?:pod[_ ]?)?uid\s*[:=]\s*{_UUID}|{_UUID}", re.I
)
REPLACED_UP_TO = 10_000  # past this the replaced pattern takes minutes


def replaced(text: str) -> str:
    return re.sub(r"  +", " ", REPLACED.sub("", text)).strip()


def median_ms(fn: Callable[[str], str], text: str, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn(text)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    uid = "0b7c2d3e-1111-4222-8333-444455556666"
    inputs = {
        "kubelet BackOff event (typical)": f"Back-off restarting failed container app in pod web-7d9f_shop({uid})",
        **{f"{n:,} blanks then 'x'": " " * n + "x" for n in (1_000, 10_000, 100_000, 1_000_000)},
        "100,000 x ' ('": " (" * 100_000,
    }
    print("| input | strip_uids ms | replaced pattern ms |\n|---|---|---|")
    for name, text in inputs.items():
        old = f"{median_ms(replaced, text, 1):.1f}" if len(text) <= REPLACED_UP_TO + 1 else "(minutes: not run)"
        print(f"| {name} | {median_ms(strip_uids, text):.2f} | {old} |")


if __name__ == "__main__":
    main()
