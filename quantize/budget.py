"""Quality-budgeted INT8: keep the most sensitive layers in float until the drop fits.

Procedure (``--max-psnr-drop D``):

1. Convert float32 and full INT8; measure both on the calibration folder's
   whole images (``sropt.quantize.quality``; statistic: the mean per-image
   drop over the smoother half of them, ``quality.smooth_half``). If the
   drop is within D, done.
2. List the quantized ops with TFLite's QuantizationDebugger (RMSE of each op
   output against float over its quantization step). That error alone is a
   poor guide (FSRCNN_x3: every op scores 0.2-0.4 while the 3x3 mapping
   convs hold the loss), so the top ``MAX_RANKED`` ops by it are then ranked
   by MEASURED effect: the drop recovered when only that op stays in float,
   measured on the images where full INT8 lost most (one conversion each).
3. Denylist the top 1, 2, 3, 4, 6, 9, 14, ... ops of that measured ranking
   (selective quantization: they run in float, with TFLITE_BUILTINS as
   fallback op set) and re-measure on all budget images; if none fits (the
   last leaves one op INT8), try 16x8 (int16 activations, int8 weights).
   16x8 comes last because LiteRT runs it with reference kernels, 7 to 430
   times slower than the INT8 model on CPU (FSRCNN_x3, ESPCN_x3, EDSR-T91). If nothing fits,
   GateFailure lists every attempt.

Every attempt is reported (CLI, --json, sidecar), with why each float layer
was kept.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from sropt.convert.tflite_export import PreparedGraph, make_converter
from sropt.core.errors import GateFailure
from sropt.quantize.config import IOType, Mode, QuantizeConfig
from sropt.quantize.quality import BUDGET_HR_CROP, drop_stats, image_psnrs, load_budget_pairs, protocol, tflite_predictor
from sropt.quantize.result import BudgetAttempt, FloatLayer
from sropt.quantize.tflite_modes import CONFIGURERS, convert_mode

if TYPE_CHECKING:
    from sropt.quantize.calibration import CalibrationSet

STATISTIC = ("mean per-image PSNR-Y drop over the smoother half of the whole calibration images "
             "(the half with the higher float PSNR)")
DEBUG_CROPS = 8  # crops the debugger runs; per-layer ranking is stable well before that
MAX_RANKED = 16  # single-op conversions for the measured ranking: bounds the cost on deep models
RANK_IMAGES = 8  # images (largest full-INT8 drop first) the single-op candidates are measured on
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
    conversions: int = 0  # TFLite conversions the search ran (ranking included)

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
            "ranking": [
                {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in self.ranking
            ],
            "conversions": self.conversions,
            "statistic": STATISTIC,
            "protocol": protocol(BUDGET_HR_CROP),
        }


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


def measured_ranking(
    rows: list[dict[str, Any]], gains: dict[str, float]
) -> list[dict[str, Any]]:
    """``rows`` with ``measured_gain_db`` set, largest measured gain first; unmeasured rows after, in debugger order."""
    measured = [dict(r, measured_gain_db=gains[r["tensor"]]) for r in rows if r["tensor"] in gains]
    measured.sort(key=lambda r: r["measured_gain_db"], reverse=True)
    return measured + [dict(r) for r in rows if r["tensor"] not in gains]


def fit_budget(
    prepared: PreparedGraph, calib: "CalibrationSet", config: QuantizeConfig,
    int16x8_graph: Callable[[], PreparedGraph] | None = None, reference: PreparedGraph | None = None,
) -> BudgetOutcome:
    """Find the most-quantized TFLite model whose PSNR drop is within ``config.max_psnr_drop``.

    ``prepared`` is the graph for the INT8 candidates (its weights prepared
    for int8: ``sropt.quantize.weights``); ``int16x8_graph``, if given, makes
    the graph the 16x8 candidate converts, only when the search gets there
    (the caller's is unequalized and GPTQ-rounded: ``tflite_quantize``).
    ``reference`` is the graph whose float32 conversion every drop is measured
    against (default ``prepared``): GPTQ-rounded weights are not the float
    model (FSRCNN_x3: 0.03 dB apart on T91), so the caller passes the graph
    from before its weights were prepared.
    """
    search = _BudgetSearch(prepared, calib, config, reference or prepared)
    outcome = search.full_int8()
    if outcome is not None:
        return outcome
    search.rank_by_measured_gain()
    # Ordered by speed on CPU: float layers run in XNNPACK's float kernels inside the INT8
    # model; 16x8 has no XNNPACK kernels and runs LiteRT's reference ones (Set5 x3 at 128x128,
    # 2 threads: FSRCNN_x3 101 ms vs 15 ms INT8, ESPCN_x3 151 vs 1.7 ms, EDSR-T91 3,271 vs 7.6 ms),
    # so it comes last.
    outcome = search.with_float_layers(denylist_sizes(len(search.ranking)))
    if outcome is None and config.io is IOType.FLOAT:  # 16x8 keeps float I/O only
        outcome = search.int16x8(int16x8_graph() if int16x8_graph else prepared)
    if outcome is not None:
        return outcome
    raise search.nothing_fits()


class _BudgetSearch:
    """The candidates fit_budget converts, each measured against the float reference on the same pairs."""

    def __init__(self, prepared: PreparedGraph, calib: "CalibrationSet", config: QuantizeConfig,
                 reference: PreparedGraph) -> None:
        from sropt.quantize.calibration import calibration_images

        self.prepared, self.calib, self.io = prepared, calib, config.io
        self.budget = float(config.max_psnr_drop)  # type: ignore[arg-type]
        self.source = prepared.source.artifact
        self.pairs = load_budget_pairs(calibration_images(calib.folder), self.source.scale, config.budget_images,
                                       BUDGET_HR_CROP)
        self.attempts: list[BudgetAttempt] = []
        self.ranking: list[dict[str, Any]] = []
        self.subset: list = []
        self.float_psnrs = self.measure(convert_mode(reference, Mode.FLOAT32, None, IOType.FLOAT))
        self.float_psnr = float(self.float_psnrs.mean())
        self.conversions = 1
        self.int8_psnrs: np.ndarray | None = None

    def measure(self, data: bytes, subset: list | None = None) -> np.ndarray:
        """Per-image Y-PSNR of the .tflite ``data`` on ``subset`` (default: every budget pair)."""
        return image_psnrs(tflite_predictor(data, self.source), subset or self.pairs, self.source.contract,
                           self.source.scale)

    def attempt(self, description: str, data: bytes) -> tuple[float, bool, np.ndarray]:
        """Measure a candidate and record it; returns its mean PSNR, whether it fits, per-image PSNRs."""
        psnrs = self.measure(data)
        stats = drop_stats(self.float_psnrs, psnrs)
        fits = stats.smooth_half <= self.budget
        self.attempts.append(BudgetAttempt(description, stats.smooth_half, fits, stats.to_json(), len(data)))
        return float(psnrs.mean()), fits, psnrs

    def done(self, data: bytes, precision: str, psnr: float, layers: tuple = ()) -> BudgetOutcome:
        return BudgetOutcome(data, precision, self.float_psnr, psnr, self.budget, layers, tuple(self.attempts),
                             self.ranking, self.conversions)

    def full_int8(self) -> BudgetOutcome | None:
        data = convert_mode(self.prepared, Mode.INT8, self.calib, self.io)
        self.conversions += 1
        psnr, fits, self.int8_psnrs = self.attempt("full int8", data)
        return self.done(data, Mode.INT8.value, psnr) if fits else None

    def rank_by_measured_gain(self) -> None:
        """Measured ranking: recovered drop per single float op, on the images full INT8 hurt most."""
        assert self.int8_psnrs is not None
        rows = rank_layers(self.prepared, self.calib)
        self.conversions += 1
        worst = np.argsort(self.int8_psnrs - self.float_psnrs)[:RANK_IMAGES]
        self.subset = [self.pairs[i] for i in worst]
        base_drop = float(np.mean(self.float_psnrs[worst] - self.int8_psnrs[worst]))
        gains: dict[str, float] = {}
        for row in rows[:MAX_RANKED]:
            single = convert_selective(self.prepared, self.calib, self.io, [row["tensor"]])
            self.conversions += 1
            if single is not None:
                gains[row["tensor"]] = base_drop - float(np.mean(self.float_psnrs[worst] - self.measure(single, self.subset)))
        self.ranking = measured_ranking(rows, gains)

    def with_float_layers(self, counts: list[int]) -> BudgetOutcome | None:
        """Keep the top k of the ranking float, for each k of ``counts``, until one fits."""
        for k in counts:
            chosen = self.ranking[:k]
            data = convert_selective(self.prepared, self.calib, self.io, [r["tensor"] for r in chosen])
            self.conversions += 1
            if data is None:
                return None
            psnr, fits, _ = self.attempt(f"int8, {len(chosen)} of {len(self.ranking)} layer(s) in float", data)
            if fits:
                return self.done(data, Mode.INT8.value, psnr, self.float_layers(chosen))
        return None

    def int16x8(self, graph: PreparedGraph) -> BudgetOutcome | None:
        data = convert_mode(graph, Mode.INT16X8, self.calib, IOType.FLOAT)
        self.conversions += 1
        psnr, fits, _ = self.attempt("int16x8 (int16 activations)", data)
        return self.done(data, Mode.INT16X8.value, psnr) if fits else None

    def float_layers(self, chosen: list[dict[str, Any]]) -> tuple[FloatLayer, ...]:
        """The layers kept in float, each with the reason (its rank and what it recovered)."""
        n = len(self.ranking)
        return tuple(
            FloatLayer(
                r["tensor"], r["op"], r["rmse_over_scale"],
                (f"rank {i + 1} of {n} by measured gain: keeping only it in float recovers "
                 f"{r['measured_gain_db']:.3f} dB on the {len(self.subset)} image(s) full int8 hurt most"
                 if "measured_gain_db" in r else
                 f"rank {i + 1} of {n} (beyond the {MAX_RANKED} measured ops; by QuantizationDebugger "
                 f"rmse/scale {r['rmse_over_scale']:.3g})")
                + f"; full int8 dropped {self.attempts[0].psnr_drop:.3f} dB > {self.budget} dB",
                r.get("measured_gain_db"),
            )
            for i, r in enumerate(chosen)
        )

    def nothing_fits(self) -> GateFailure:
        return GateFailure(
            f"{self.source.path}: no INT8 variant keeps the PSNR drop within {self.budget} dB "
            f"(float {self.float_psnr:.3f} dB on {len(self.pairs)} calibration image(s); {self.conversions} conversions). "
            "Nothing was written. Raise --max-psnr-drop, or use --mode fp16 / dynamic.",
            problems=[f"{a.description}: -{a.psnr_drop:.3f} dB" for a in self.attempts],
        )
