"""Ctrl-C that cannot be lost.

Python turns SIGINT into a KeyboardInterrupt at the next bytecode, wherever
that is. When it is a Python callback running inside a C++ call, the C++
side can swallow it: measured, a Ctrl-C 0.05 s into `sropt run`'s prune step
was raised inside numpy's version check called from TensorFlow's
``TF_SessionRun_wrapper`` and vanished; the run went on for 7 more minutes
and exited 0. So the handler also *records* the interrupt, and the places
that publish work (``core.atomic`` before its rename, the pipeline runner
between steps, ``sropt.cli.main`` at the end) check the record and raise
again. A second Ctrl-C leaves at once (exit 130); the temporary ``.part``
files of atomic writes are the only leftovers, never a file at its final
name.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

_interrupted = threading.Event()


def _handler(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    if _interrupted.is_set():
        sys.stderr.write("error: interrupted twice; leaving now\n")
        os._exit(130)
    _interrupted.set()
    raise KeyboardInterrupt


def install() -> Callable[[], None]:
    """Install the recording SIGINT handler (main thread only); return what puts the previous one back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    _interrupted.clear()
    previous = signal.signal(signal.SIGINT, _handler)
    return lambda: signal.signal(signal.SIGINT, previous)


def interrupted() -> bool:
    """True once Ctrl-C was pressed in this process (since ``install``)."""
    return _interrupted.is_set()


def raise_if_interrupted() -> None:
    """KeyboardInterrupt when a Ctrl-C was recorded, even one some library swallowed."""
    if _interrupted.is_set():
        raise KeyboardInterrupt
