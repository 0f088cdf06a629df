"""Fake runtimes for crash tests: one whose predict dies of a real SIGSEGV, one whose predict raises.

Not registered on import (other tests list the registry): ``registered()``
adds them for one test. A spawned worker needs no registry: it imports this
module when it unpickles the runner class (``runners.runner_ref`` sends
non-built-in runners by reference), so the segfault happens in the worker,
as a crashing OpenCV graph would.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import numpy as np

from sropt.core.artifacts import ArtifactKind
from sropt.validate.runners import RUNNERS, Runner


class SegfaultRunner(Runner):
    """Loads anything; the first predict kills its process with SIGSEGV."""

    name = "segfault-test"
    kinds = frozenset(ArtifactKind)

    def _load(self, artifact, threads) -> None:
        pass

    def _run(self, x_nhwc: np.ndarray) -> np.ndarray:
        os.kill(os.getpid(), signal.SIGSEGV)
        raise AssertionError("unreachable: SIGSEGV kills the process")


class RaisingRunner(Runner):
    """Loads anything; every predict raises as a runtime's own error would."""

    name = "raising-test"
    kinds = frozenset(ArtifactKind)

    def _load(self, artifact, threads) -> None:
        pass

    def _run(self, x_nhwc: np.ndarray) -> np.ndarray:
        raise RuntimeError("fake runtime: kernel failed")


@contextlib.contextmanager
def registered() -> Iterator[None]:
    """The fake runtimes in the registry for the duration of the block."""
    fakes = {cls.name: cls for cls in (SegfaultRunner, RaisingRunner)}
    RUNNERS.update(fakes)
    try:
        yield
    finally:
        for name in fakes:
            RUNNERS.pop(name, None)
