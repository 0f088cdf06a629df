"""Frozen SR graph -> quantized TFLite (fp16, dynamic range, full INT8, 16x8).

One converter recipe per mode, registered in ``tflite_modes.CONFIGURERS``. Facts they rest
on (FACTS.md §3, §5):

* full INT8 uses int8 builtins only, calibrated on real crops through the
  family's contract; ``--io int8|uint8`` makes the model's I/O integer too;
* 16x8 has no int16 DEPTH_TO_SPACE kernel, so TFLITE_BUILTINS is the
  fallback op set (DepthToSpace runs in float between Quantize/Dequantize);
* FSRCNN's PReLU is rewritten to ``relu(x) - a*relu(-x)`` before integer
  quantization (``sropt.convert.rewrite_prelu``), which cuts its INT8 loss;
* full INT8 and 16x8 then prepare the weights (``sropt.quantize.weights``):
  cross-layer equalization (int8) and GPTQ rounding onto the converter's
  int8 grid, by default the measured best on the calibration images;
* full INT8 then takes its activation ranges from min/max over the crops or,
  if that measures better, with the most extreme crops of each tensor
  ignored (``sropt.quantize.ranges``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sropt.convert.tflite_export import (
    PreparedGraph,
    check_fixed_shape,
    prepare_graph,
    write_tflite,
)
from sropt.convert.tflite_depth_to_space import apply_depth_to_space, parse_depth_to_space
from sropt.core.atomic import check_writable
from sropt.core.errors import InputError
from sropt.quantize.config import IOType, Mode, QuantizeConfig, Target
from sropt.quantize.result import QuantizeResult
# convert_mode stays importable from here (tests convert one candidate through the stage module).
from sropt.quantize.tflite_modes import convert_mode

__all__ = ["convert_mode", "prepare_for_mode", "quantize_tflite"]

if TYPE_CHECKING:
    from sropt.convert.frozen import FrozenGraph
    from sropt.quantize.calibration import CalibrationSet
    from sropt.validate.evaluate import Progress

def prepare_for_mode(model: "FrozenGraph | str | Path", config: QuantizeConfig) -> PreparedGraph:
    """Fold weights; for integer modes also apply the PReLU rewrite (recorded in the steps)."""
    from sropt.convert.frozen import FrozenGraph
    from sropt.convert.rewrite_prelu import REWRITE_NAME, rewrite_prelu
    from sropt.models import resolve_model

    prepared = prepare_graph(model if isinstance(model, FrozenGraph) else resolve_model(model))
    if config.calibrated and config.rewrite_prelu:
        graph_def, count = rewrite_prelu(prepared.graph_def)
        if count:
            prepared.graph_def = graph_def
            prepared.steps.append({"stage": "rewrite", "rewrite": REWRITE_NAME, "count": count})
    return prepared


def quantize_tflite(
    model: "FrozenGraph | str | Path", out: Path | str, config: QuantizeConfig,
    progress: Progress | None = None,
) -> QuantizeResult:
    """Write ``model`` as a .tflite in ``config.mode``; proved to run in LiteRT before it is named ``out``.

    ``progress`` gets short messages during the slow parts (equalization's search).
    """
    from sropt.quantize.calibration import load_calibration_inputs

    if config.target is not Target.TFLITE:
        raise InputError(f"quantize_tflite needs a config with target tflite, got {config.target.value}.")
    check_fixed_shape(config.fixed_shape)
    if config.qat_steps:
        return _quantize_with_qat(model, out, config, progress)
    prepared = prepare_for_mode(model, config)
    source = prepared.source.artifact
    check_fixed_shape(config.fixed_shape, prepared.source.info)  # the model's multiple and memory, before calibration
    check_writable(Path(out), inputs=(source.path,), what="quantized model")  # before calibration and conversion
    calib = load_calibration_inputs(config.calibration, source.contract, source.scale) if config.calibrated else None

    step = _step_record(config, prepared.channels, calib)
    converted: bytes | None = None  # a conversion of ``prepared`` already made with these settings
    unequalized, moments = prepared, None
    if calib is not None:
        from sropt.quantize.weights import prepare_weights

        weights = prepare_weights(prepared, calib, config, progress)
        prepared = weights.prepared
        step["weights"] = weights.record
        moments = weights.moments
        if config.io is IOType.FLOAT and config.fixed_shape is None:
            converted = weights.converted
    if config.mode is Mode.INT16X8:
        step["fallback_ops"] = "TFLITE_BUILTINS (float DEPTH_TO_SPACE: no int16 kernel)"

    result_extra: dict[str, Any] = {}
    precision = config.mode.value
    if config.max_psnr_drop is not None:
        assert calib is not None
        data, precision, result_extra = _convert_within_budget(prepared, unequalized, calib, config, moments, step)
    else:
        data = converted or convert_mode(prepared, config.mode, calib, config.io, config.fixed_shape)
        if config.mode is Mode.INT8 and calib is not None:
            from sropt.quantize.ranges import choose_ranges

            data, step["ranges"] = choose_ranges(prepared, calib, config, data)
    # On the converted file, op for op: calibration and every other tensor stay as they are.
    data = apply_depth_to_space(data, parse_depth_to_space(config.depth_to_space), step)
    artifact = write_tflite(data, out, prepared, precision, step)
    return QuantizeResult(
        artifact=artifact,
        mode=precision,
        io=config.io.value,
        calibration=calib.describe() if calib else None,
        weights=step.get("weights"),
        **result_extra,
    )


def _step_record(config: QuantizeConfig, channels: int, calib: "CalibrationSet | None") -> dict[str, Any]:
    """The artifact's quantize step (its sidecar entry): what was asked for and what calibrated it."""
    step: dict[str, Any] = {"stage": "quantize", "format": "tflite", "mode": config.mode.value, "io": config.io.value,
                            "input_shape": [1, *(config.fixed_shape or ("H", "W")), channels]}
    if config.fixed_shape:
        step["fixed_shape"] = list(config.fixed_shape)
    if calib is not None:
        step["calibration"] = calib.describe()
    return step


def _convert_within_budget(
    prepared: PreparedGraph, unequalized: PreparedGraph, calib: "CalibrationSet", config: QuantizeConfig,
    moments: list | None, step: dict[str, Any],
) -> tuple[bytes, str, dict[str, Any]]:
    """Convert with as few float layers as keep the PSNR drop within ``config.max_psnr_drop``; records it in ``step``."""
    from sropt.quantize.budget import MAX_RANKED, STATISTIC, fit_budget

    outcome = fit_budget(prepared, calib, config, reference=unequalized,
                         int16x8_graph=lambda: _graph_for_16x8(unequalized, calib, config, moments))
    step["budget"] = outcome.to_json()
    result_extra = {
        "float_psnr": outcome.float_psnr, "psnr": outcome.psnr,
        "float_layers": outcome.float_layers, "attempts": outcome.attempts,
        "notes": (f"budget search: {outcome.conversions} TFLite conversions "
                  f"(measured ranking capped at {MAX_RANKED} single-op conversions); drop = {STATISTIC}",),
    }
    return outcome.data, outcome.precision, result_extra


def _graph_for_16x8(
    unequalized: PreparedGraph, calib: "CalibrationSet", config: QuantizeConfig, moments: list | None,
) -> PreparedGraph:
    """The quality budget's 16x8 candidate: the graph before equalization, GPTQ-rounded unless nearest was asked.

    ``moments`` are GPTQ's input moments of ``unequalized`` if the weights
    search measured them already (``WeightsOutcome.moments``).

    Equalization buys activation precision with weight precision, which int16
    activations do not need: on FSRCNN_x3 the per-site equalized graph's 16x8
    fit the 0.1 dB budget on T91 (0.084) but lost 0.202 dB on Set5. GPTQ takes
    16x8's loss, nearly all weight rounding, from 0.30 to 0.01 dB there.
    """
    import dataclasses

    from sropt.quantize.rounding import round_weights

    if config.weight_rounding == "nearest":
        return unequalized
    graph_def, _ = round_weights(unequalized.graph_def, unequalized.input_name, calib.inputs, moments=moments)
    return dataclasses.replace(unequalized, graph_def=graph_def)


def _quantize_with_qat(
    model: "FrozenGraph | str | Path", out: Path | str, config: QuantizeConfig, progress: "Progress | None",
) -> QuantizeResult:
    """Full INT8 through quantization-aware training (``sropt.quantize.qat``) instead of post-training steps.

    The graph is only folded: FSRCNN's PReLU stays in its original form,
    which the Keras lift turns into a PReLU layer itself.
    """
    from sropt.convert.frozen import FrozenGraph
    from sropt.convert.keras_lift import lift_to_keras
    from sropt.models import resolve_model
    from sropt.quantize.calibration import load_calibration_inputs
    from sropt.quantize.qat import QatSettings, quantize_aware_train, use_legacy_keras
    from sropt.validate.calibration import load_pairs

    use_legacy_keras()
    prepared = prepare_graph(model if isinstance(model, FrozenGraph) else resolve_model(model))
    source = prepared.source.artifact
    lifted = lift_to_keras(prepared)  # an unliftable graph is an InputError before any data is read
    calib = load_calibration_inputs(config.calibration, source.contract, source.scale)
    lr_images = [lr for _, lr, _ in load_pairs(calib.folder, source.scale)]
    settings = QatSettings(steps=config.qat_steps, seed=config.calibration.seed)
    prepared, lifted, start = _qat_start(prepared, lifted, calib, settings.ranges)
    outcome = quantize_aware_train(prepared, lifted, calib, lr_images, settings, progress)
    step: dict[str, Any] = {"stage": "quantize", "format": "tflite", "mode": Mode.INT8.value, "io": config.io.value,
                            "input_shape": [1, "H", "W", prepared.channels], "calibration": calib.describe(),
                            "qat": {**outcome.record, "start": start}}
    artifact = write_tflite(outcome.data, out, prepared, Mode.INT8.value, step)
    parity = outcome.record["parity"]
    notes = (f"QAT {config.qat_steps} steps in {outcome.record['seconds']:.0f} s; LiteRT int8 vs the fake-quant "
             f"model on {parity['crops']} calibration crops: PSNR {parity['psnr_db']} dB, mean |diff| "
             f"{parity['mean_abs']} levels (tolerance {parity['tolerance']})",)
    return QuantizeResult(artifact=artifact, mode=Mode.INT8.value, io=config.io.value,
                          calibration=calib.describe(), notes=notes)


# QAT may start from cross-layer-equalized weights (exact in float): tfmot's ranges are per
# tensor min/max, which FSRCNN_x3's wide pre-PReLU channels waste as in post-training INT8.
# 0.75 is the strength the weights search picks for most FSRCNN_x3 sites on T91. Whether to
# start there is measured (fake-quant L1 to the float model on the calibration crops, before
# training), because it is not always better. Measured, Set5 x3, 300 steps: FSRCNN_x3
# 30.18 -> 30.32 dB with it (T91 L1 0.0095 -> 0.0070 at the start); ESPCN_x3 30.42 -> 29.60.
QAT_EQUALIZE_ALPHA = 0.75


def _qat_start(
    prepared: PreparedGraph, lifted: Any, calib: "CalibrationSet", range_mode: str,
) -> tuple[PreparedGraph, Any, dict[str, Any]]:
    """The graph QAT starts from: as given, or equalized at ``QAT_EQUALIZE_ALPHA`` if that quantizes closer to float."""
    import dataclasses

    from sropt.convert.keras_lift import lift_to_keras
    from sropt.quantize.equalize import channel_ranges, equalize_graph, find_sites
    from sropt.quantize.qat import fake_quant_l1

    sites = find_sites(prepared.graph_def)
    if not sites:
        return prepared, lifted, {"equalize": None, "reason": "no equalization sites"}
    ranges = channel_ranges(prepared.graph_def, prepared.input_name, sites, calib.inputs)
    graph_def = equalize_graph(prepared.graph_def, sites, ranges, QAT_EQUALIZE_ALPHA)
    steps = [*prepared.steps, {"stage": "equalize", "alpha": QAT_EQUALIZE_ALPHA, "sites": len(sites),
                               "why": "QAT starts from equalized weights"}]
    equalized = dataclasses.replace(prepared, graph_def=graph_def, steps=steps)
    lifted_eq = lift_to_keras(equalized)
    plain_l1, eq_l1 = fake_quant_l1(lifted, calib, range_mode), fake_quant_l1(lifted_eq, calib, range_mode)
    record = {"fake_quant_l1": {"plain": round(plain_l1, 6), f"equalize {QAT_EQUALIZE_ALPHA}": round(eq_l1, 6)},
              "measured_on": f"{len(calib.inputs)} calibration crops"}
    if eq_l1 < plain_l1:
        return equalized, lifted_eq, {"equalize": QAT_EQUALIZE_ALPHA, **record}
    return prepared, lifted, {"equalize": None, **record}
