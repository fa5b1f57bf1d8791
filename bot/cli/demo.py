"""`crashloop demo`: the bot's loop on the simulated cluster — the one CLI command that reaches into bot.devtools.

Kept in its own module so the import contract can say exactly that: nothing outside bot.devtools imports it
except this command and the tests (`.importlinter`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

EXIT_NOT_INSTALLED = 2  # as for anything else that does not exist here (bot.cli.main.EXIT_NOT_FOUND)


@click.command(epilog="\b\nExamples:\n  crashloop demo\n  crashloop demo --scenario ledger-api --scenario search")
@click.option("--scenario", "scenarios", multiple=True, help="only these simulated scenarios (repeatable)")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), help="keep the demo's files here")
def demo(scenarios: tuple[str, ...], workdir: Path | None) -> None:
    """Run the bot on the simulated cluster and print what it finds (no cluster or credentials needed)."""
    try:  # loads only when the demo runs
        from bot.devtools.simcluster.scenarios import scenario_names
    except ModuleNotFoundError as exc:  # the production image leaves bot/devtools and its jsonpatch out
        click.echo(
            f"Error: the demo needs the development tools, which this installation leaves out ({exc.name} is "
            "missing): run it from a source checkout with `pip install -e '.[devtools]'`, or `make demo`",
            err=True,
        )
        sys.exit(EXIT_NOT_INSTALLED)

    unknown = [s for s in scenarios if s not in scenario_names()]
    if unknown:
        raise click.BadParameter(
            f"unknown scenario {', '.join(map(repr, unknown))}; choose from: {', '.join(scenario_names())}",
            param_hint="--scenario",
        )
    from bot.devtools.demo import run_demo

    run_demo(list(scenarios) or None, workdir)
