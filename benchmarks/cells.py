"""One benchmark cell: one artifact in one runtime (with its options) at several input sizes.

A cell runs in its own spawned process, as ``sropt.validate`` does for its
rows, so the peak RSS is that runtime's and a crashing runtime cannot take
the benchmark down. Timing is ``sropt.validate.timing.measure_latency``
(warm-up, then N timed calls -> median/p90/min); no second harness.

Sizes run smallest first in one process, so ``peak_rss_mb`` of a size is
the peak of the process up to and including that size (VmHWM).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from sropt.core.artifacts import Artifact


@dataclass(frozen=True)
class RuntimeVariant:
    """A runtime plus load options, named for tables (``ort``, ``ort-basic``, ...)."""

    name: str
    runtime: str
    options: dict[str, Any] = field(default_factory=dict)
    description: str = ""


# Defaults first (what users get); the others are the tuning experiments of
# benchmarks/NOTES.md. Names are stable: result files and NOTES refer to them.
VARIANTS: dict[str, RuntimeVariant] = {v.name: v for v in (
    RuntimeVariant("tf", "tf", {}, "TensorFlow 1 session (reference)"),
    RuntimeVariant("opencv", "opencv", {}, "cv2.dnn defaults (engine auto), as dnn_superres loads models"),
    RuntimeVariant("ort", "ort", {}, "ONNX Runtime CPU EP defaults (optimization level all)"),
    RuntimeVariant("tflite", "tflite", {}, "LiteRT defaults (XNNPACK delegate)"),
    RuntimeVariant("opencv-classic", "opencv", {"engine": "classic"}, "cv2.dnn classic engine"),
    RuntimeVariant("opencv-new", "opencv", {"engine": "new"}, "cv2.dnn new engine"),
    RuntimeVariant("opencv-fp16", "opencv", {"engine": "classic", "target": "cpu_fp16"}, "cv2.dnn classic engine, CPU fp16 target"),
    RuntimeVariant("ort-basic", "ort", {"graph_optimization_level": "basic"}, "ORT optimization level basic (no NCHWc layout)"),
    RuntimeVariant("ort-extended", "ort", {"graph_optimization_level": "extended"}, "ORT optimization level extended"),
    RuntimeVariant("ort-noarena", "ort", {"enable_cpu_mem_arena": False}, "ORT without the CPU memory arena"),
    RuntimeVariant("ort-nospin", "ort", {"allow_spinning": False}, "ORT intra-op threads do not spin"),
    RuntimeVariant("tflite-noxnnpack", "tflite", {"op_resolver": "builtin_without_default_delegates"}, "LiteRT builtin kernels, no XNNPACK"),
    RuntimeVariant("tflite-latest", "tflite", {"xnnpack_latest_features": True}, "LiteRT, XNNPACK latest features"),
)}
DEFAULT_VARIANTS = ("tf", "opencv", "ort", "tflite")


@dataclass
class CellSpec:
    """What one cell measures (picklable for the spawned worker)."""

    artifact: Artifact
    variant: RuntimeVariant
    sizes: list[int]
    threads: int
    repeats: int
    warmup: int
    max_cell_seconds: float  # skip the larger sizes once one call would take longer than this
    keep_output_size: int | None = None  # return the model output at this size (for agreement)


@dataclass
class SizeResult:
    """Latency and memory at one input size."""

    size: int
    latency_ms: dict[str, float | int] | None = None
    peak_rss_mb: float | None = None
    load_seconds: float | None = None
    skipped: str = ""
    error: str = ""


@dataclass
class CellResult:
    """Every size of one cell, plus the output kept for the agreement check."""

    sizes: list[SizeResult]
    output: np.ndarray | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-safe form without the output array."""
        return {"sizes": [asdict(s) for s in self.sizes], "error": self.error}


def bench_input(artifact: Artifact, size: int) -> np.ndarray:
    """A size x size model input made by the artifact's contract from a fixed random image."""
    rng = np.random.default_rng(size)
    img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    return artifact.contract.preprocess(img)


def run_cell(spec: CellSpec) -> CellResult:
    """Load once, then time every size (this runs in the worker process)."""
    from sropt.core.errors import SroptError
    from sropt.validate.runners import get_runner
    from sropt.validate.timing import measure_latency, peak_rss_mb

    result = CellResult([])
    t0 = time.perf_counter()
    try:
        runner = get_runner(spec.variant.runtime)().load(spec.artifact, spec.threads, spec.variant.options)
    except SroptError as exc:
        result.error = str(exc)
        return result
    load_s = round(time.perf_counter() - t0, 3)
    too_slow = ""
    for size in sorted(spec.sizes):
        row = SizeResult(size, load_seconds=load_s)
        result.sizes.append(row)
        if too_slow:
            row.skipped = too_slow
            continue
        x = bench_input(spec.artifact, size)
        try:
            t = time.perf_counter()
            y = runner.predict(x)  # first call: allocation, kernel selection (counts as one warm-up)
            first_s = time.perf_counter() - t
            if spec.keep_output_size == size:
                result.output = y
            row.latency_ms = measure_latency(lambda: runner.predict(x), repeats=spec.repeats,
                                             warmup=max(spec.warmup - 1, 0)).to_json()
            row.latency_ms["first_call"] = round(first_s * 1000.0, 3)
        except SroptError as exc:
            row.error = str(exc)
        except Exception as exc:  # a runtime failing mid-run must not stop the matrix
            row.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=2)}"
        row.peak_rss_mb = round(peak_rss_mb(), 1)
        median_s = (row.latency_ms or {}).get("median", 0) / 1000.0
        # The next size has 4x the pixels: stop before one call exceeds the budget.
        if median_s * 4.2 > spec.max_cell_seconds:
            too_slow = (f"skipped: the {size}x{size} call took {median_s:.1f} s, a 4x larger input would exceed "
                        f"--max-cell-seconds {spec.max_cell_seconds:g}")
    return result


def run_cell_isolated(spec: CellSpec) -> CellResult:
    """``run_cell`` in a fresh spawned process; a crash becomes the cell's error."""
    try:
        with cf.ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
            return pool.submit(run_cell, spec).result()
    except Exception as exc:  # BrokenProcessPool on a segfault, pickling errors
        return CellResult([], error=f"worker process failed: {type(exc).__name__}: {exc}")


def agreement_db(y: np.ndarray, ref: np.ndarray, peak: float) -> float | str | None:
    """PSNR (dB) of output ``y`` against the reference output, over the model's value range ``peak``.

    A sanity check that an artifact computes the same function as the
    original (random weights: not a quality figure). None if shapes differ,
    ``"identical"`` for bit-identical outputs (JSON has no infinity).
    """
    if y is None or ref is None or y.shape != ref.shape:
        return None
    mse = float(np.mean((y.astype(np.float64) - ref.astype(np.float64)) ** 2))
    return "identical" if mse == 0 else round(10 * np.log10(peak**2 / mse), 2)
