"""Worker processes for validation rows, started ahead with their runtime's libraries imported.

Each group of rows runs in a spawned process of its own (a runtime's native
crash is pinned on its artifact, and peak RSS is per runtime). A fresh
process costs its start (interpreter, numpy, sropt: ~0.4 s) and the runtime's
import (TensorFlow 2-3 s, OpenCV, onnxruntime and LiteRT a few tenths of a
second each on the 2-core Xeon). These used to run one after another, after
the sets were prepared. The full rows' workers start when the artifacts are
opened and overlap the parent's set preparation and bicubic row and each
other; a parity-only row's worker starts after the parity cache is read
(a hit needs none).

Nothing is timed while a worker imports: ``take`` waits for every warm-up
before it hands out the first process, so no latency cell shares the cores
with an import.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
from collections.abc import Iterable
from typing import Any


def warm_up(runner: Any) -> None:
    """Worker body run first: import the runtime's libraries (``runner`` is a ``runner_ref``)."""
    import os

    # TensorFlow's C++ INFO lines (oneDNN, CUDA probing) would flood the CLI's output; users can override.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sropt.validate.runners import resolve_runner

    resolve_runner(runner).import_runtime()


def new_pool() -> cf.ProcessPoolExecutor:
    """One spawned worker: fork would copy the parent's runtimes and threads into it."""
    return cf.ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))


class WorkerPools:
    """Single-worker process pools, one per planned row group, each warming up its runtime from the start."""

    def __init__(self, runtimes: Iterable[str]) -> None:
        self._ready = False
        self._warm: list[tuple[str, cf.ProcessPoolExecutor, cf.Future]] = []
        self.ensure(runtimes)

    def ensure(self, runtimes: Iterable[str]) -> None:
        """Start warming one process per entry of ``runtimes`` beyond those already warming for that runtime."""
        from collections import Counter

        from sropt.validate.runners import runner_ref

        have = Counter(r for r, _, _ in self._warm)
        for runtime, wanted in Counter(runtimes).items():
            for _ in range(wanted - have[runtime]):
                pool = new_pool()
                self._warm.append((runtime, pool, pool.submit(warm_up, runner_ref(runtime))))

    def take(self, runtime: str) -> cf.ProcessPoolExecutor:
        """A process for a group of ``runtime`` rows: a warmed one when one is left, else a new one.

        The caller owns it (``with pools.take(r) as pool:`` shuts it down).
        """
        if not self._ready:
            cf.wait([f for _, _, f in self._warm])
            self._ready = True
        for i, (r, pool, warmed) in enumerate(self._warm):
            if r == runtime:
                del self._warm[i]
                if warmed.exception() is None:
                    return pool
                pool.shutdown(wait=False, cancel_futures=True)  # a broken warm-up: the row's own load reports why
                break
        return new_pool()

    def close(self) -> None:
        """End the warmed processes no group used (refused inputs, rows that became error rows), and wait for them.

        ``shutdown`` alone cannot stop a warm-up that is running: the process went
        on importing its runtime (TensorFlow: 2-3 s of a core) beside whatever the
        caller timed next, and the interpreter's exit waited for it (a refused
        ``sropt validate -r tf`` took 3.9-4.3 s instead of 0.3 s). Terminating is
        safe: such a process holds nothing but imported modules.
        """
        for _, pool, _ in self._warm:
            for process in list((getattr(pool, "_processes", None) or {}).values()):  # CPython's executor keeps them here
                process.terminate()
            pool.shutdown(wait=True, cancel_futures=True)
        self._warm.clear()
