"""GPU-delegate verdicts: LiteRT's analyzer text, and the ported rules on real conversions, with C++-derived verdicts."""

from __future__ import annotations

import contextlib
import io

import pytest

from sropt.core.errors import StageError


def _tiny_float_tflite(name: str) -> bytes:
    import tensorflow as tf

    from tests.graphs_tiny import TINY_GRAPHS, build_tiny_graph

    graph_def, _, _ = build_tiny_graph(name)
    channels = TINY_GRAPHS[name][1]

    def model(x):
        return tf.graph_util.import_graph_def(graph_def, input_map={"lr:0": x}, return_elements=["sr:0"])[0]

    fn = tf.function(model, input_signature=[tf.TensorSpec([1, 12, 16, channels], tf.float32)])
    return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn).convert()


def _tensorflow_analyzer(data: bytes) -> str:
    """What ``tf.lite.experimental.Analyzer.analyze`` prints (FACTS.md: to stdout, so capture it)."""
    import tensorflow as tf

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tf.lite.experimental.Analyzer.analyze(model_content=data, gpu_compatibility=True)
    return out.getvalue()


def _op_names(data: bytes) -> list[str]:
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    return [flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for op in model.subgraphs[0].operators]


@pytest.mark.parametrize("name", ["fsrcnn", "espcn", "edsr"])
def test_analyzer_text_is_parsed_to_the_flatbuffer_op_list(name: str) -> None:
    from sropt.convert.tflite_gpu import analyzer_text, parse_analyzer_text

    data = _tiny_float_tflite(name)
    result = parse_analyzer_text(*analyzer_text(data))
    assert [op.op for op in result.ops] == _op_names(data)  # the flatbuffer's own operator list
    assert [op.index for op in result.ops] == list(range(len(result.ops)))
    text = _tensorflow_analyzer(data)
    assert result.says_compatible == ("Your model looks compatible with GPU delegate" in text)
    assert bool(result.unsupported) == ("GPU COMPATIBILITY WARNING" in text)


@pytest.mark.parametrize("name", ["fsrcnn", "espcn", "edsr", "lapsrn", "dilated"])
def test_tiny_family_graphs_are_all_taken(name: str) -> None:
    """By hand from the C++: stride-1 CONV_2D (dilation 1 or 2, fused RELU at most), TANH/ABS/RELU of one
    runtime tensor, SUB/MUL/ADD with 1 or 2 runtime inputs and no rank mismatch above rank 1, DEPTH_TO_SPACE
    block 2 or 3, all float32 at versions <= 2: every op passes."""
    from sropt.convert.tflite_gpu import analyze_gpu_compatibility

    data = _tiny_float_tflite(name)
    result = analyze_gpu_compatibility(data)
    assert [op.op for op in result.ops] == _op_names(data)
    assert result.compatible and result.verified and not result.unsupported
    record = result.to_json()
    assert record["ops_total"] == record["ops_supported"] == len(_op_names(data))
    if record["checker"] == PORTED:  # this stack: the analyzer's check is compiled out
        assert record["delegate_options"] == {"quantized_models_allowed": True}
        assert record["rules"]["CONV_2D"] == ("model_builder.cc Conv2DOperationParser CheckMaxSupportedOpVersion(6), "
                                              "gpu_compatibility.cc case kTfLiteBuiltinConv2d, IsAllAllowedTensors")


PORTED = "ported gpu_compatibility.cc rules"


def _converted(fn, shape: list[int | None]) -> bytes:
    import tensorflow as tf

    f = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32)])
    return tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f).convert()


def shape_slice_model() -> bytes:
    """conv + reshape(x[..., 0], shape(x)), then DepthToSpace: converts to CONV_2D, SHAPE, STRIDED_SLICE,
    RESHAPE, ADD, DEPTH_TO_SPACE with dynamic H/W."""
    import numpy as np
    import tensorflow as tf

    w = tf.constant(np.ones((1, 1, 1, 4), np.float32))

    def model(x):
        return tf.nn.depth_to_space(tf.nn.conv2d(x, w, 1, "SAME") + tf.reshape(x[:, :, :, 0], tf.shape(x)), 2)

    return _converted(model, [1, None, None, 1])


# Worked out from gpu_compatibility.cc: SHAPE has no case (default branch); x[..., 0] sets shrink_axis_mask 8;
# RESHAPE's new shape is SHAPE's output, a second runtime input where the case wants exactly 1.
SHAPE_SLICE_REFUSED = [
    ("Op#1 SHAPE", "Not supported op SHAPE"),
    ("Op#2 STRIDED_SLICE", "Slice does not support shrink_axis_mask parameter. "),
    ("Op#3 RESHAPE", "Expected 1 runtime input tensor(s), but node has 2 runtime input(s)."),
]


def test_converted_tf_functions_get_the_cpp_verdicts() -> None:
    import numpy as np
    import tensorflow as tf

    from sropt.convert.tflite_gpu import ported_gpu_compatibility

    result = ported_gpu_compatibility(shape_slice_model())
    assert [op.op for op in result.ops] == ["CONV_2D", "SHAPE", "STRIDED_SLICE", "RESHAPE", "ADD", "DEPTH_TO_SPACE"]
    assert [(op.label, op.reason) for op in result.unsupported] == SHAPE_SLICE_REFUSED
    assert not result.compatible and result.verified
    assert result.summary().startswith("3 of 6 ops not GPU-compatible: Op#1 SHAPE (Not supported op SHAPE), ")
    w3 = tf.constant(np.ones((1, 3, 3, 2, 2), np.float32))
    conv3d = ported_gpu_compatibility(_converted(lambda x: tf.nn.conv3d(x, w3, [1] * 5, "SAME"), [1, 2, 8, 8, 2]))
    # the message gpu_compatibility_test.cc (Conv3DModel) expects from the C++
    assert [(op.op, op.reason) for op in conv3d.ops] == [("CONV_3D", "Not supported op CONV_3D")]


def test_probe_model_decides_whether_the_analyzer_decides() -> None:
    """The probe's only op is an unknown custom op; an analyzer with a working check must flag it. This
    stack's does not, so the port decides, and the port flags the probe."""
    from sropt.convert.tflite_gpu import (PROBE_OP, analyze_gpu_compatibility, analyzer_flags_unknown_ops,
                                          ported_gpu_compatibility, probe_model)

    from ai_edge_litert.tools import flatbuffer_utils

    probe = probe_model()
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(probe))
    assert _op_names(probe) == ["CUSTOM"] and model.operatorCodes[0].customCode.decode() == PROBE_OP
    flags = "GPU COMPATIBILITY WARNING" in _tensorflow_analyzer(probe)
    assert analyzer_flags_unknown_ops() is flags
    result = analyze_gpu_compatibility(_tiny_float_tflite("espcn"))
    assert result.verified
    assert result.to_json()["checker"] == (result.analyzer if flags else PORTED)
    ported = ported_gpu_compatibility(probe)
    assert [(op.label, op.reason) for op in ported.unsupported] == [(f"Op#0 {PROBE_OP}", f"Not supported custom op {PROBE_OP}")]


def test_unreadable_model_is_a_stage_error() -> None:
    from sropt.convert.tflite_gpu import ported_gpu_compatibility

    with pytest.raises(StageError, match="m.tflite: not a readable .tflite flatbuffer"):
        ported_gpu_compatibility(b"TFL3 truncated", "m.tflite")


# The analyzer's text for a model with two unsupported ops, in model_analyzer.cc's format
# (dump_node, then "GPU COMPATIBILITY WARNING: " + status message; then the subgraph summary).
FLAGGED = """Your TFLite model has '1' subgraph(s). In the subgraph description below,
T# represents the Tensor numbers.

Subgraph#0 main(T#0) -> [T#5]
  Op#0 CONV_2D(T#0, T#1, T#2) -> [T#3]
  Op#1 TOPK_V2(T#3, T#4[2]) -> [T#5, T#6]
GPU COMPATIBILITY WARNING: Not supported op TOPK_V2
  Op#2 SroptX(T#5) -> [T#7]
GPU COMPATIBILITY WARNING: Not supported custom op SroptX

GPU COMPATIBILITY WARNING: Subgraph#0 has GPU delegate compatibility issues at nodes 1, 2 with TFLite runtime version 2.13.0

Tensors of Subgraph#0
  T#0(x) shape:[1, 8, 8, 1], type:FLOAT32
"""


def test_parser_names_each_flagged_op_and_why() -> None:
    from sropt.convert.tflite_gpu import parse_analyzer_text

    result = parse_analyzer_text(FLAGGED, "test")
    assert [(op.label, op.supported, op.reason) for op in result.ops] == [
        ("Op#0 CONV_2D", True, ""),
        ("Op#1 TOPK_V2", False, "Not supported op TOPK_V2"),
        ("Op#2 SroptX", False, "Not supported custom op SroptX"),
    ]
    assert not result.compatible and not result.says_compatible and result.runtime_version == "2.13.0"
    assert result.summary().startswith("2 of 3 ops not GPU-compatible: Op#1 TOPK_V2 (Not supported op TOPK_V2), Op#2 SroptX")
    # a node named only in the summary line still counts
    only_summary = FLAGGED.replace("GPU COMPATIBILITY WARNING: Not supported op TOPK_V2\n", "")
    assert [op.supported for op in parse_analyzer_text(only_summary, "test").ops] == [True, False, False]


def test_output_that_is_not_the_analyzers_is_an_error() -> None:
    from sropt.convert.tflite_gpu import parse_analyzer_text

    with pytest.raises(StageError, match="analyzer's output was not understood"):
        parse_analyzer_text("Failed to mmap the given model buffer.", "test", "m.tflite")
    with pytest.raises(StageError, match="no op list or no GPU verdict"):
        parse_analyzer_text("Subgraph#0 main(T#0) -> [T#1]\n  Op#0 CONV_2D(T#0) -> [T#1]\n", "test")


@pytest.mark.shared
@pytest.mark.slow  # three quantizations: 9.7 s on 2 shared cores
def test_sropt_int8_files_are_taken_and_int16x8_is_not(tmp_path, datasets) -> None:
    """sropt's own INT8 uint8-I/O files (DepthToSpace native and as TRANSPOSE_CONV) pass every rule; int16x8's
    INT16 activations are runtime tensors IsAllAllowedTensors refuses (float32/16, int8, uint8 only)."""
    from collections import Counter

    from sropt.convert.tflite_gpu import ported_gpu_compatibility
    from sropt.models.synth import write_synthetic_edsr
    from sropt.quantize.config import CalibrationConfig, QuantizeConfig
    from sropt.quantize.tflite_quantize import quantize_tflite

    src = write_synthetic_edsr(tmp_path / "edsr.pb", blocks=2, filters=16, scale=3, seed=0).path
    calibration = CalibrationConfig(datasets / "T91", calib_count=4)
    for form, last in (("native", "DEPTH_TO_SPACE"), ("transpose_conv", "TRANSPOSE_CONV")):
        config = QuantizeConfig("tflite", "int8", io="uint8", fixed_shape=(12, 18), depth_to_space=form,
                                weight_rounding="nearest", equalize="off", calibration=calibration)
        path = quantize_tflite(src, tmp_path / f"{form}.tflite", config).artifact.path
        result = ported_gpu_compatibility(path.read_bytes())
        assert result.compatible and Counter(op.op for op in result.ops)[last] == 1
        assert [op.op for op in result.ops] == _op_names(path.read_bytes())
    config = QuantizeConfig("tflite", "int16x8", calibration=calibration)
    path = quantize_tflite(src, tmp_path / "int16.tflite", config).artifact.path
    convs = [op for op in ported_gpu_compatibility(path.read_bytes()).ops if op.op == "CONV_2D"]
    assert convs and all(op.reason.startswith("OP is supported, but tensor type/shape isn't compatible. (input 0: INT16")
                         for op in convs)
