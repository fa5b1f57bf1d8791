"""A click group that imports a subcommand's module only when that subcommand runs, and takes global options
anywhere on the line, as kubectl does.

Why: `crashloop triage` and `crashloop --help` must not pay for the Slack, SQL, report and chart stacks that
`act`, `audit`, `report` and `serve` need (each several hundred milliseconds to import). The help listing shows
each lazy command's one-line summary from this table, so even `--help` imports none of them.

kubectl accepts `kubectl get pods --kubeconfig x`; click only accepts a group's options before the subcommand.
`parse_args` moves the group's own options (e.g. `--config FILE`) to the front wherever they were typed.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class Lazy:
    """Where a subcommand lives ("module:attribute") and its one-line summary for the help listing."""

    target: str
    summary: str


class LazyGroup(click.Group):
    """A group whose subcommands may be `Lazy` references, imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, Lazy] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module_name, _, attribute = self.lazy[cmd_name].target.partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name].target} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, with lazy commands' summaries taken from the table (no import)."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy and name not in self.commands:
                rows.append((name, self.lazy[name].summary))
                continue
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(self, args))


def hoist_global_options(group: click.Group, args: list[str]) -> list[str]:
    """`args` with the group's own long options (wherever typed before `--`) moved to the front."""
    options = [p for p in group.params if isinstance(p, click.Option)]
    takes_value = {name for p in options if not p.is_flag and not p.count for name in p.opts if name.startswith("--")}
    flags = {name for p in options if p.is_flag for name in p.opts if name.startswith("--") and name != "--help"}
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        name = arg.split("=", 1)[0]
        if name in takes_value:
            taken = 1 if "=" in arg else 2
            front.extend(args[index : index + taken])
            index += taken
            continue
        (front if arg in flags else rest).append(arg)
        index += 1
    return front + rest
