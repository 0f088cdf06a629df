"""Run sropt's CLI on hostile input and judge what it did (issue 20, item 9).

An acceptable outcome is one of the documented exit codes (README "Exit
codes": 0, 1, 2, 3, 4) with no traceback; never a signal, never a hang;
no half-written file (``*.part``, atomic-write probes) left anywhere under
the watched folders; and every input byte-identical afterwards.

Commands that hand untrusted bytes to native code (protobuf, TensorFlow,
OpenCV, LiteRT, ONNX Runtime) run in ``CliWorker``: one spawned process that
serves many calls, so a segfault or a hang is an outcome to report, not the
death of pytest, and the TensorFlow import is paid once. Pure-Python paths
(the pipelines.yaml loader) run in this process (``run_in_process``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import multiprocessing
import signal
import tempfile
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

#: README "Exit codes" (130, Ctrl-C, is never the answer to a bad input).
DOCUMENTED_EXIT_CODES = frozenset({0, 1, 2, 3, 4})

#: What an interrupted or failed write may leave behind: core/atomic's temporaries and writability probes.
HALF_WRITTEN_PATTERNS = ("*.part", ".sropt-probe.*")


@dataclass
class Outcome:
    """What one CLI call did."""

    argv: list[str]
    code: int | None  # None: the process died or hung
    stderr: str = ""
    traceback: str | None = None
    signal: int | None = None
    hung: bool = False
    seconds: float = 0.0

    def problems(self) -> list[str]:
        """Everything wrong with this outcome (empty when the CLI behaved as documented)."""
        cmd = " ".join(self.argv)
        if self.hung:
            return [f"{cmd}: hung (killed after {self.seconds:.0f} s)"]
        if self.signal is not None:
            return [f"{cmd}: killed by signal {signal.Signals(self.signal).name}"]
        if self.traceback or "Traceback (most recent call last)" in self.stderr:
            return [f"{cmd}: traceback\n{self.traceback or self.stderr}"]
        if self.code not in DOCUMENTED_EXIT_CODES:
            return [f"{cmd}: exit code {self.code} is not a documented one\n{self.stderr[-2000:]}"]
        return []


def _call_main(argv: list[str]) -> tuple[int | None, str, str | None]:
    """(exit code, stderr, traceback or None) of ``sropt.cli.main(argv)`` in this process."""
    from sropt.cli import main

    err = io.StringIO()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(list(argv))
    except SystemExit as exc:  # main() returns its code when given argv; SystemExit is itself a defect
        return None, err.getvalue(), f"SystemExit({exc.code}) escaped sropt.cli.main"
    except BaseException:  # noqa: BLE001 - an escaped exception is exactly what this harness records
        return None, err.getvalue(), traceback.format_exc()
    return code, err.getvalue(), None


def run_in_process(argv: list[str]) -> Outcome:
    """Run the CLI here (only for code paths with no native code that could crash)."""
    start = time.monotonic()
    code, err, tb = _call_main(argv)
    return Outcome(list(argv), code, err, tb, seconds=time.monotonic() - start)


def _serve(conn) -> None:
    """Worker loop: run each (argv, environment overrides) received, send back (code, stderr, traceback)."""
    import os
    from unittest import mock

    while True:
        try:
            argv, env = conn.recv()
        except EOFError:
            return
        with mock.patch.dict(os.environ, env):  # restores the environment after the call
            conn.send(_call_main(argv))


@dataclass
class CliWorker:
    """A spawned process that runs ``sropt.cli.main`` per call; a crash or hang becomes an Outcome."""

    timeout_s: float = 120.0
    _process: multiprocessing.Process | None = field(default=None, repr=False)
    _conn: object = field(default=None, repr=False)

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # fork after TensorFlow's thread pools start can deadlock
        parent, child = ctx.Pipe()
        # not a daemon: the commands under test start their own worker processes (validate, upscale)
        self._process = ctx.Process(target=_serve, args=(child,), daemon=False, name="sropt-fuzz-worker")
        self._process.start()
        child.close()
        self._conn = parent

    def run(self, argv: list[str], env: dict[str, str] | None = None) -> Outcome:
        """Run ``argv`` in the worker with ``env`` set for the call (started on first use, restarted after a crash or hang)."""
        if self._process is None or not self._process.is_alive():
            self._start()
        start = time.monotonic()
        try:
            self._conn.send((list(argv), dict(env or {})))
            if self._conn.poll(self.timeout_s):
                code, err, tb = self._conn.recv()
                return Outcome(list(argv), code, err, tb, seconds=time.monotonic() - start)
        except (EOFError, OSError):
            pass  # the worker died before or while answering
        return self._dead_or_hung(argv, time.monotonic() - start)

    def _dead_or_hung(self, argv: list[str], seconds: float) -> Outcome:
        process = self._process
        process.join(timeout=1.0)
        hung = process.is_alive()
        if hung:
            process.kill()
            process.join()
        exitcode = process.exitcode
        self._process = None
        died_of = -exitcode if exitcode is not None and exitcode < 0 and not hung else None
        return Outcome(list(argv), None if died_of or hung else exitcode, signal=died_of, hung=hung, seconds=seconds)

    def close(self) -> None:
        """Stop the worker."""
        if self._process is not None and self._process.is_alive():
            self._conn.close()
            self._process.join(timeout=5.0)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._process = None


def digest(paths: Iterable[Path]) -> dict[Path, str]:
    """sha256 of every file under ``paths`` (a file or a folder), to prove inputs were not modified."""
    hashes = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            hashes[f] = hashlib.sha256(f.read_bytes()).hexdigest()
    return hashes


def half_written(folders: Iterable[Path]) -> list[Path]:
    """Temporary files of atomic writes or probes left under ``folders``."""
    return sorted(p for folder in folders if folder.exists() for pat in HALF_WRITTEN_PATTERNS for p in folder.rglob(pat))


def judge(outcome: Outcome, before: dict[Path, str], watched: Iterable[Path]) -> list[str]:
    """Every problem of a call: its outcome, half-written files, and inputs that changed."""
    problems = outcome.problems()
    cmd = " ".join(outcome.argv)
    problems += [f"{cmd}: left a half-written file {p}" for p in half_written(watched)]
    after = digest(before)
    problems += [f"{cmd}: modified its input {p}" for p, h in before.items() if after.get(p) != h]
    return problems


def run_and_judge(run, argv: list[str], inputs: Iterable[Path], watched: Iterable[Path]) -> tuple[Outcome, list[str]]:
    """Run ``argv`` with ``run`` (``CliWorker.run`` or ``run_in_process``) and judge it against ``inputs``."""
    before = digest(inputs)
    outcome = run(argv)
    return outcome, judge(outcome, before, watched)


def new_case_dir(sandbox: Path) -> Path:
    """A new empty folder for one example (pytest's function-scoped tmp_path is not reset between examples)."""
    return Path(tempfile.mkdtemp(dir=sandbox))
