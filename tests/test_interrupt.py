"""Ctrl-C: the CLI exits 130 with a one-line message and writes no run folder.

The signal is raised for real (signal.raise_signal) inside the command, where
the pipeline would be working, so the path through typer and sropt.cli.main is
the one a user's Ctrl-C takes. typer returns 130 from app() under
standalone_mode=False instead of raising; main() used to drop that and exit 0.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest


def test_sigint_inside_a_command_exits_130_and_keeps_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    import sropt.pipeline.runner as runner
    from sropt.cli import main

    def interrupted(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        pytest.fail("SIGINT did not interrupt the command")

    monkeypatch.setattr(runner, "run_pipeline", interrupted)
    out = tmp_path / "run"
    assert main(["run", "--pipeline", "edsr_x3_demo", "-o", str(out)]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "error: interrupted; no partial artifacts were kept"
    assert not out.exists()
