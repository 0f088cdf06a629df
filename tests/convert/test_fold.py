"""fold_dequantize must be exact: TF's own Dequantize kernel computes the floats."""

from __future__ import annotations

import numpy as np
import pytest

from sropt.convert import analyze_graph, fold_dequantize, read_graph_def, run_graph


@pytest.mark.shared
def test_fold_is_bit_exact_on_trained_edsr(shared_models):
    graph_def = read_graph_def(shared_models / "EDSR-T91-b8f64_x3.pb")
    folded = fold_dequantize(graph_def)
    x = np.random.default_rng(0).uniform(-115, 145, (1, 17, 23, 3)).astype(np.float32)  # H != W
    (before,) = run_graph(graph_def, {"IteratorGetNext": x}, ["NCHW_output"])
    (after,) = run_graph(folded, {"IteratorGetNext": x}, ["NCHW_output"])
    assert before.shape == (1, 3, 51, 69)
    assert np.abs(before - after).max() == 0.0
    info = analyze_graph(folded)
    assert (info.weight_storage, info.dequantize_nodes) == ("float32", 0)
    assert not any(n.name.endswith(("_quantized_const", "_quantized_min", "_quantized_max")) for n in folded.node)
    assert info.params == analyze_graph(graph_def).params


@pytest.mark.shared
def test_fold_leaves_float_graphs_unchanged(shared_models):
    graph_def = read_graph_def(shared_models / "FSRCNN_x3.pb")
    # deterministic=True: attr maps otherwise serialize in arbitrary order.
    assert fold_dequantize(graph_def).SerializeToString(deterministic=True) == graph_def.SerializeToString(deterministic=True)


@pytest.mark.shared
def test_folded_edsr_is_accepted_by_tflite_converter_and_tf2onnx(shared_models, tmp_path):
    import tensorflow as tf
    import tf2onnx

    folded = fold_dequantize(read_graph_def(shared_models / "EDSR-T91-b8f64_x3.pb"))
    pb = tmp_path / "folded.pb"
    pb.write_bytes(folded.SerializeToString())
    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        str(pb), ["IteratorGetNext"], ["NCHW_output"], input_shapes={"IteratorGetNext": [1, 16, 16, 3]}
    )
    assert len(converter.convert()) > 600_000
    model_proto, _ = tf2onnx.convert.from_graph_def(
        folded, input_names=["IteratorGetNext:0"], output_names=["NCHW_output:0"], opset=17
    )
    assert {n.op_type for n in model_proto.graph.node} >= {"Conv", "DepthToSpace"}
