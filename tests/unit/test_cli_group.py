"""The command group: commands loaded by name, and the garbage collector back on for
the commands that run until stopped (``cli.main`` turns it off for the others)."""

from __future__ import annotations

import gc

import click
import pytest
from click.testing import CliRunner

from reconciler.interfaces import cli


@pytest.mark.parametrize(("name", "collects"), [("run", True), ("plan", False)])
def test_only_long_running_commands_turn_the_collector_back_on(
        monkeypatch: pytest.MonkeyPatch, name: str, collects: bool) -> None:
    seen: list[bool] = []
    monkeypatch.setitem(cli.cli.commands, name,
                        click.Command(name, callback=lambda: seen.append(gc.isenabled())))
    gc.disable()
    try:
        result = CliRunner().invoke(cli.cli, [name])
    finally:
        gc.enable()
    assert result.exit_code == 0, result.output
    assert seen == [collects]


def test_every_command_is_loaded_by_name() -> None:
    ctx = click.Context(cli.cli)
    for name in cli.COMMANDS:
        command = cli.cli.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name
    assert cli.cli.get_command(ctx, "nope") is None
