"""Fixes to corpus files that were mis-transcribed against their own source, re-applied after each re-copy.

Each fix says why in the case's `notes` (prefixed "Triage fix:"); none changes a branch, container or remedy.
Run: `python tests/corpus/fixes.py` from the repository root after copying new cases in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent


def _quote_oomkilled(case: dict[str, Any]) -> str:
    case["expected"]["quote"] = ["OOMKilled"]
    return (
        "the quote was the BackOff event, which every crash loop has; the notes say the decisive evidence is the "
        "OOMKilled last state, so the quote is now OOMKilled"
    )


def _quote_completed(case: dict[str, Any]) -> str:
    case["expected"]["quote"] = ["Completed"]
    return (
        "the quote was the BackOff event, which every crash loop has; the decisive evidence the notes give is the "
        "Last State Completed / exit 0, so the quote is now Completed"
    )


def _never_heals(case: dict[str, Any]) -> str:
    case["scenario"]["failures"][0]["heals_when"] = []
    return (
        "heals_when was startup_budget_at_least: 120, which the reporter's own startupProbe (30 x 10 s) already "
        "meets, so the simulated pod came up healthy and the incident did not reproduce; the kills here happen "
        "after startup, so no startup budget heals them"
    )


FIXES = {
    "python-litellm-proxy-oomkilled-at-boot-512mi": _quote_oomkilled,
    "shell-echo-bare-pod-completed-exit-0-restart-always": _quote_completed,
    "python-home-assistant-liveness-kills-during-integration-setup": _never_heals,
}


def apply(folder: Path = HERE) -> list[str]:
    done = []
    for case_id, fix in FIXES.items():
        path = folder / f"{case_id}.yaml"
        case = yaml.safe_load(path.read_text(encoding="utf-8"))
        if "Triage fix:" in str(case.get("notes", "")):
            continue
        why = fix(case)
        case["notes"] = f"{str(case.get('notes') or '').strip()} Triage fix: {why}."
        path.write_text(yaml.safe_dump(case, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
        done.append(case_id)
    return done


if __name__ == "__main__":
    print("\n".join(apply()) or "nothing to fix")
