"""Every command's --help ends in a worked example (the CLI convention in README)."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from sropt.cli import app


def _leaf_commands(command, path=()):
    """(path, click command) for every runnable command under ``command``; groups are walked, not listed."""
    if hasattr(command, "commands"):
        for name, sub in sorted(command.commands.items()):
            yield from _leaf_commands(sub, (*path, name))
    else:
        yield path, command


LEAVES = list(_leaf_commands(typer.main.get_command(app)))


def test_every_registered_command_is_seen() -> None:
    # guards the walk itself: a typer upgrade that hid the sub-commands would make the test below vacuous
    names = {" ".join(path) for path, _ in LEAVES}
    assert {"run", "validate", "quantize", "prune", "export", "models fetch", "datasets fetch"} <= names


@pytest.mark.parametrize("path", [p for p, _ in LEAVES], ids=lambda p: " ".join(p))
def test_help_shows_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"sropt {' '.join(path)} --help has no example:\n{result.output}"
    # the example names the command it documents
    assert f"sropt {' '.join(path)}" in result.output
