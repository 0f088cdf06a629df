"""GPU-delegate verdicts from LiteRT's analyzer, against the analyzer's own output and the model's op list."""

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
def test_op_list_and_verdict_match_the_analyzer(name: str) -> None:
    from sropt.convert.tflite_gpu import analyze_gpu_compatibility

    data = _tiny_float_tflite(name)
    result = analyze_gpu_compatibility(data)
    assert [op.op for op in result.ops] == _op_names(data)  # the flatbuffer's own operator list
    assert [op.index for op in result.ops] == list(range(len(result.ops)))
    text = _tensorflow_analyzer(data)
    assert result.says_compatible == ("Your model looks compatible with GPU delegate" in text)
    assert bool(result.unsupported) == ("GPU COMPATIBILITY WARNING" in text)
    assert result.to_json()["ops_total"] == len(_op_names(data))


def test_probe_model_decides_whether_the_verdict_is_evidence() -> None:
    """The probe's only op is an unknown custom op; an analyzer with a working check must flag it."""
    from sropt.convert.tflite_gpu import PROBE_OP, analyze_gpu_compatibility, analyzer_flags_unknown_ops, probe_model

    from ai_edge_litert.tools import flatbuffer_utils

    probe = probe_model()
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(probe))
    assert _op_names(probe) == ["CUSTOM"] and model.operatorCodes[0].customCode.decode() == PROBE_OP
    flags = "GPU COMPATIBILITY WARNING" in _tensorflow_analyzer(probe)
    assert analyzer_flags_unknown_ops() is flags
    result = analyze_gpu_compatibility(_tiny_float_tflite("espcn"))
    assert result.verified is flags
    if not flags:  # TF 2.21 / ai-edge-litert 2.3: the per-op check is compiled out
        assert "UNVERIFIED" in result.summary() and result.notes


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
