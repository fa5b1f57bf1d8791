"""A leaking ledger-api for the remedy-loop tests: more memory never holds, so a bump is followed by the same crash.

The packaged `ledger-api` scenario heals at 384Mi; here it heals only at 2Gi, so a bump to 384Mi is applied and the
pods are OOMKilled again at 384Mi — the loop the guard exists to stop.
"""

from __future__ import annotations

from dataclasses import replace

from bot.devtools.simcluster import load_scenarios
from bot.devtools.simcluster.conditions import parse_condition
from bot.devtools.simcluster.scenarios import Scenario

LEAK_HEALS_AT = "2Gi"


def leaking_ledger_api() -> list[Scenario]:
    """The ledger-api scenario, healing only at LEAK_HEALS_AT."""
    (ledger,) = load_scenarios(["ledger-api"])
    heals = (parse_condition({"memory_limit_at_least": LEAK_HEALS_AT}),)
    return [replace(ledger, failures=tuple(replace(f, heals_when=heals) for f in ledger.failures))]
