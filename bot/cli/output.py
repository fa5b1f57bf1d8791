"""How a command prints its result: `-o text|json|yaml|wide` (kubectl's flag; `--format` kept as an alias) and
colour only where a person reads it.

Colour is used only when stdout is a terminal, never when NO_COLOR is set (https://no-color.org) or `--no-color`
is given; pipes and files always get plain text, so scripts and `grep` see the same bytes as before.

Every command prints through `echo`, which redacts (`bot.core.redact`) whatever it is given: one step between
anything the CLI shows — a triage, a diff, an audit row, an error from the cluster — and the terminal.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bot.core.redact import mask_pod_secrets, redact

if TYPE_CHECKING:
    from bot.triage.run import TriageResult

FORMATS = ("text", "json", "yaml", "wide")
F = TypeVar("F", bound=Callable[..., Any])


def echo(text: str, *, err: bool = False) -> None:
    """`click.echo` of `text` with every recognised secret redacted."""
    click.echo(redact(text), err=err)


def output_option(*, choices: tuple[str, ...] = FORMATS, default: str = "text") -> Callable[[F], F]:
    """`-o/--output` with `--format` as an alias (the flag the CLI had first)."""
    return click.option(
        "-o",
        "--output",
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="output format (--format is an alias)",
    )


def use_colour(stream: Any = None, *, disabled: bool = False) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (any non-empty value) or --no-color."""
    if disabled or os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def to_yaml(data: Any) -> str:
    import yaml

    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)).rstrip("\n")


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def render_triage(result: TriageResult, fmt: str, *, colour: bool) -> str:
    """The triage in the chosen format."""
    if fmt in ("json", "yaml"):
        from bot.cli.render_json import to_dict

        data = mask_pod_secrets(to_dict(result))  # args after a secret flag, which text patterns cannot see
        return to_json(data) if fmt == "json" else to_yaml(data)
    from bot.cli.render_text import render

    text = render(result)
    if fmt == "wide":
        text = "\n\n".join([text, pods_table(result)])
    return colourise(text) if colour else text


def pods_table(result: TriageResult) -> str:
    """Every pod of the workload and each of its containers, as `kubectl get pods -o wide` would list them."""
    rows = [("POD", "CONTAINER", "STATE", "READY", "RESTARTS", "LAST EXIT", "NODE")]
    for pod in result.evidence.pods:
        if not pod.containers:  # no container detail gathered for this pod: one line for the pod itself
            rows.append((pod.name, "-", pod.phase, str(pod.ready).lower(), "-", "-", pod.node or "-"))
        for c in pod.containers:
            term = c.last_termination or c.terminated
            state = c.waiting_reason or ("Running" if c.running_since else pod.phase)
            last = f"{term.reason or '-'} ({term.exit_code})" if term else "-"
            name = f"{c.name} (init)" if c.init else c.name
            rows.append((pod.name, name, state, str(c.ready).lower(), str(c.restart_count), last, pod.node or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "PODS\n" + "\n".join(f"  {line}" for line in lines)


_HEADINGS = re.compile(r"^(WHY|NEXT STEP|LOGS .*|EVENTS .*|ROLLOUT|REFERENCES|COULD NOT READ .*|PODS)$", re.M)
_STATUS = {"CRASHING": "red", "OK": "green"}


def colourise(text: str) -> str:
    """Status word in red/green, section headings bold, commands cyan, MISSING in red."""
    first, _, rest = text.partition("  ")
    if first in _STATUS:
        text = click.style(first, fg=_STATUS[first], bold=True) + "  " + rest
    text = _HEADINGS.sub(lambda m: click.style(m[0], bold=True), text)
    text = re.sub(r"(?m)^(\s+\$ .*)$", lambda m: click.style(m[0], fg="cyan"), text)
    return text.replace(": MISSING", ": " + click.style("MISSING", fg="red", bold=True))
