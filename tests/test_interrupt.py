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


def test_sigint_a_library_swallows_still_exits_130_and_publishes_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    """Measured: a Ctrl-C raised inside a Python callback of TensorFlow's C++ session run vanished,
    and the run went on to exit 0. Here a stage swallows the KeyboardInterrupt the same way and
    finishes normally; the run must still stop before the next step, exit 130 and keep no run folder."""
    from sropt.cli import main
    from sropt.pipeline import steps as steps_mod

    real = steps_mod.ADAPTERS["source"]
    ran = []

    def swallowing_source(ctx):
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass  # what the C++ side did with it
        ran.append("source")
        return real(ctx)

    monkeypatch.setitem(steps_mod.ADAPTERS, "source", swallowing_source)
    monkeypatch.setenv("SROPT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert main(["run", "--pipeline", "edsr_x3_ci", "-o", str(out), "--in-process"]) == 130
    assert ran == ["source"]
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: interrupted; no partial artifacts were kept"
    assert not out.exists()
    # The handler is put back: a later Ctrl-C in this process is not recorded by sropt.
    assert signal.getsignal(signal.SIGINT) is not None and "sropt" not in getattr(signal.getsignal(signal.SIGINT), "__module__", "")


def test_atomic_write_is_not_published_after_a_swallowed_ctrl_c(tmp_path: Path) -> None:
    from sropt.core import interrupt
    from sropt.core.atomic import write_text_atomic

    restore = interrupt.install()
    try:
        try:
            signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:
            pass
        with pytest.raises(KeyboardInterrupt):
            write_text_atomic(tmp_path / "out.txt", "done")
        assert list(tmp_path.iterdir()) == []  # neither the file nor its .part
    finally:
        restore()
        interrupt._interrupted.clear()


def test_an_unexpected_exception_still_puts_the_sigint_handler_back(monkeypatch) -> None:
    """A bug that escapes main() as a traceback (in-process callers see it) must not leave sropt's handler installed."""
    from sropt import cli

    before = signal.getsignal(signal.SIGINT)

    def broken_app(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "app", broken_app)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["inspect", "x.pb"])
    assert signal.getsignal(signal.SIGINT) is before
