"""--threads below 1 is refused before anything is read (exit 2 naming the option), on every command that takes it."""

from __future__ import annotations

import pytest

from sropt.cli import main


@pytest.mark.parametrize("argv", [
    ["validate", "no-such-model.pb", "--threads", "0"],
    ["validate", "no-such-model.pb", "--threads", "-1"],
    ["upscale", "no-such-model.pb", "no-such-image.png", "--threads", "0"],
])
def test_threads_below_one_is_a_usage_error(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--threads" in err and "x>=1" in err
