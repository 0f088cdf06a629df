"""Quality-budgeted INT8: keep the most sensitive layers in float until the drop fits.

Procedure (``--max-psnr-drop D``):

1. Convert float32 and full INT8; measure both on the calibration folder's
   images (``sropt.quantize.quality``). If the drop is within D, done.
2. Rank layers with TFLite's QuantizationDebugger: the RMSE of each
   quantized op output against its float counterpart, divided by the
   tensor's quantization step (``rmse/scale``, the TFLite debugger guide's
   metric: above ~0.7 means more than rounding noise).
3. Denylist the top 1, 2, 3, 4, 6, 9, ... layers (selective quantization: they run in
   float, with TFLITE_BUILTINS as fallback op set) and re-measure.
4. If even denylisting every ranked layer does not fit, try 16x8 (int16
   activations). If nothing fits, GateFailure lists every attempt.

Every attempt is reported (CLI, --json, sidecar), with why each float layer
was kept.
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sropt.convert.tflite_export import PreparedGraph, make_converter
from sropt.core.artifacts import Artifact, ArtifactKind
from sropt.core.errors import GateFailure
from sropt.quantize.config import IOType, Mode, QuantizeConfig
from sropt.quantize.quality import budget_images, mean_psnr, protocol
from sropt.quantize.result import BudgetAttempt, FloatLayer
from sropt.quantize.tflite_quantize import CONFIGURERS, convert_mode

if TYPE_CHECKING:
    from sropt.quantize.calibration import CalibrationSet

DEBUG_CROPS = 8  # crops the debugger runs; per-layer ranking is stable well before that
# Quantize/Dequantize only move values across the int8/float boundary; every
# other op with a quantized output is a candidate for staying in float.
UNRANKED_OPS = ("QUANTIZE", "DEQUANTIZE")


@dataclass
class BudgetOutcome:
    """The model that fit and how it was found."""

    data: bytes
    precision: str
    float_psnr: float
    psnr: float
    max_drop: float
    float_layers: tuple[FloatLayer, ...] = ()
    attempts: tuple[BudgetAttempt, ...] = ()
    ranking: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Provenance record of the budget search."""
        return {
            "max_psnr_drop_db": self.max_drop,
            "float_psnr_db": round(self.float_psnr, 4),
            "psnr_db": round(self.psnr, 4),
            "psnr_drop_db": round(self.float_psnr - self.psnr, 4),
            "result": self.precision,
            "float_layers": [f.to_json() for f in self.float_layers],
            "attempts": [a.to_json() for a in self.attempts],
            "protocol": protocol(),
        }


def _tflite_predictor(data: bytes, prepared: PreparedGraph):
    """An NHWC predict function for TFLite bytes, via validation's LiteRT runner."""
    from sropt.validate.runners import get_runner

    tmp = tempfile.NamedTemporaryFile(suffix=".tflite", delete=False)
    tmp.write(data)
    tmp.close()
    source = prepared.source.artifact
    artifact = Artifact(Path(tmp.name), ArtifactKind.TFLITE, source.family, source.scale, output_layout="NHWC")
    runner = get_runner("tflite")().load(artifact, None)
    Path(tmp.name).unlink()  # the interpreter holds the model in memory
    return runner.predict


def rank_layers(prepared: PreparedGraph, calib: "CalibrationSet") -> list[dict[str, Any]]:
    """Per-layer quantization error from QuantizationDebugger, worst first."""
    import tensorflow as tf

    converter = make_converter(prepared)
    CONFIGURERS[Mode.INT8](converter, calib, IOType.FLOAT)
    crops = calib.inputs[:DEBUG_CROPS]
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=lambda: ([x] for x in crops)
    )
    debugger.run()
    buf = io.StringIO()
    debugger.layer_statistics_dump(buf)
    buf.seek(0)
    rows = []
    for row in csv.DictReader(buf):
        scale = float(row["scale"] or 0)
        if row["op_name"] in UNRANKED_OPS or scale <= 0:
            continue
        rmse = float(np.sqrt(float(row["mean_squared_error"])))
        rows.append({"tensor": row["tensor_name"], "op": row["op_name"], "rmse_over_scale": rmse / scale})
    rows.sort(key=lambda r: r["rmse_over_scale"], reverse=True)
    return rows


def convert_selective(
    prepared: PreparedGraph, calib: "CalibrationSet", io_type: IOType, denylist: list[str]
) -> bytes | None:
    """Full INT8 except the ``denylist`` tensors' ops, which stay float; None if nothing would stay INT8."""
    import tensorflow as tf

    converter = make_converter(prepared)
    CONFIGURERS[Mode.INT8](converter, calib, io_type)
    # Float fallback kernels for the denylisted ops.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(denylist))
    try:
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=lambda: ([x] for x in calib.inputs[:1]), debug_options=options
        )
        return debugger.get_nondebug_quantized_model()
    except ValueError:
        # The debugger refuses a model with no quantized op left (every
        # layer denylisted): that candidate is a float model, not INT8.
        return None


def denylist_sizes(n: int) -> list[int]:
    """How many top-ranked layers to try in float: 1, 2, 3, 4, then x1.5 steps, ending at ``n``.

    One at a time first because one or two layers often carry most of the
    loss; geometric after that so a deep model needs O(log n) conversions.
    """
    sizes, k = [], 1
    while k < n:
        sizes.append(k)
        k = k + 1 if k < 4 else int(math.ceil(k * 1.5))
    return sizes + [n] if n else []


def fit_budget(prepared: PreparedGraph, calib: "CalibrationSet", config: QuantizeConfig) -> BudgetOutcome:
    """Find the most-quantized TFLite model whose PSNR drop is within ``config.max_psnr_drop``."""
    from sropt.quantize.calibration import calibration_images

    budget = float(config.max_psnr_drop)  # type: ignore[arg-type]
    source = prepared.source.artifact
    pairs = budget_images(calibration_images(calib.folder), source.scale, config.budget_images)

    def measure(data: bytes) -> float:
        return mean_psnr(_tflite_predictor(data, prepared), pairs, source.contract, source.scale)

    float_psnr = measure(convert_mode(prepared, Mode.FLOAT32, None, IOType.FLOAT))
    attempts: list[BudgetAttempt] = []

    def attempt(description: str, data: bytes) -> tuple[float, bool]:
        psnr = measure(data)
        fits = float_psnr - psnr <= budget
        attempts.append(BudgetAttempt(description, float_psnr - psnr, fits))
        return psnr, fits

    data = convert_mode(prepared, Mode.INT8, calib, config.io)
    psnr, fits = attempt("full int8", data)
    if fits:
        return BudgetOutcome(data, Mode.INT8.value, float_psnr, psnr, budget, attempts=tuple(attempts))

    ranking = rank_layers(prepared, calib)
    for k in denylist_sizes(len(ranking)):
        chosen = ranking[:k]
        data = convert_selective(prepared, calib, config.io, [r["tensor"] for r in chosen])
        if data is None:
            break
        psnr, fits = attempt(f"int8, {len(chosen)} of {len(ranking)} layer(s) in float", data)
        if fits:
            layers = tuple(
                FloatLayer(
                    r["tensor"], r["op"], r["rmse_over_scale"],
                    f"rank {i + 1} of {len(ranking)} by QuantizationDebugger rmse/scale "
                    f"({r['rmse_over_scale']:.3g}); full int8 dropped {attempts[0].psnr_drop:.3f} dB > {budget} dB",
                )
                for i, r in enumerate(chosen)
            )
            return BudgetOutcome(data, Mode.INT8.value, float_psnr, psnr, budget, layers, tuple(attempts), ranking)

    if config.io is IOType.FLOAT:  # 16x8 keeps float I/O only
        data = convert_mode(prepared, Mode.INT16X8, calib, IOType.FLOAT)
        psnr, fits = attempt("int16x8 (int16 activations)", data)
        if fits:
            return BudgetOutcome(data, Mode.INT16X8.value, float_psnr, psnr, budget, attempts=tuple(attempts), ranking=ranking)

    raise GateFailure(
        f"{source.path}: no INT8 variant keeps the PSNR drop within {budget} dB "
        f"(float {float_psnr:.3f} dB on {len(pairs)} calibration image(s)). Nothing was written. "
        "Raise --max-psnr-drop, or use --mode fp16 / dynamic.",
        problems=[f"{a.description}: -{a.psnr_drop:.3f} dB" for a in attempts],
    )
