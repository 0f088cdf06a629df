"""DEPTH_TO_SPACE as a fixed-weight TRANSPOSE_CONV, the form LiteRT's EDSR sample ships for GPUs.

LiteRT's EDSR GPU sample (google-ai-edge/litert-samples,
``compiled_model_api/super_resolution/edsr_kotlin_gpu/conversion/build_edsr.py``)
replaces each PixelShuffle(r) with "the mathematically identical fixed-weight
ConvTranspose2d(C*r*r -> C, kernel r, stride r)" so that every node lands on
the GPU delegate. The zoo graphs use TF's DepthToSpace (DCR order), so the
same idea is written for it::

    out[b, r*y + p, r*x + q, c] = in[b, y, x, (p*r + q)*C + c]
                                = sum_k in[b, y, x, k] * W[c, p, q, k],
    W[c, p, q, k] = 1 if k == (p*r + q)*C + c else 0      (TFLite's OHWI filter)

With kernel = stride = r and VALID padding the windows do not overlap, so
each output is one input value times 1 plus zeros.

The rewrite is made on the converted .tflite, op for op, so nothing else
changes (calibration, weights, every other tensor's quantization):

* float models: a float32 0/1 filter; exact.
* full INT8: the op's output keeps the scale and zero point DEPTH_TO_SPACE had,
  which the converter makes equal to its input's; the filter is int8 127 with
  scale 1/127, so the requantization multiplier is in_scale * (1/127) * 127 /
  out_scale = 1 and the result is the input value itself: bit-identical.

Rewriting the graph before conversion instead was tried and dropped: the
converter's calibrator resizes the model to each 32 px crop, but a
TRANSPOSE_CONV's output shape is a constant, so its calibrated range came out
as scale inf at 128x128 (ESPCN_x3); fixed-size mosaics of the crops fixed that
but moved FSRCNN_x3's INT8 Set5 PSNR by -0.07 dB.

The sample goes one step further for Mali GPUs (which it says reject both
DEPTH_TO_SPACE and TRANSPOSE_CONV): a nearest upsample, a zero-stuffing mask
and a plain conv. That is not done here.

TRANSPOSE_CONV takes its output shape as a constant, so the model needs a
fixed input shape (``check_depth_to_space``); with dynamic H/W the shape would
come from SHAPE ops, which delegates that need static shapes cannot run.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

from sropt.core.errors import InputError, StageError

REWRITE_NAME = "depth-to-space-transpose-conv"
# TFLite op versions (tensorflow/lite/tools/versioning/op_version.cc): TRANSPOSE_CONV v1 is
# float, v2 adds int8/uint8; DEPTH_TO_SPACE's float and int8 kernels are v1/v2 likewise.
_TRANSPOSE_CONV_VERSION = {"FLOAT32": 1, "INT8": 2}


class DepthToSpaceForm(str, enum.Enum):
    """How DepthToSpace is written in the .tflite."""

    NATIVE = "native"  # TFLite DEPTH_TO_SPACE, as the converter writes it
    TRANSPOSE_CONV = "transpose_conv"  # a fixed 0/1 TRANSPOSE_CONV (LiteRT's EDSR GPU sample)


def parse_depth_to_space(value: object, option: str = "--depth-to-space") -> DepthToSpaceForm:
    """``native`` or ``transpose_conv``; InputError (naming ``option``) otherwise."""
    if isinstance(value, DepthToSpaceForm):
        return value
    try:
        return DepthToSpaceForm(str(value).strip().lower())
    except ValueError:
        raise InputError(f"{option} {value!r}: choose native (TFLite DEPTH_TO_SPACE) or transpose_conv "
                         "(a fixed-weight TRANSPOSE_CONV, the form LiteRT's EDSR GPU sample uses).") from None


def check_depth_to_space(form: DepthToSpaceForm, fixed_shape: tuple[int, int] | None) -> None:
    """InputError when the transposed-convolution form is asked for without a fixed input shape."""
    if form is DepthToSpaceForm.TRANSPOSE_CONV and fixed_shape is None:
        raise InputError("--depth-to-space transpose_conv needs --fixed-shape HxW (pipelines.yaml: fixed_shape): "
                         "TRANSPOSE_CONV takes its output shape as a constant; with dynamic H/W it would come from "
                         "SHAPE ops, which GPU delegates that need static shapes cannot run. Add e.g. --fixed-shape 128x128.")


def shuffle_filter(block: int, channels: int) -> np.ndarray:
    """The [C, r, r, C*r*r] (OHWI) 0/1 TRANSPOSE_CONV filter equal to DEPTH_TO_SPACE(r), DCR order."""
    w = np.zeros((channels, block, block, channels * block * block), np.float32)
    for p in range(block):
        for q in range(block):
            for c in range(channels):
                w[c, p, q, (p * block + q) * channels + c] = 1.0
    return w


def apply_depth_to_space(data: bytes, form: DepthToSpaceForm, step: dict[str, Any]) -> bytes:
    """``data`` with its DEPTH_TO_SPACE ops in ``form`` (recorded in ``step``); unchanged for native."""
    if form is DepthToSpaceForm.NATIVE:
        return data
    data, count = rewrite_depth_to_space(data)
    step["depth_to_space"] = {"form": form.value, "rewrite": REWRITE_NAME, "ops": count,
                              "why": "every op on the GPU delegate (LiteRT's EDSR GPU sample form)"}
    return data


def rewrite_depth_to_space(data: bytes) -> tuple[bytes, int]:
    """Every DEPTH_TO_SPACE of ``data`` (a .tflite) as a fixed TRANSPOSE_CONV; returns (new bytes, count)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    d2s = {i for i, c in enumerate(model.operatorCodes)
           if flatbuffer_utils.get_builtin_code_from_operator_code(c) == schema.BuiltinOperator.DEPTH_TO_SPACE}
    count = 0
    for subgraph in model.subgraphs:
        for position, op in enumerate(subgraph.operators):
            if op.opcodeIndex in d2s:
                subgraph.operators[position] = _transpose_conv(model, subgraph, op)
                count += 1
    if not count:
        return data, 0
    _drop_unused_opcodes(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), count


def _drop_unused_opcodes(model: Any) -> None:
    """Remove operator codes no op uses (the replaced DEPTH_TO_SPACE), which runtimes still resolve at load."""
    used = sorted({op.opcodeIndex for sg in model.subgraphs for op in sg.operators})
    new_index = {old: new for new, old in enumerate(used)}
    model.operatorCodes = [model.operatorCodes[i] for i in used]
    for sg in model.subgraphs:
        for op in sg.operators:
            op.opcodeIndex = new_index[op.opcodeIndex]


def _transpose_conv(model: Any, subgraph: Any, op: Any) -> Any:
    """The TRANSPOSE_CONV op replacing DEPTH_TO_SPACE ``op``: same input and output tensors."""
    from ai_edge_litert import schema_py_generated as schema

    source, target = subgraph.tensors[op.inputs[0]], subgraph.tensors[op.outputs[0]]
    block = int(op.builtinOptions.blockSize)
    shape = [int(v) for v in target.shape]
    dynamic = target.shapeSignature is not None and any(int(v) < 0 for v in target.shapeSignature)
    kind = {schema.TensorType.FLOAT32: "FLOAT32", schema.TensorType.INT8: "INT8"}.get(source.type)
    if dynamic or len(shape) != 4 or kind is None:
        raise StageError(f"DEPTH_TO_SPACE ({target.name!r}): cannot write it as TRANSPOSE_CONV (shape {shape}, "
                         f"dynamic {dynamic}, type {source.type}); it needs a fixed input shape and float32 or int8 "
                         "tensors (int16x8 is not supported). Use --depth-to-space native.")
    channels = shape[3]
    weights = shuffle_filter(block, channels)
    if kind == "INT8":
        quant = schema.QuantizationParametersT()
        quant.scale, quant.zeroPoint, quant.quantizedDimension = [1.0 / 127] * channels, [0] * channels, 0
        weights_t = _add_const(model, subgraph, f"{target.name}/d2s_filter", (weights * 127).astype(np.int8),
                               schema.TensorType.INT8, quant)
    else:
        weights_t = _add_const(model, subgraph, f"{target.name}/d2s_filter", weights, schema.TensorType.FLOAT32)
    shape_t = _add_const(model, subgraph, f"{target.name}/d2s_output_shape", np.array(shape, np.int32),
                         schema.TensorType.INT32)
    options = schema.TransposeConvOptionsT()
    options.padding, options.strideH, options.strideW = schema.Padding.VALID, block, block
    new = schema.OperatorT()
    new.opcodeIndex = _opcode(model, schema.BuiltinOperator.TRANSPOSE_CONV, _TRANSPOSE_CONV_VERSION[kind])
    new.inputs, new.outputs = [shape_t, weights_t, op.inputs[0]], list(op.outputs)
    new.builtinOptionsType, new.builtinOptions = schema.BuiltinOptions.TransposeConvOptions, options
    return new


def _add_const(model: Any, subgraph: Any, name: str, value: np.ndarray, dtype: int, quant: Any = None) -> int:
    """Append a constant tensor (and its buffer) to ``subgraph``; returns its index."""
    from ai_edge_litert import schema_py_generated as schema

    buffer = schema.BufferT()
    buffer.data = np.frombuffer(value.tobytes(), np.uint8)
    model.buffers.append(buffer)
    tensor = schema.TensorT()
    tensor.shape, tensor.type, tensor.buffer, tensor.name = list(value.shape), dtype, len(model.buffers) - 1, name
    tensor.quantization = quant
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


def _opcode(model: Any, builtin: int, version: int) -> int:
    """The index of ``builtin`` at ``version`` in the model's operator codes, added when absent."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    for i, code in enumerate(model.operatorCodes):
        if flatbuffer_utils.get_builtin_code_from_operator_code(code) == builtin and code.version == version:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode, code.deprecatedBuiltinCode, code.version = builtin, min(builtin, 127), version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1
