"""TFLite's ``CheckGpuDelegateCompatibility`` ported to Python, for the builtin ops sropt's .tflite files use.

Source: ``tflite/tools/versioning/gpu_compatibility.cc`` of google-ai-edge/LiteRT at commit
007226f498a6fa5204b1127a59d647857a09ceaf (the LiteRT tree ai-edge-litert 2.x is built from;
it is TensorFlow's ``tensorflow/lite/tools/versioning/gpu_compatibility.cc`` moved out of
TensorFlow). ai-edge-litert 2.3's ``libLiteRtWebGpuAccelerator.so`` carries this copy's
messages and not the ones the TensorFlow copy (tensorflow/tensorflow 03a5e4e19a9c) has and
LiteRT dropped: "depth_multiplier != 1 && input.c != 1" (DEPTHWISE_CONV_2D) and "MUL requires
one tensor that not less than second in all dimensions" (MUL); those two rules are therefore
not ported. The op signature is read from the flatbuffer as ``GetOpSignature`` in
``tflite/tools/versioning/op_signature.cc`` reads it: a tensor is constant when its buffer
holds data, an omitted optional input (index -1) has no type and counts as an input but not a
runtime one, dims are the tensor's ``shape`` (not ``shape_signature``), and an op without
builtin options gets zero-filled parameters (``BuiltinDataAllocator::AllocatePOD`` value-
initialises), so e.g. a CONV_2D without options has stride 0 and is refused.

This module is the per-op rule only (what LiteRT's model analyzer prints as "GPU COMPATIBILITY
WARNING"). What the GPU delegate adds on top (op versions, QUANTIZE/DEQUANTIZE only for
quantized models, runtime tensor types, fp16 weights) is ``sropt.convert.tflite_gpu_delegate``.
Each rule below names the C++ ``case`` it ports; messages are the C++ strings, character for
character, so they can be compared with a device log. An op outside ``RULES`` is refused:
"not supported: no rule ported", or the C++ default "Not supported op X" when the C++ switch
has no case for it either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

NO_TYPE = "NOTYPE"  # kTfLiteNoType: an omitted optional input
SIGN_BIT = 5  # schema ActivationFunctionType.SIGN_BIT -> kTfLiteActSignBit, the only fused activation refused


@dataclass(frozen=True)
class TensorSpec:
    """``OpSignatureTensorSpec``: one input or output of an op as the rules see it."""

    type: str  # schema TensorType name ("FLOAT32", "INT8", ...) or NO_TYPE
    dims: tuple[int, ...] = ()
    is_const: bool = False
    is_variable: bool = False


@dataclass(frozen=True)
class OpSignature:
    """``OpSignature``: the op, its version, builtin options and tensor specs."""

    op: str  # builtin name ("CONV_2D"), "CUSTOM" for custom ops
    version: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    options: Any = None  # the ai_edge_litert schema options object, None when the op has none
    custom_name: str = ""

    def option(self, name: str) -> Any:
        """A builtin parameter; 0 when the op carries no options (the C++ params are zero-filled then)."""
        return 0 if self.options is None else getattr(self.options, name)

    @property
    def runtime_inputs(self) -> int:
        """``GetNumberOfRuntimeInputs``: inputs that are neither constant nor omitted."""
        return sum(1 for t in self.inputs if not t.is_const and t.type != NO_TYPE)

    @property
    def const_inputs(self) -> int:
        return sum(1 for t in self.inputs if t.is_const)


# (signature, kEnhancedBroadcast set) -> None when supported, else the C++ status message
Check = Callable[[OpSignature, bool], "str | None"]


def inputs_outputs(sig: OpSignature, runtime: int, outputs: int) -> str | None:
    """``CheckInputsOutputs``."""
    if sig.runtime_inputs != runtime:
        return f"Expected {runtime} runtime input tensor(s), but node has {sig.runtime_inputs} runtime input(s)."
    if len(sig.outputs) != outputs:
        return f"Expected {outputs} output tensor(s), but node has {len(sig.outputs)} output(s)."
    return None


def inputs_consts_outputs(sig: OpSignature, runtime: int, const: int, outputs: int) -> str | None:
    """``CheckInputsConstsOutputs``."""
    if sig.const_inputs != const:
        return f"Expected {const} const input tensor(s), but node has {sig.const_inputs} const input(s)."
    return inputs_outputs(sig, runtime, outputs)


def tensor_available(sig: OpSignature, idx: int) -> str | None:
    """``CheckTensorIsAvailable``."""
    if idx >= len(sig.inputs):
        return f"Requested index goes beyond array size: {idx} vs {len(sig.inputs)}"
    return None


def convolution_input_output(sig: OpSignature) -> str | None:
    """``CheckConvoultionInputOutput`` (sic): at most 2 runtime inputs, one output."""
    if sig.runtime_inputs > 2:
        return f"Expected 1 or 2 input tensor(s), but node has {sig.runtime_inputs} runtime inputs."
    if len(sig.outputs) != 1:
        return f"Expected 1 output tensor(s), but node has {len(sig.outputs)} runtime outputs."
    return tensor_available(sig, 1) if sig.runtime_inputs == 1 else None


def strides(h: int, w: int) -> str | None:
    """``CheckStrides``."""
    return f"Incorrect stride values: stride_height = {h}, stride_width = {w}" if h <= 0 or w <= 0 else None


def dilation(h: int, w: int) -> str | None:
    """``CheckDilation``."""
    return f"Incorrect dilation values: dilation_height = {h}, dilation_width = {w}" if h <= 0 or w <= 0 else None


def activation(value: int) -> str | None:
    """``IsActivationSupported``: NONE, RELU, RELU_N1_TO_1, RELU6 and TANH pass; SIGN_BIT does not."""
    return "TfLiteFusedActivation.kTfLiteActSignBit" if value == SIGN_BIT else None


def axes_int32_const(sig: OpSignature, idx: int) -> str | None:
    """``CheckAxesAreInt32Const``."""
    axes = sig.inputs[idx]
    if not axes.is_const:
        return f"{sig.op} is only supported with constant axes."
    if axes.type != "INT32":
        return f"{sig.op} supports int32 tensor for axes. But node has {axes.type}"
    return None


def _broadcastable_enhanced(longer: tuple[int, ...], shorter: tuple[int, ...]) -> bool:
    """``CheckIsBroadcastable``: numpy-style, aligned from the last dimension."""
    for i in range(1, max(len(longer), len(shorter)) + 1):
        a = longer[-i] if i <= len(longer) else 1
        b = shorter[-i] if i <= len(shorter) else 1
        if a != b and a != 1 and b != 1:
            return False
    return True


def _broadcastable_standard(longer: tuple[int, ...], shorter: tuple[int, ...]) -> bool:
    """The three shapes ``CheckAddMulBroadcastCompatibility`` accepts without kEnhancedBroadcast."""
    if len(longer) == 4 and len(shorter) == 3 and longer[0] == 1:
        return True  # 3D to 4D with batch 1
    if len(longer) == 4 and len(shorter) == 2 and longer[0] == 1 and shorter == (1, 1):
        return True  # [1, 1] to [1, x, y, z]
    return len(longer) == 4 and len(shorter) == 2 and longer[0] == shorter[0] and longer[3] == shorter[1]


def add_mul_broadcast(in0: TensorSpec, in1: TensorSpec, enhanced: bool) -> str | None:
    """``CheckAddMulBroadcastCompatibility``: only inputs of different ranks, both above 1, are checked."""
    if len(in0.dims) > 1 and len(in1.dims) > 1 and len(in0.dims) != len(in1.dims):
        longer, shorter = (in0.dims, in1.dims) if len(in0.dims) >= len(in1.dims) else (in1.dims, in0.dims)
        check = _broadcastable_enhanced if enhanced else _broadcastable_standard
        if not check(longer, shorter):
            return (f"Doesn't support broadcasting - input0: [{','.join(map(str, in0.dims))}], "
                    f"input1: [{','.join(map(str, in1.dims))}]")
    return None


def first_failure(*checks: Callable[[], str | None]) -> str | None:
    """The first failing check, evaluated in order and lazily, as a C++ ``RETURN_IF_ERROR`` chain."""
    for check in checks:
        if (message := check()) is not None:
            return message
    return None


def _conv_2d(sig: OpSignature, enhanced: bool) -> str | None:
    return first_failure(
        lambda: convolution_input_output(sig),
        lambda: strides(sig.option("strideH"), sig.option("strideW")),
        lambda: dilation(sig.option("dilationHFactor"), sig.option("dilationWFactor")),
        lambda: activation(sig.option("fusedActivationFunction")))


def _depthwise_conv_2d(sig: OpSignature, enhanced: bool) -> str | None:
    """``CheckDepthwiseConvGpuDelegateCompatibility``."""
    failure = first_failure(
        lambda: _conv_2d(sig, enhanced),  # the same four checks, in the same order
        lambda: tensor_available(sig, 1))  # the C++ reads inputs[1] unguarded; refuse instead of crashing
    if failure is not None:
        return failure
    inp, flt, out = sig.inputs[0], sig.inputs[1], sig.outputs[0]
    bias = sig.inputs[2] if len(sig.inputs) > 2 else None
    for what, spec in (("input", inp), ("filter", flt), ("output", out)):
        if len(spec.dims) != 4:
            return f"{what}.dims.size != 4"
    if inp.dims[0] != out.dims[0]:
        return "input.b != output.b"
    if flt.dims[3] != out.dims[3]:
        return "filter.i != output.c"
    if out.dims[3] != inp.dims[3] * sig.option("depthMultiplier"):
        return "output.c != input.c * depth_multiplier"
    # NumElements of an omitted bias's empty dims is 1, so an omitted bias passes only when output.c is 1.
    if bias is not None and _num_elements(bias.dims) != out.dims[3]:
        return "bias.size != output.c"
    return None


def _num_elements(dims: tuple[int, ...]) -> int:
    count = 1
    for d in dims:
        count *= d
    return count


def _transpose_conv(sig: OpSignature, enhanced: bool) -> str | None:
    return first_failure(lambda: convolution_input_output(sig),
                         lambda: strides(sig.option("strideH"), sig.option("strideW")))


def _depth_to_space(sig: OpSignature, enhanced: bool) -> str | None:
    block = sig.option("blockSize")
    return first_failure(
        lambda: inputs_outputs(sig, 1, 1),
        lambda: "DEPTH_TO_SPACE block_size = 1 is a no-op." if block == 1 else None,
        lambda: "DEPTH_TO_SPACE block_size must be > 1." if block < 1 else None)


def _add(sig: OpSignature, enhanced: bool) -> str | None:
    if len(sig.inputs) != 2:
        return "ADD requires two input tensors."
    return add_mul_broadcast(sig.inputs[0], sig.inputs[1], enhanced)


def _mul(sig: OpSignature, enhanced: bool) -> str | None:
    if len(sig.inputs) != 2:
        return "MUL requires two input tensors."
    in0, in1 = sig.inputs
    return first_failure(
        lambda: add_mul_broadcast(in0, in1, enhanced) if len(in0.dims) != len(in1.dims) else None,
        lambda: activation(sig.option("fusedActivationFunction")))


def _two_operands(sig: OpSignature, enhanced: bool) -> str | None:
    """The two-argument elementwise cases (SUB, MAXIMUM, MINIMUM, ...): 2 runtime, or 1 runtime + 1 constant."""
    if inputs_consts_outputs(sig, 2, 0, 1) is not None and inputs_consts_outputs(sig, 1, 1, 1) is not None:
        return "Op can only handle 1 or 2 operand(s)."
    return activation(sig.option("fusedActivationFunction")) if sig.op in ("SUB", "DIV") else None


def _one_operand(sig: OpSignature, enhanced: bool) -> str | None:
    """The one-argument elementwise cases (TANH, LOGISTIC, ...)."""
    return inputs_consts_outputs(sig, 1, 0, 1)


def _one_in_one_out(sig: OpSignature, enhanced: bool) -> str | None:
    return inputs_outputs(sig, 1, 1)


def _always(sig: OpSignature, enhanced: bool) -> str | None:
    return None


def _pad(sig: OpSignature, enhanced: bool) -> str | None:
    """PAD, PADV2, MIRROR_PAD: one runtime input; paddings [4, 2] or [3, 2]."""
    if sig.op == "MIRROR_PAD":
        # TfLiteMirrorPaddingMode: 0 unknown (no options), 1 reflect (schema REFLECT=0), 2 symmetric (schema 1)
        mode = 0 if sig.options is None else sig.options.mode + 1
        if mode != 1:
            return f"Only Reflective padding is supported for Mirror Pad operation. But node has {mode}"
    failure = first_failure(lambda: inputs_outputs(sig, 1, 1), lambda: tensor_available(sig, 1))
    if failure is not None:
        return failure
    pad = sig.inputs[1].dims
    if len(pad) != 2:
        return f"Invalid paddings tensor dimension: expected 2 dim, got {len(pad)} dim"
    if pad[0] not in (3, 4) or pad[1] != 2:
        return f"Invalid paddings tensor shape: expected 4x2 or 3x2, got {pad[0]}x{pad[1]}"
    return None


def _dequantize(sig: OpSignature, enhanced: bool) -> str | None:
    n_in, n_out = len(sig.inputs), len(sig.outputs)
    if n_in != 1 or n_out != 1:  # absl::StrCat does not format "%d": the C++ message really ends like this
        return f"Expected 1 input & output each from Dequantize, got: %d, %d{n_in}{n_out}"
    return "Unsupported dequantization type." if sig.inputs[0].type == "INT16" else None


def _resize_bilinear(sig: OpSignature, enhanced: bool) -> str | None:
    both = sig.option("alignCorners") and sig.option("halfPixelCenters")
    return first_failure(lambda: inputs_outputs(sig, 1, 1),
                         lambda: "If half_pixel_centers is True, align_corners must be False." if both else None)


def _mean(sig: OpSignature, enhanced: bool) -> str | None:
    return first_failure(lambda: inputs_consts_outputs(sig, 1, 1, 1), lambda: axes_int32_const(sig, 1))


def _strided_slice(sig: OpSignature, enhanced: bool) -> str | None:
    if sig.option("ellipsisMask"):
        return "Slice does not support ellipsis_mask."
    if sig.option("newAxisMask"):
        return "Slice does not support new_axis_mask."
    if sig.option("shrinkAxisMask"):
        return "Slice does not support shrink_axis_mask parameter. "
    if len(sig.inputs) < 4:
        return "STRIDED_SLICE requires 4 inputs."
    if len(sig.inputs[0].dims) not in (3, 4):
        return "STRIDED_SLICE supports for 3 or 4 dimensional tensors only."
    return None


def _softmax(sig: OpSignature, enhanced: bool) -> str | None:
    return "Softmax.beta != 1 is not supported." if sig.option("beta") != 1 else None


#: op -> (the C++ ``case`` of CheckGpuDelegateCompatibility it ports, the check)
RULES: dict[str, tuple[str, Check]] = {
    "ABS": ("kTfLiteBuiltinAbs", _one_operand),  # float FSRCNN's PReLU is relu(x) + a * (x - |x|) / 2
    "ADD": ("kTfLiteBuiltinAdd", _add),
    "CONCATENATION": ("kTfLiteBuiltinConcatenation", _always),
    "CONV_2D": ("kTfLiteBuiltinConv2d", _conv_2d),
    "DEPTHWISE_CONV_2D": ("kTfLiteBuiltinDepthwiseConv2d", _depthwise_conv_2d),
    "DEPTH_TO_SPACE": ("kTfLiteBuiltinDepthToSpace", _depth_to_space),
    "DEQUANTIZE": ("kTfLiteBuiltinDequantize", _dequantize),
    "LEAKY_RELU": ("kTfLiteBuiltinLeakyRelu", _always),
    "LOGISTIC": ("kTfLiteBuiltinLogistic", _one_operand),
    "MAXIMUM": ("kTfLiteBuiltinMaximum", _two_operands),
    "MEAN": ("kTfLiteBuiltinMean", _mean),
    "MINIMUM": ("kTfLiteBuiltinMinimum", _two_operands),
    "MIRROR_PAD": ("kTfLiteBuiltinMirrorPad", _pad),
    "MUL": ("kTfLiteBuiltinMul", _mul),
    "PAD": ("kTfLiteBuiltinPad", _pad),
    "PADV2": ("kTfLiteBuiltinPadv2", _pad),
    "PRELU": ("kTfLiteBuiltinPrelu", _always),
    "QUANTIZE": ("kTfLiteBuiltinQuantize", _one_in_one_out),
    "RELU": ("kTfLiteBuiltinRelu", _always),
    "RELU6": ("kTfLiteBuiltinRelu6", _always),
    "RELU_N1_TO_1": ("kTfLiteBuiltinReluN1To1", _always),
    "RESHAPE": ("kTfLiteBuiltinReshape", _one_in_one_out),
    "RESIZE_BILINEAR": ("kTfLiteBuiltinResizeBilinear", _resize_bilinear),
    "RESIZE_NEAREST_NEIGHBOR": ("kTfLiteBuiltinResizeNearestNeighbor", _one_in_one_out),
    "SOFTMAX": ("kTfLiteBuiltinSoftmax", _softmax),
    "SPLIT": ("kTfLiteBuiltinSplit", _always),
    "SPLIT_V": ("kTfLiteBuiltinSplitV", _always),
    "STRIDED_SLICE": ("kTfLiteBuiltinStridedSlice", _strided_slice),
    "SUB": ("kTfLiteBuiltinSub", _two_operands),
    "TANH": ("kTfLiteBuiltinTanh", _one_operand),
    "TRANSPOSE": ("kTfLiteBuiltinTranspose", _one_in_one_out),
    "TRANSPOSE_CONV": ("kTfLiteBuiltinTransposeConv", _transpose_conv),
}

#: Every builtin the C++ switch has a case for (LiteRT 007226f); any other op takes its default branch.
CPP_CASES = frozenset("""
    ABS ADD ADD_N ATAN2 AVERAGE_POOL_2D BATCH_MATMUL BITCAST CAST CEIL CONCATENATION CONV_2D COS CUMSUM CUSTOM
    DENSIFY DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DIV DYNAMIC_UPDATE_SLICE ELU EMBEDDING_LOOKUP EQUAL EXP
    FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GELU GREATER GREATER_EQUAL HARD_SWISH LEAKY_RELU LESS
    LESS_EQUAL LOG LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC LSTM MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD
    MUL NEG NOT_EQUAL ONE_HOT PACK PAD PADV2 POW PRELU QUANTIZE REDUCE_ALL REDUCE_ANY REDUCE_MAX REDUCE_MIN
    REDUCE_PROD RELU RELU6 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR REVERSE_V2 RIGHT_SHIFT
    ROUND RSQRT SELECT SELECT_V2 SIGN SIN SLICE SOFTMAX SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE
    SQUARED_DIFFERENCE STABLEHLO_BROADCAST_IN_DIM STABLEHLO_CBRT STABLEHLO_CLAMP STABLEHLO_REMAINDER
    STABLEHLO_SHIFT_LEFT STRIDED_SLICE SUB SUM TANH TILE TOPK_V2 TRANSPOSE TRANSPOSE_CONV
""".split())

#: The custom ops CheckCustomOpsGpuDelegateCompatibility knows; every other custom op is refused by name.
CPP_CUSTOM_OPS = frozenset({"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler"})

NO_RULE = "not supported: no rule ported"


def check_signature(sig: OpSignature, enhanced_broadcast: bool = False) -> tuple[str | None, str]:
    """(None or why the GPU delegate refuses ``sig``, the C++ it was decided by)."""
    if sig.op == "CUSTOM":
        where = "gpu_compatibility.cc CheckCustomOpsGpuDelegateCompatibility"
        if sig.custom_name in CPP_CUSTOM_OPS:
            return f"{NO_RULE} (custom op {sig.custom_name})", where
        return f"Not supported custom op {sig.custom_name}", where
    if sig.op in RULES:
        case, check = RULES[sig.op]
        return check(sig, enhanced_broadcast), f"gpu_compatibility.cc case {case}"
    if sig.op in CPP_CASES:
        return f"{NO_RULE} ({sig.op})", "sropt: gpu_compatibility.cc has a case for it, not ported"
    return f"Not supported op {sig.op}", "gpu_compatibility.cc default case"
