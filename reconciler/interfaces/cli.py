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

import atexit
import contextlib
import gc
import importlib
import logging
import os
import sys
import threading

import click

from reconciler import __version__
from reconciler.interfaces import exits, methodcache

# Re-exported: every command ends the same way.
from reconciler.interfaces.exits import EXIT_PROBLEMS as EXIT_PROBLEMS
from reconciler.interfaces.exits import EXIT_USAGE as EXIT_USAGE
from reconciler.interfaces.exits import handle_errors as handle_errors

COMMANDS: dict[str, str] = {
    "approve": "reconciler.interfaces.approvecmd:command",
    "check": "reconciler.interfaces.check:command",
    "demo": "reconciler.interfaces.demo:command",
    "history": "reconciler.interfaces.historycmd:command",
    "migrate": "reconciler.interfaces.migrate:command",
    "plan": "reconciler.interfaces.readcommands:plan",
    "release": "reconciler.interfaces.writecommands:release",
    "revert": "reconciler.interfaces.writecommands:revert",
    "run": "reconciler.interfaces.daemon_main:command",
    "stats": "reconciler.interfaces.statscmd:command",
    "validate": "reconciler.interfaces.readcommands:validate",
}
"""Every command: ``module:attribute`` of its click command."""

LONG_RUNNING = frozenset({"run", "demo"})
"""Commands that run until stopped: the garbage collector stays on for them (``main``)."""


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
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """GitOps release reconciler for Flux: choose, write and revert releases in git."""
    if ctx.invoked_subcommand in LONG_RUNNING:
        gc.enable()
    else:
        # A command that lives for a second does not look for pydantic plugins: the
        # search reads the metadata of every installed distribution before the first
        # model validates (docs/performance.md, "A fast CLI"). Set to anything else
        # (even empty), the variable is pydantic's to read as usual.
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    """The console script: run the command, then end the process at once.

    Two costs a process that lives for a second need not pay (docs/performance.md,
    "A fast CLI"): the cyclic garbage collector's passes while hundreds of modules
    load (reference counting still frees nearly everything, and the process ends
    soon; ``run`` and ``demo`` turn it on again), and the interpreter's teardown of
    those modules after the command (~60 ms). The atexit handlers still run and the
    output is flushed; while any other non-daemon thread is alive the process ends
    the ordinary way. The dataclasses the command creates take their compiled
    methods from the last run's (``methodcache``), except in ``run`` and ``demo``."""
    if not LONG_RUNNING & set(sys.argv[1:]):
        methodcache.install()
    gc.disable()
    try:
        cli(prog_name="reconciler")
    except SystemExit as exc:
        _end(exc.code)
    _end(0)


def _end(code: str | int | None) -> None:
    if any(t.is_alive() and not t.daemon and t is not threading.main_thread()
           for t in threading.enumerate()):
        sys.exit(code)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what sys.exit("text") would do
        code = 1
    atexit._run_exitfuncs()
    # stdout closed early (``| head``): nothing more to say.
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code or 0)
