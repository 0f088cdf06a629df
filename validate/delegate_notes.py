"""What a validation report says about a .tflite on phone accelerators (issue 18 item 4).

Per .tflite: LiteRT's per-op GPU-delegate verdicts (``sropt.convert.tflite_gpu``;
report.json rows carry them as ``gpu_delegate``, which ``gpu_compatible`` gates
read) and a note on its input shape, since a dynamic one costs on delegates.
Every latency in the report is this machine's CPU (``environment.cpu``), not a
phone's: docs/mobile.md says how to measure on one.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

# A TFLite maintainer, tensorflow/tensorflow#38036: GPU and NNAPI delegation prepares (recompiles)
# the graph for the current tensor shapes, "often more expensive than a single inference call",
# and a resized input makes it all run again.
DYNAMIC_SHAPE_COST = (
    "GPU and NNAPI delegates compile the graph for the input shape it has, often at more cost than one "
    "inference, and compile again on every resize (tensorflow/tensorflow#38036); quantize with --fixed-shape HxW "
    "(pipelines.yaml fixed_shape) for a phone and tile larger images"
)


def delegate_facts(path: Path | str) -> tuple[dict[str, Any] | None, list[str]]:
    """(the ``gpu_delegate`` record, report notes) for a .tflite; (None, [why]) when the analyzer fails."""
    p = Path(path)
    stat = p.stat()
    return _facts(str(p.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _facts(path: str, size: int, mtime_ns: int) -> tuple[dict[str, Any] | None, list[str]]:
    """Cached per file version: every row of one artifact (runtimes x datasets) asks."""
    from sropt.convert.tflite_gpu import analyze_gpu_compatibility
    from sropt.core.errors import SroptError

    notes = [input_shape_note(Path(path))]
    try:
        gpu = analyze_gpu_compatibility(Path(path))
    except (SroptError, RuntimeError, ValueError) as exc:
        return None, [f"GPU delegate: not analyzed ({exc})", *notes]
    return gpu.to_json(), [f"GPU delegate: {gpu.summary()}", *gpu.notes, *notes]


def input_shape_note(path: Path) -> str:
    """The input shape and what it means for delegates."""
    from ai_edge_litert.interpreter import Interpreter

    signature = [int(v) for v in Interpreter(model_path=str(path)).get_input_details()[0]["shape_signature"]]
    if any(v < 0 for v in signature):
        return f"input {signature} has dynamic H/W: {DYNAMIC_SHAPE_COST}"
    return f"input fixed at {signature[1]}x{signature[2]}: a delegate compiles it once (an app tiles larger images)"


def describe_delegates(path: Path | str) -> dict[str, Any]:
    """For ``sropt inspect`` and a package's metadata.json: GPU verdicts, the shape note, what CompiledModel did here."""
    from sropt.convert.tflite_compiled import compare_with_interpreter, probe_accelerators
    from sropt.core.machine import machine

    gpu, notes = delegate_facts(path)
    try:
        cpu_run = compare_with_interpreter(path)
    except Exception as exc:  # the C++ layer raises RuntimeError with its own trace text
        cpu_run = {"error": str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}
    return {
        "gpu": gpu, "notes": notes,
        "compiled_model": {"machine": machine()["cpu"], "cpu_vs_interpreter": cpu_run,
                           "accelerators": [probe.to_json() for probe in probe_accelerators(path)]},
    }
