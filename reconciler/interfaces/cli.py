"""The ``reconciler`` command line (DESIGN.md, CLI contract).

Every command reads the config repository through a persistent local mirror
(``--cache-dir``), so a second run only fetches what is new. Every command ends
the same way (interfaces/exits.py): exit 0, 1 (ran and found problems) or 2
(what it was given is wrong), errors in one stderr line without credentials.
Every option can also be set through the environment variable its help names
(reconciler/interfaces/settings.py defines them all, e.g. ``RECONCILER_REPO``).
``--path`` scopes a command to one cluster of a fleet repository; without it, a
repository with several clusters is reported per cluster (interfaces/clusters.py).

This module is only the group: each command lives in the module ``COMMANDS``
names and is imported when it is invoked, so ``plan`` never pays for the daemon,
the cluster client or the HTTP server (docs/performance.md, "A fast CLI").
``reconciler --help`` imports them all to list them.
"""

from __future__ import annotations

import importlib
import logging

import click

from reconciler import __version__
from reconciler.interfaces import exits

# Re-exported: every command ends the same way.
from reconciler.interfaces.exits import EXIT_PROBLEMS as EXIT_PROBLEMS
from reconciler.interfaces.exits import EXIT_USAGE as EXIT_USAGE
from reconciler.interfaces.exits import handle_errors as handle_errors

COMMANDS: dict[str, str] = {
    "check": "reconciler.interfaces.check:command",
    "demo": "reconciler.interfaces.demo:command",
    "history": "reconciler.interfaces.readcommands:history",
    "plan": "reconciler.interfaces.readcommands:plan",
    "release": "reconciler.interfaces.writecommands:release",
    "revert": "reconciler.interfaces.writecommands:revert",
    "run": "reconciler.interfaces.daemon_main:command",
    "validate": "reconciler.interfaces.readcommands:validate",
}
"""Every command: ``module:attribute`` of its click command."""


class LazyGroup(exits.Group):
    """A group that imports a command's module only when the command is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, _, attr = COMMANDS[cmd_name].partition(":")
        command = getattr(importlib.import_module(module), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{COMMANDS[cmd_name]} is not a click command")
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"],
                                              "max_content_width": 100})
@click.version_option(__version__, prog_name="reconciler")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """GitOps release reconciler for Flux: choose, write and revert releases in git."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    cli(prog_name="reconciler")
