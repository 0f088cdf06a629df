"""Activation ranges that ignore single extreme crops: trimmed min/max over the calibration crops.

TFLite's calibrator gives every activation tensor the min and max over all
calibration crops, so the one crop with the most extreme value sets that
tensor's int8 step (issue 15, item 3). ``convert_trimmed`` instead lets the
converter only calibrate (``_experimental_calibrate_only``, the path
TFLite's own QuantizationDebugger takes), measures each tensor's min and max
per crop in LiteRT, ignores the ``trim_count`` most extreme crops at each
end, writes those ranges into the calibrated model and quantizes it with the
converter's MLIR quantizer (``mlir_quantize``, the call ``convert()`` makes
itself). Nothing else changes: with no crop ignored the result is the
converter's own model (tested).

Image-valued tensors keep their full range: the model input, the last
conv's output and everything after it (DepthToSpace, the output bias, Tanh).
Clipping those clips pixels. So do the inputs of a residual Add, to which the
calibrator gives the Add output's range.

Measured (FSRCNN_x3, GPTQ + per-site equalization as chosen, 64 T91 crops,
calibration seeds 0-3; T91 all 91 whole images, mean PSNR-Y):

* 4 of 64 crops ignored at each end: T91 +0.027 dB on average over min/max
  (+0.020 to +0.039, every seed better), Set5 x3 +0.037 (read only
  afterwards);
* 1 or 2 ignored: within -0.01 dB of min/max; 8: -0.02 dB;
* the per-crop extremes' 90% quantile: T91 +0.028 but Set5 -0.019 to +0.031;
* the mean of the per-crop extremes (averaging the draws): T91 -1.45 dB,
  Set5 -5.4 dB, even with the image-valued tensors kept: the crops' largest
  activations sit on strong edges, which clipping erases.

ESPCN_x3 (no equalization) is unchanged (+0.0005 dB on T91), so the
trimmed ranges are measured against min/max on the weights search's images
and kept only for a gain (``weights.choose_candidate``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sropt.convert.tflite_export import PreparedGraph
    from sropt.quantize.calibration import CalibrationSet
    from sropt.quantize.config import QuantizeConfig

# Crops ignored at each end of every hidden tensor's range: 1 in 16 (4 of the
# default 64; fewer than 16 crops ignore none). Chosen on T91 (module doc).
TRIM_DIVISOR = 16
CONV_2D = 3  # tflite BuiltinOperator.CONV_2D


def trim_count(crops: int) -> int:
    """How many crops each end of a range ignores for ``crops`` calibration crops."""
    return crops // TRIM_DIVISOR


def image_valued_tensors(model: Any) -> set[int]:
    """Tensor indices of the subgraph that hold pixels: the inputs, the last conv's output and all after it."""
    graph = model.subgraphs[0]
    codes = [model.operatorCodes[op.opcodeIndex] for op in graph.operators]
    builtin = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in codes]
    convs = [i for i, b in enumerate(builtin) if b == CONV_2D]
    tail = graph.operators[convs[-1]:] if convs else []
    out = set(int(i) for i in graph.inputs) | set(int(i) for i in graph.outputs)
    for op in tail:
        out |= set(int(i) for i in op.outputs)
    return out


def tensors_with_ranges(model: Any) -> list[int]:
    """Indices of the calibrated model's tensors that carry one (per-tensor) min/max."""
    return [i for i, t in enumerate(model.subgraphs[0].tensors) if t.quantization is not None
            and t.quantization.min is not None and len(t.quantization.min) == 1]


def per_crop_extremes(calibrated: bytes, tensors: list[int], calib: "CalibrationSet") -> np.ndarray:
    """``[crops, tensors, 2]``: each tensor's min and max on each calibration crop, in the calibrated float model."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=calibrated, experimental_preserve_all_tensors=True)
    index = interpreter.get_input_details()[0]["index"]
    out = np.zeros((len(calib.inputs), len(tensors), 2))
    for k, x in enumerate(calib.inputs):
        interpreter.resize_tensor_input(index, x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        for j, t in enumerate(tensors):
            value = interpreter.get_tensor(t)
            out[k, j] = value.min(), value.max()
    return out


def convert_trimmed(converter: Any, calib: "CalibrationSet", source: str) -> tuple[bytes, dict[str, Any]]:
    """Quantize with each hidden tensor's range trimmed of the ``trim_count`` most extreme crops; bytes and record.

    ``converter`` is set up for full INT8 (``tflite_modes``) and not yet run.
    """
    import tensorflow as tf
    from tensorflow.lite.python.convert import mlir_quantize
    from tensorflow.lite.tools import flatbuffer_utils

    from sropt.convert.tflite_export import run_converter

    converter._experimental_calibrate_only = True
    calibrated = run_converter(converter, source)
    model = flatbuffer_utils.convert_bytearray_to_object(calibrated)
    keep = image_valued_tensors(model)
    tensors = model.subgraphs[0].tensors
    hidden = [i for i in tensors_with_ranges(model) if i not in keep]
    k = trim_count(len(calib.inputs))
    extremes = per_crop_extremes(calibrated, hidden, calib)
    # The calibrator gives a residual Add's inputs the Add output's range, not their own
    # (EDSR: a block's branch measures +-19 but is stored as the trunk's +-270). Only
    # ranges that are the tensor's own min/max over the crops are trimmed; the others stay.
    stored = np.array([[tensors[i].quantization.min[0], tensors[i].quantization.max[0]] for i in hidden]).reshape(-1, 2)
    own = np.stack([extremes[:, :, 0].min(axis=0), extremes[:, :, 1].max(axis=0)], axis=1)
    span = (stored[:, 1] - stored[:, 0])[:, None]
    mine = np.all(np.abs(stored - own) <= 1e-5 * span + 1e-6, axis=1)
    lows, highs = np.sort(extremes[:, :, 0], axis=0)[k], np.sort(extremes[:, :, 1], axis=0)[-1 - k]
    hidden_own = [(j, i) for j, i in enumerate(hidden) if mine[j]]
    for j, i in hidden_own:
        q = tensors[i].quantization
        q.min = np.array([min(lows[j], 0.0)], dtype=np.float32)  # int8 ranges always hold 0
        q.max = np.array([max(highs[j], 0.0)], dtype=np.float32)
    data = mlir_quantize(bytes(flatbuffer_utils.convert_object_to_bytearray(model)),
                         input_data_type=converter.inference_input_type or tf.float32,
                         output_data_type=converter.inference_output_type or tf.float32)
    record = {"method": "trimmed min/max", "ignored_crops_per_end": k, "crops": len(calib.inputs),
              "trimmed": [tensors[i].name.decode() for _, i in hidden_own],
              "kept_tensors": len(tensors_with_ranges(model)) - len(hidden_own)}
    return data, record


def choose_ranges(
    prepared: "PreparedGraph", calib: "CalibrationSet", config: "QuantizeConfig", minmax: bytes,
) -> tuple[bytes, dict[str, Any]]:
    """The converter's min/max model ``minmax`` or its trimmed-range conversion, whichever measures better.

    Measured on the weights search's images (``weights.search_pairs``); the
    trimmed one is kept only if it gains ``MIN_GAIN_DB`` (a tie keeps
    min/max). Not measured, so min/max stays, for integer I/O or a fixed
    shape (the search measures float I/O with dynamic H/W), for fewer than
    ``TRIM_DIVISOR`` crops, and above the weights search's size limit.
    """
    from sropt.quantize.config import IOType, Mode
    from sropt.quantize.quality import image_psnrs, tflite_predictor
    from sropt.convert.tflite_export import make_converter
    from sropt.quantize.tflite_modes import CONFIGURERS
    from sropt.quantize.weights import AUTO_MAX_MACS_PER_PIXEL, choose_candidate, search_pairs

    source = prepared.source.artifact
    why = None
    if config.io is not IOType.FLOAT or config.fixed_shape is not None:
        why = "integer I/O or a fixed shape: not measured"
    elif trim_count(len(calib.inputs)) == 0:
        why = f"fewer than {TRIM_DIVISOR} calibration crops"
    elif prepared.source.info.macs_per_pixel > AUTO_MAX_MACS_PER_PIXEL:
        why = f"more than {AUTO_MAX_MACS_PER_PIXEL:,} MACs per LR pixel: not measured"
    if why:
        return minmax, {"method": "min/max", "why": why}
    converter = make_converter(prepared)
    CONFIGURERS[Mode.INT8](converter, calib, config.io)
    trimmed, record = convert_trimmed(converter, calib, str(source.path))
    pairs = search_pairs(calib, source.scale, config.budget_images)
    scores = [float(image_psnrs(tflite_predictor(data, source), pairs, source.contract, source.scale).mean())
              for data in (minmax, trimmed)]
    kept = choose_candidate(scores)
    record = {**(record if kept else {"method": "min/max"}), "measured_on": f"{len(pairs)} whole image(s) of "
              f"{calib.folder.name}", "psnr_db": {"min/max": round(scores[0], 4), "trimmed": round(scores[1], 4)}}
    return (trimmed if kept else minmax), record
