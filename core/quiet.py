"""Keep third-party native output off the user's terminal, and say how chatty sropt is.

TensorFlow/absl C++ logging (the "before absl::InitializeLog()" warning,
oneDNN, the cudart stub and the ``E0000 ... failed call to cuInit`` line that
looks like an error on every CPU machine), the TFLite converter's
``fully_quantize: 0, inference_type: 6, ...`` prints and LiteRT's ``INFO:
Created TensorFlow Lite XNNPACK delegate for CPU.`` are written by C/C++
straight to file descriptors 1 and 2. Redirecting Python's ``sys.stdout`` /
``sys.stderr`` does not catch them, and TensorFlow 2.21 ignores a
``TF_CPP_MIN_LOG_LEVEL`` that is set after the interpreter started (measured:
``os.environ[...] = "3"`` before ``import tensorflow`` still prints the absl,
oneDNN and cudart lines). So ``native_output_to_log`` points fds 1 and 2 into
a pipe for as long as it is active and a thread hands each line to the
``sropt.native`` logger, which `sropt run` records in run.log. Python's own
``sys.stdout``/``sys.stderr`` are re-pointed at the real terminal, so rich,
typer and sropt's own messages are unaffected. Spawned stage processes
inherit the pipe, so their native output lands in the same place.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum

NATIVE_LOGGER = "sropt.native"

#: How much sropt prints; set by the CLI's -q/-v (or by the environment, e.g. in CI).
VERBOSITY_ENV = "SROPT_VERBOSITY"


class Verbosity(str, Enum):
    """quiet: errors and the result line; normal: progress too; verbose: third-party output too."""

    QUIET = "quiet"
    NORMAL = "normal"
    VERBOSE = "verbose"


def verbosity() -> Verbosity:
    """The verbosity in effect (``SROPT_VERBOSITY``; normal when unset or unknown)."""
    try:
        return Verbosity(os.environ.get(VERBOSITY_ENV, Verbosity.NORMAL.value))
    except ValueError:
        return Verbosity.NORMAL


def set_verbosity(level: Verbosity) -> None:
    """Record ``level`` in the environment, so stage processes spawned later see it too."""
    os.environ[VERBOSITY_ENV] = level.value


class NativeOutput:
    """What native code wrote while captured: every line went to the log; the last few are kept here."""

    def __init__(self, keep: int = 50) -> None:
        self.tail: deque[str] = deque(maxlen=keep)
        self.lines = 0
        self.marker = f"\x1esropt-native-output-end-{os.getpid()}-{id(self)}".encode()
        self.reached_marker = threading.Event()


@contextmanager
def native_output_to_log(keep: int = 50) -> Iterator[NativeOutput]:
    """While active, whatever is written to fds 1/2 goes line by line to the ``sropt.native`` logger.

    Python's ``sys.stdout``/``sys.stderr`` (when they are the process's fds 1/2)
    keep writing to the original destinations. Not re-entrant: nest it and the
    inner one captures into the outer one's pipe, which is harmless but pointless.
    """
    captured = NativeOutput(keep)
    _flush_all()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    read_end, write_end = os.pipe()
    swapped = {name: getattr(sys, name) for name, fd in (("stdout", 1), ("stderr", 2)) if _is_fd(getattr(sys, name), fd)}
    for name, stream in swapped.items():
        setattr(sys, name, _reopen(stream, os.dup(saved[1 if name == "stdout" else 2])))
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    reader = threading.Thread(target=_forward_lines, args=(read_end, captured), name="sropt-native-output", daemon=True)
    reader.start()
    try:
        yield captured
    finally:
        _flush_all()
        # Wait for a marker line, not for EOF: every process spawned meanwhile inherited the pipe
        # on its fds 1/2, and some outlive the command's work (multiprocessing's resource tracker
        # lives until this process exits), so EOF came only at the join's timeout, which cost 2 s
        # at the end of every command that had spawned a process (measured: `sropt validate`,
        # 2.0 s in this join). Whatever was written before the marker has been forwarded once the
        # reader meets it; the reader (a daemon) keeps forwarding what late writers send until EOF.
        os.write(1, captured.marker + b"\n")
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        captured.reached_marker.wait(timeout=2.0)
        for name, original in swapped.items():
            getattr(sys, name).close()
            setattr(sys, name, original)


def discard_native_output_at_exit() -> None:
    """Point fds 1/2 at /dev/null for the rest of the process, after the command's last line was printed.

    LiteRT 2.3 logs ``INFO: [accelerator_registry.cc:43] DestroyAccelerator``
    twice from C++ static destructors at interpreter exit (every command that
    touched a CompiledModel), after ``native_output_to_log`` has closed, so
    they reached the terminal. Only the exiting process calls this, unless -v.
    """
    _flush_all()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def _is_fd(stream: object, fd: int) -> bool:
    """True when ``stream`` writes to file descriptor ``fd`` (not, e.g., pytest's capture object)."""
    try:
        return stream.fileno() == fd  # type: ignore[attr-defined]
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False


def _reopen(stream: io.TextIOBase, fd: int) -> io.TextIOWrapper:
    """A text stream on ``fd`` with ``stream``'s encoding, flushed per line like a terminal's."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    errors = getattr(stream, "errors", None) or "strict"
    return io.TextIOWrapper(open(fd, "wb", buffering=0), encoding=encoding, errors=errors, line_buffering=True, write_through=True)


def _flush_all() -> None:
    """Flush Python's streams and C stdio, so nothing buffered crosses the switch of fds 1/2."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)  # the TFLite converter printf()s into a block-buffered stdout
    except (OSError, AttributeError):
        pass


def _forward_lines(read_end: int, captured: NativeOutput) -> None:
    """Read the pipe to EOF; every non-empty line becomes an INFO record of ``sropt.native``."""
    with open(read_end, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                _deliver(line, captured)
        _deliver(pending, captured)


def _deliver(raw: bytes, captured: NativeOutput) -> None:
    if raw == captured.marker:
        captured.reached_marker.set()
        return
    text = raw.decode("utf-8", "replace").rstrip("\r")
    if not text.strip():
        return
    captured.lines += 1
    captured.tail.append(text)
    logger = logging.getLogger(NATIVE_LOGGER)
    record = logger.makeRecord(logger.name, logging.INFO, "(native)", 0, "%s", (text,), None)
    # Only sropt's own handlers (run.log), never the root logger's: TF/absl
    # install a root handler on the original stderr, which is this very pipe,
    # so propagating would feed every line back into itself forever.
    for name in (NATIVE_LOGGER, "sropt"):
        for handler in logging.getLogger(name).handlers:
            if record.levelno >= handler.level:
                handler.handle(record)
