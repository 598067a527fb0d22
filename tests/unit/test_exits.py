"""The table of every way a command ends (docs/cli.md) agrees with the code: every
project error is in it or said to never reach a command, with the exit code the
CLI's handler really gives it."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import reconciler
from reconciler import errors
from reconciler.interfaces import exits

ROOT = Path(__file__).resolve().parents[2]


def every_error() -> dict[str, type[errors.ReconcilerError]]:
    """Every subclass of ReconcilerError in the package (each module imported once;
    ``__main__`` modules would run the program, and define no errors)."""
    for module in pkgutil.walk_packages(reconciler.__path__, "reconciler."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    found: dict[str, type[errors.ReconcilerError]] = {}
    todo: list[type[errors.ReconcilerError]] = [errors.ReconcilerError]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls
        todo.extend(cls.__subclasses__())
    return found


def instance(cls: type[errors.ReconcilerError]) -> errors.ReconcilerError:
    """One of ``cls`` with its required keyword arguments filled in."""
    kwargs: dict[str, Any] = {}
    if issubclass(cls, errors.ManifestError):
        kwargs = {"file": "apps/x.yaml", "document": 0, "field": "spec.x"}
    elif issubclass(cls, errors.PushRejected):
        kwargs = {"ref": "refs/heads/main", "reason": "protected"}
    elif issubclass(cls, errors.ForgeRateLimited):
        kwargs = {"retry_after": 1.0}
    return cls("what went wrong", **kwargs)


def test_every_error_is_in_the_table_or_said_to_never_end_a_command() -> None:
    tabled = {row.what for row in exits.ERRORS}
    never = set(exits.NEVER_REACHES_THE_CLI)
    assert not tabled & never
    assert set(every_error()) == tabled | never


@pytest.mark.parametrize("row", exits.ERRORS, ids=lambda r: r.what)
def test_the_handler_gives_each_error_its_tabled_exit_code_and_one_line(
        row: exits.Row) -> None:
    assert row.error is not None
    error = instance(row.error)

    @click.group(cls=exits.Group)
    def cli() -> None:
        pass

    @cli.command()
    @exits.handle_errors
    def fails() -> None:
        raise error

    result = CliRunner().invoke(cli, ["fails"])
    assert result.exit_code == row.exit_code
    assert result.stderr == f"reconciler: error: {error}\n"
    assert result.stdout == ""


def test_usage_errors_follow_the_contract() -> None:
    @click.group(cls=exits.Group)
    def cli() -> None:
        pass

    @cli.command()
    def noop() -> None:
        pass

    result = CliRunner().invoke(cli, ["noop", "--nope"])
    assert result.exit_code == exits.EXIT_USAGE == 2
    assert result.stderr == ("reconciler: error: No such option '--nope'. "
                             "(see 'cli noop --help')\n")
    assert CliRunner().invoke(cli, ["noop"]).exit_code == 0


def test_the_exit_codes_follow_the_documented_rule() -> None:
    # 2: what the command was given is wrong; 1: it ran into a problem.
    assert exits.code(instance(errors.UnknownRollout)) == 2
    assert exits.code(instance(errors.ManifestError)) == 2
    assert exits.code(instance(errors.ClusterConfigError)) == 2
    assert exits.code(instance(errors.NothingToRevert)) == 1
    assert exits.code(instance(errors.RemoteUnreachable)) == 1


def test_docs_cli_md_shows_the_table_as_generated() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    begin, end = "<!-- exits table: generated, do not edit -->\n", "<!-- end of exits table -->"
    shown = text[text.index(begin) + len(begin):text.index(end)]
    assert shown == exits.markdown(), "run: python -m reconciler.interfaces.exits"
