"""The port of LiteRT's GPU-delegate rules, on hand-built flatbuffers whose verdict is read off the C++.

Each case below is one op whose expected verdict was worked out by hand from
google-ai-edge/LiteRT's ``tflite/tools/versioning/gpu_compatibility.cc`` (007226f) and
``tflite/delegates/gpu/common/model_builder.cc`` (34ec5ba): the expected string is the C++
status message, copied from the C++ source, not from the port.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

F = "FLOAT32"
X4 = (F, [1, 8, 8, 4])  # a runtime NHWC float tensor


def _const(kind: str, shape: list[int]) -> tuple[str, list[int], bool]:
    return (kind, shape, True)


def build_model(tensors: list[tuple], ops: list[dict], inputs: list[int], outputs: list[int]) -> bytes:
    """A .tflite from (type, shape[, const]) tensors and {op, inputs, outputs, options, version, custom} ops."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = schema.ModelT()
    model.version, model.description, model.buffers = 3, "sropt GPU-rule test", [schema.BufferT()]
    sg = schema.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators, sg.name = [], inputs, outputs, [], "main"
    for i, (kind, shape, *const) in enumerate(tensors):
        t = schema.TensorT()
        t.shape, t.type, t.name, t.buffer = shape, getattr(schema.TensorType, kind), f"t{i}", 0
        if const and const[0]:
            buffer = schema.BufferT()
            buffer.data = np.ones(4 * max(1, int(np.prod(shape))), np.uint8)
            model.buffers.append(buffer)
            t.buffer = len(model.buffers) - 1
        sg.tensors.append(t)
    model.operatorCodes = []
    for spec in ops:
        code = schema.OperatorCodeT()
        builtin = getattr(schema.BuiltinOperator, spec["op"])
        code.builtinCode, code.deprecatedBuiltinCode = builtin, min(builtin, 127)
        code.version, code.customCode = spec.get("version", 1), spec.get("custom")
        model.operatorCodes.append(code)
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = len(model.operatorCodes) - 1, spec["inputs"], spec["outputs"]
        if (options := spec.get("options")) is not None:
            name, values = options
            op.builtinOptionsType = getattr(schema.BuiltinOptions, name)
            op.builtinOptions = getattr(schema, name + "T")()
            for key, value in values.items():
                setattr(op.builtinOptions, key, value)
        sg.operators.append(op)
    model.subgraphs = [sg]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def one_op(op: str, ins: list[tuple | None], outs: list[tuple], options: tuple[str, dict] | None = None,
           version: int = 1, custom: str | None = None) -> bytes:
    """A model of one op; an input given as None is an omitted optional input (index -1)."""
    tensors = [t for t in ins if t is not None] + outs
    index, in_idx = 0, []
    for t in ins:
        in_idx.append(-1 if t is None else index)
        index += t is not None
    out_idx = list(range(index, index + len(outs)))
    runtime = [i for i, t in zip(in_idx, ins) if t is not None and not (len(t) > 2 and t[2])]
    spec = {"op": op, "inputs": in_idx, "outputs": out_idx, "options": options, "version": version, "custom": custom}
    return build_model(tensors, [spec], runtime, out_idx)


def _conv(**kw: Any) -> tuple[str, dict]:
    return ("Conv2DOptions", {"strideH": 1, "strideW": 1, **kw})


CONV_INPUTS = [X4, _const(F, [4, 3, 3, 4]), _const(F, [4])]
TYPE_SHAPE = "OP is supported, but tensor type/shape isn't compatible."

# (id, model bytes, quantized models allowed, expected reason: "" = the delegate takes the op)
CASES = [
    ("conv ok, fused RELU6", one_op("CONV_2D", CONV_INPUTS, [X4], _conv(fusedActivationFunction=3)), True, ""),
    ("conv stride 0", one_op("CONV_2D", CONV_INPUTS, [X4], _conv(strideH=0)), True,
     "Incorrect stride values: stride_height = 0, stride_width = 1"),
    ("conv dilation 0", one_op("CONV_2D", CONV_INPUTS, [X4], _conv(dilationWFactor=0)), True,
     "Incorrect dilation values: dilation_height = 1, dilation_width = 0"),
    # no Conv2DOptions: ParseConv2D leaves the value-initialised (zero) params, so both strides are 0
    ("conv without options", one_op("CONV_2D", CONV_INPUTS, [X4]), True,
     "Incorrect stride values: stride_height = 0, stride_width = 0"),
    ("conv SIGN_BIT", one_op("CONV_2D", CONV_INPUTS, [X4], _conv(fusedActivationFunction=5)), True,
     "TfLiteFusedActivation.kTfLiteActSignBit"),
    ("conv 3 runtime inputs", one_op("CONV_2D", [X4, (F, [4, 3, 3, 4]), (F, [4])], [X4], _conv()), True,
     "Expected 1 or 2 input tensor(s), but node has 3 runtime inputs."),
    ("conv version 7", one_op("CONV_2D", CONV_INPUTS, [X4], _conv(), version=7), True,
     "Max version supported: 6. Requested version 7"),
    ("conv omitted bias", one_op("CONV_2D", CONV_INPUTS[:2] + [None], [X4], _conv()), True, ""),
    # LiteRT's copy dropped TF's "depth_multiplier != 1 && input.c != 1" refusal
    ("depthwise multiplier 2", one_op("DEPTHWISE_CONV_2D", [(F, [1, 8, 8, 2]), _const(F, [1, 3, 3, 4]), _const(F, [4])],
                                      [X4], ("DepthwiseConv2DOptions", {"strideH": 1, "strideW": 1,
                                                                        "depthMultiplier": 2})), True, ""),
    ("depthwise wrong multiplier", one_op("DEPTHWISE_CONV_2D", [(F, [1, 8, 8, 2]), _const(F, [1, 3, 3, 4]),
                                                                _const(F, [4])],
                                          [X4], ("DepthwiseConv2DOptions", {"strideH": 1, "strideW": 1,
                                                                            "depthMultiplier": 1})), True,
     "output.c != input.c * depth_multiplier"),
    # an omitted bias has no dims, NumElements({}) is 1, which is not output.c = 4
    ("depthwise omitted bias", one_op("DEPTHWISE_CONV_2D", [X4, _const(F, [1, 3, 3, 4]), None], [X4],
                                      ("DepthwiseConv2DOptions", {"strideH": 1, "strideW": 1,
                                                                  "depthMultiplier": 1})), True,
     "bias.size != output.c"),
    ("transpose_conv stride 3", one_op("TRANSPOSE_CONV", [_const("INT32", [4]), _const(F, [1, 3, 3, 4]), X4],
                                       [(F, [1, 24, 24, 1])], ("TransposeConvOptions", {"strideH": 3, "strideW": 3})),
     True, ""),
    ("transpose_conv stride 0", one_op("TRANSPOSE_CONV", [_const("INT32", [4]), _const(F, [1, 3, 3, 4]), X4],
                                       [(F, [1, 24, 24, 1])], ("TransposeConvOptions", {"strideH": 3, "strideW": 0})),
     True, "Incorrect stride values: stride_height = 3, stride_width = 0"),
    ("depth_to_space block 3", one_op("DEPTH_TO_SPACE", [(F, [1, 8, 8, 9])], [(F, [1, 24, 24, 1])],
                                      ("DepthToSpaceOptions", {"blockSize": 3})), True, ""),
    ("depth_to_space block 1", one_op("DEPTH_TO_SPACE", [X4], [X4], ("DepthToSpaceOptions", {"blockSize": 1})), True,
     "DEPTH_TO_SPACE block_size = 1 is a no-op."),
    ("depth_to_space no options", one_op("DEPTH_TO_SPACE", [X4], [X4]), True, "DEPTH_TO_SPACE block_size must be > 1."),
    # kStandard (the delegate's default flag): 2D [b, c] broadcasts to 4D only when b and c match
    ("add 4D + 2D", one_op("ADD", [(F, [2, 4, 4, 2]), (F, [4, 2])], [(F, [2, 4, 4, 2])]), True,
     "Doesn't support broadcasting - input0: [2,4,4,2], input1: [4,2]"),
    ("add 4D + 3D, batch 1", one_op("ADD", [(F, [1, 4, 4, 2]), (F, [3, 4, 2])], [(F, [1, 4, 4, 2])]), True, ""),
    ("add version 3", one_op("ADD", [X4, X4], [X4], version=3), True, "Max version supported: 2. Requested version 3"),
    ("sub of two constants", one_op("SUB", [_const(F, [1, 4]), _const(F, [1, 4])], [(F, [1, 4])]), True,
     "Op can only handle 1 or 2 operand(s)."),
    ("sub SIGN_BIT", one_op("SUB", [X4, _const(F, [4])], [X4], ("SubOptions", {"fusedActivationFunction": 5})), True,
     "TfLiteFusedActivation.kTfLiteActSignBit"),
    ("mul by channel constant", one_op("MUL", [X4, _const(F, [4])], [X4], ("MulOptions", {})), True, ""),
    ("tanh of a constant", one_op("TANH", [_const(F, [1, 8, 8, 4])], [X4]), True,
     "Expected 0 const input tensor(s), but node has 1 const input(s)."),
    ("mean, runtime axes", one_op("MEAN", [X4, ("INT32", [2])], [(F, [1, 1, 1, 4])]), True,
     "Expected 1 const input tensor(s), but node has 0 const input(s)."),
    ("mean, int64 axes", one_op("MEAN", [X4, _const("INT64", [2])], [(F, [1, 1, 1, 4])]), True,
     "MEAN supports int32 tensor for axes. But node has INT64"),
    ("pad 5x2", one_op("PAD", [X4, _const("INT32", [5, 2])], [X4]), True,
     "Invalid paddings tensor shape: expected 4x2 or 3x2, got 5x2"),
    # schema SYMMETRIC (1) is kTfLiteMirrorPaddingSymmetric (2)
    ("mirror_pad symmetric", one_op("MIRROR_PAD", [X4, _const("INT32", [4, 2])], [X4],
                                    ("MirrorPadOptions", {"mode": 1})), True,
     "Only Reflective padding is supported for Mirror Pad operation. But node has 2"),
    ("strided_slice rank 2", one_op("STRIDED_SLICE", [(F, [8, 8])] + [_const("INT32", [2])] * 3, [(F, [4, 8])],
                                    ("StridedSliceOptions", {})), True,
     "STRIDED_SLICE supports for 3 or 4 dimensional tensors only."),
    ("softmax beta 2", one_op("SOFTMAX", [X4], [X4], ("SoftmaxOptions", {"beta": 2.0})), True,
     "Softmax.beta != 1 is not supported."),
    ("resize align + half pixel", one_op("RESIZE_BILINEAR", [X4, _const("INT32", [2])], [(F, [1, 16, 16, 4])],
                                         ("ResizeBilinearOptions", {"alignCorners": True, "halfPixelCenters": True})),
     True, "If half_pixel_centers is True, align_corners must be False."),
    ("reshape, runtime shape", one_op("RESHAPE", [X4, ("INT32", [2])], [(F, [8, 32])]), True,
     "Expected 1 runtime input tensor(s), but node has 2 runtime input(s)."),
    ("quantize, quantized models allowed", one_op("QUANTIZE", [X4], [("INT8", [1, 8, 8, 4])]), True, ""),
    ("quantize, not allowed", one_op("QUANTIZE", [X4], [("INT8", [1, 8, 8, 4])]), False, "Operation is not supported."),
    ("int8 conv, quantized not allowed", one_op("CONV_2D", [("INT8", [1, 8, 8, 4]), _const("INT8", [4, 3, 3, 4]),
                                                           _const("INT32", [4])], [("INT8", [1, 8, 8, 4])], _conv(),
                                                version=3), False,
     f"{TYPE_SHAPE} (input 0: INT8 [1, 8, 8, 4])"),
    ("int16 activations", one_op("CONV_2D", [("INT16", [1, 8, 8, 4]), _const("INT8", [4, 3, 3, 4]),
                                             _const("INT64", [4])], [("INT16", [1, 8, 8, 4])], _conv(), version=4),
     True, f"{TYPE_SHAPE} (input 0: INT16 [1, 8, 8, 4])"),
    ("rank 5", one_op("TANH", [(F, [1, 2, 2, 2, 2])], [(F, [1, 2, 2, 2, 2])]), True,
     f"{TYPE_SHAPE} (input 0: FLOAT32 [1, 2, 2, 2, 2])"),
    ("dequantize int16", one_op("DEQUANTIZE", [("INT16", [1, 8, 8, 4])], [X4]), True, "Unsupported dequantization type."),
    ("prelu version 2", one_op("PRELU", [X4, _const(F, [1, 1, 4])], [X4], version=2), True,
     "Max version supported: 1. Requested version 2"),
    ("custom op", one_op("CUSTOM", [X4], [X4], custom="SroptX"), True, "Not supported custom op SroptX"),
    ("known custom op", one_op("CUSTOM", [X4], [X4], custom="Convolution2DTransposeBias"), True,
     "not supported: no rule ported (custom op Convolution2DTransposeBias)"),
    ("op without a C++ case", one_op("CONV_3D", [(F, [1, 2, 8, 8, 2]), _const(F, [1, 3, 3, 2, 2])],
                                     [(F, [1, 2, 8, 8, 2])]), True, "Not supported op CONV_3D"),
    ("op with a C++ case, not ported", one_op("FULLY_CONNECTED", [(F, [1, 4]), _const(F, [2, 4])], [(F, [1, 2])]),
     True, "not supported: no rule ported (FULLY_CONNECTED)"),
]


@pytest.mark.parametrize(("model", "quantized", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_verdict_is_the_cpp_one(model: bytes, quantized: bool, expected: str) -> None:
    from sropt.convert.tflite_gpu_delegate import model_verdicts

    (verdict,) = model_verdicts(model, quantized_models_allowed=quantized)
    assert verdict.reason == expected
    assert verdict.supported is (expected == "")


def test_enhanced_broadcast_is_the_analyzers_flag() -> None:
    """The analyzer's offline check sets kEnhancedBroadcast (numpy rules): [3,4,2] does not broadcast to [1,4,4,2]."""
    from sropt.convert.tflite_gpu_rules import OpSignature, TensorSpec, check_signature

    sig = OpSignature("ADD", 1, (TensorSpec(F, (1, 4, 4, 2)), TensorSpec(F, (3, 4, 2))), (TensorSpec(F, (1, 4, 4, 2)),))
    assert check_signature(sig, enhanced_broadcast=False)[0] is None
    assert check_signature(sig, enhanced_broadcast=True)[0] == "Doesn't support broadcasting - input0: [1,4,4,2], input1: [3,4,2]"
    ok = OpSignature("ADD", 1, (TensorSpec(F, (1, 4, 4, 2)), TensorSpec(F, (4, 1))), (TensorSpec(F, (1, 4, 4, 2)),))
    assert check_signature(ok, enhanced_broadcast=True)[0] is None


def _fp16_model(tail: str | None) -> bytes:
    """DEQUANTIZE(fp16 weights) and DEQUANTIZE(fp16 bias) -> CONV_2D, then optionally one more op."""
    tensors = [X4, _const("FLOAT16", [4, 3, 3, 4]), (F, [4, 3, 3, 4]), _const("FLOAT16", [4]), (F, [4]), X4, X4]
    ops = [{"op": "DEQUANTIZE", "inputs": [1], "outputs": [2], "version": 3},
           {"op": "DEQUANTIZE", "inputs": [3], "outputs": [4], "version": 3},
           {"op": "CONV_2D", "inputs": [0, 2, 4], "outputs": [5], "options": _conv()}]
    if tail:
        ops.append({"op": "CUSTOM", "custom": tail, "inputs": [5], "outputs": [6]})
    return build_model(tensors, ops, [0], [6 if tail else 5])


def test_fp16_weights_are_read_through_their_dequantize() -> None:
    """FP16GraphPartitionHelper: the conv is checked as if it read the fp16 constants (1 runtime input, not 3),
    and the DEQUANTIZE nodes go to the GPU only when every other node does."""
    from sropt.convert.tflite_gpu_delegate import FP16_KEPT, model_verdicts

    full = model_verdicts(_fp16_model(None))
    assert [(v.op, v.reason) for v in full] == [("DEQUANTIZE", ""), ("DEQUANTIZE", ""), ("CONV_2D", "")]
    partial = model_verdicts(_fp16_model("SroptX"))
    assert [(v.op, v.reason) for v in partial] == [
        ("DEQUANTIZE", FP16_KEPT), ("DEQUANTIZE", FP16_KEPT), ("CONV_2D", ""), ("SroptX", "Not supported custom op SroptX")]


def test_rule_tables_match_the_schema_and_each_other() -> None:
    from ai_edge_litert import schema_py_generated as schema

    from sropt.convert.tflite_gpu_delegate import PARSERS
    from sropt.convert.tflite_gpu_rules import CPP_CASES, RULES

    builtin = {k for k in vars(schema.BuiltinOperator) if not k.startswith("_")}
    assert CPP_CASES <= builtin and set(RULES) <= CPP_CASES
    assert set(RULES) == set(PARSERS)  # every ported rule has the delegate parser that would apply it


# Messages of the ported gpu_compatibility.cc (the parts before any value), as written in the C++.
CPP_MESSAGES = [
    "Incorrect stride values: stride_height = ", "Incorrect dilation values: dilation_height = ",
    "TfLiteFusedActivation.kTfLiteActSignBit", "Expected 1 or 2 input tensor(s), but node has ",
    " runtime input tensor(s), but node has ", " const input tensor(s), but node has ",
    "Requested index goes beyond array size: ", "DEPTH_TO_SPACE block_size = 1 is a no-op.",
    "DEPTH_TO_SPACE block_size must be > 1.", "ADD requires two input tensors.", "MUL requires two input tensors.",
    "Doesn't support broadcasting - input0: [", "Op can only handle 1 or 2 operand(s).",
    " is only supported with constant axes.", " supports int32 tensor for axes. But node has ",
    "Invalid paddings tensor dimension: expected 2 dim, got ", "Invalid paddings tensor shape: expected 4x2 or 3x2, got ",
    "Only Reflective padding is supported for Mirror Pad operation. But node has ",
    "Slice does not support ellipsis_mask.", "Slice does not support new_axis_mask.",
    "Slice does not support shrink_axis_mask parameter. ", "STRIDED_SLICE requires 4 inputs.",
    "STRIDED_SLICE supports for 3 or 4 dimensional tensors only.", "Softmax.beta != 1 is not supported.",
    "If half_pixel_centers is True, align_corners must be False.", "Unsupported dequantization type.",
    "Expected 1 input & output each from Dequantize, got: %d, %d", "output.c != input.c * depth_multiplier",
    "bias.size != output.c", "Not supported custom op ", "Not supported op ", "Max version supported: ",
]


def test_messages_are_in_the_litert_build_this_stack_ships() -> None:
    """ai-edge-litert's WebGPU accelerator links LiteRT's gpu_compatibility.cc: its strings are the C++ ones,
    and the two rules LiteRT dropped from TensorFlow's copy are not there (so they are not ported)."""
    from pathlib import Path

    import ai_edge_litert

    library = Path(ai_edge_litert.__file__).parent / "libLiteRtWebGpuAccelerator.so"
    if not library.exists():
        pytest.skip(f"{library.name} is not in this ai-edge-litert build")
    data = library.read_bytes()
    missing = [m for m in CPP_MESSAGES if m.encode() not in data]
    assert not missing
    assert b"depth_multiplier != 1 && input.c != 1" not in data
    assert b"MUL requires one tensor that not less than second" not in data
