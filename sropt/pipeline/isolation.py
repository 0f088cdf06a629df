"""Run one stage adapter in its own spawned process.

Why: TensorFlow, tf2onnx and the TFLite converter keep what they allocate
for the life of the process. Converting a B=32/F=256 EDSR left the runner
holding 9.4 GB after four in-process stages (measured), which is what a
2-core CI box with a few GB cannot afford. A fresh process per stage returns
that memory when the stage ends, and a stage that crashes the interpreter
(segfault, OOM kill) becomes a StageError naming the step instead of killing
the run. The cost is one interpreter start plus the stage's imports (a few
seconds per step), paid only by steps that actually run.

Progress messages and log records travel back over a queue, so the rich
status line and run.log look the same as in-process.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue as queue_mod
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

from sropt.core.errors import StageError

log = logging.getLogger("sropt.pipeline")


class _QueueHandler(logging.Handler):
    """Sends log records of the child to the parent as (name, level, message)."""

    def __init__(self, q: Any) -> None:
        super().__init__()
        self.q = q

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.q.put(("log", (record.name, record.levelno, record.getMessage())))
        except Exception:  # a log line must never fail the stage
            pass


def _child(kind: str, ctx: Any, q: Any) -> None:
    """Entry point of the stage process."""
    from sropt.pipeline import steps as steps_mod

    root = logging.getLogger("sropt")
    root.addHandler(_QueueHandler(q))
    root.setLevel(logging.INFO)
    root.propagate = False
    ctx = replace(ctx, progress=lambda msg: q.put(("progress", msg)))
    try:
        result = steps_mod.ADAPTERS[kind](ctx)
        q.put(("result", result))
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
        tb = traceback.format_exc()
        try:
            pickle.dumps(exc)
            payload: BaseException = exc
        except Exception:
            payload = StageError(f"{exc.__class__.__name__}: {exc}")
        q.put(("error", (payload, tb)))


def run_adapter_isolated(kind: str, ctx: Any, *, step: str) -> Any:
    """Run ``ADAPTERS[kind](ctx)`` in a spawned process; return its result or re-raise its error."""
    mp = multiprocessing.get_context("spawn")
    q = mp.Queue()
    say = ctx.progress
    child_ctx = replace(ctx, progress=None)
    proc = mp.Process(target=_child, args=(kind, child_ctx, q), name=f"sropt-{step}")
    proc.start()
    outcome: tuple[str, Any] | None = None
    try:
        while outcome is None:
            try:
                tag, payload = q.get(timeout=0.5)
            except queue_mod.Empty:
                if not proc.is_alive():
                    # The child may have put its last message just before exiting.
                    try:
                        tag, payload = q.get(timeout=2.0)
                    except queue_mod.Empty:
                        break
                else:
                    continue
            if tag == "progress":
                if say is not None:
                    say(payload)
            elif tag == "log":
                name, level, message = payload
                logging.getLogger(name).log(level, "%s", message)
            else:
                outcome = (tag, payload)
        proc.join(timeout=30)
    except BaseException:
        proc.terminate()
        proc.join(timeout=10)
        raise
    if outcome is None:
        code = proc.exitcode
        why = "killed by a signal (often: out of memory)" if code is not None and code < 0 else f"exit code {code}"
        raise StageError(f"the stage process of step '{step}' died without a result ({why}); see run.log")
    tag, payload = outcome
    if tag == "error":
        exc, tb = payload
        if not exc.__class__.__module__.startswith("sropt."):
            # A library bug or converter crash: keep the child's traceback in run.log.
            log.error("step %s failed in its process:\n%s", step, tb)
        raise exc
    if isinstance(payload, Path):
        return Path(payload)
    return payload
