"""Channel groups from graph structure (sropt.convert.groups)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sropt.convert.analysis import analyze_graph
from sropt.convert.graph import read_graph_def
from sropt.convert.groups import build_channel_groups
from sropt.models.synth import build_edsr_graph


def _by_name(groups):
    return {g.name: g for g in groups}


def test_edsr_has_one_trunk_and_one_inner_group_per_block() -> None:
    graph = build_edsr_graph(blocks=2, filters=16, scale=3, seed=0)
    groups = _by_name(build_channel_groups(graph))
    assert sorted(groups) == ["Conv2D_6.out", "block0.inner", "block1.inner", "input", "trunk"]
    assert [n for n, g in groups.items() if g.prunable] == ["trunk", "block0.inner", "block1.inner"]
    trunk = groups["trunk"]
    # Head conv, each block's second conv, resFilter_two: the convs writing the residual stream.
    assert trunk.residual and trunk.channels == 16
    assert trunk.producers == ["Conv2D", "Conv2D_2", "Conv2D_4", "Conv2D_5"]
    # Each block's first conv, resFilter_two and resFilter_three read it.
    assert trunk.consumers == ["Conv2D_1", "Conv2D_3", "Conv2D_5", "Conv2D_6"]
    assert trunk.vectors == ["BiasOne", "resBias1", "resBias3", "BiasTwo"]
    inner = groups["block1.inner"]
    assert (inner.producers, inner.consumers, inner.vectors, inner.residual) == (["Conv2D_3"], ["Conv2D_4"], ["resBias2"], False)
    assert groups["Conv2D_6.out"].fixed == ["feeds DepthToSpace NHWC_output"]
    assert groups["input"].fixed == ["model input IteratorGetNext"]


def test_analyze_graph_reports_each_layers_group() -> None:
    info = analyze_graph(build_edsr_graph(blocks=2, filters=16, scale=2, seed=0))
    assert [layer.group for layer in info.layers] == [
        "trunk", "block0.inner", "trunk", "block1.inner", "trunk", "trunk", "Conv2D_6.out"]


def test_fsrcnn_prelu_alpha_is_coupled_and_add_is_not_residual(shared_models: Path) -> None:
    groups = _by_name(build_channel_groups(read_graph_def(shared_models / "FSRCNN_x3.pb")))
    prunable = [n for n, g in groups.items() if g.prunable]
    assert prunable == [f"conv{i}.out" for i in range(1, 8)]
    # relu(x) + alpha*(x-|x|)*0.5 joins two tensors of one group: not a residual join.
    assert not any(g.residual for g in groups.values())
    assert groups["conv1.out"].vectors == ["b1", "alpha1"]
    assert groups["conv8.out"].fixed and groups["conv8.out"].channels == 9


def test_espcn_and_lapsrn_groups(shared_models: Path) -> None:
    espcn = _by_name(build_channel_groups(read_graph_def(shared_models / "ESPCN_x3.pb")))
    assert {n: g.prunable for n, g in espcn.items()} == {
        "input": False, "conv1.out": True, "conv2.out": True, "conv3.out": False}
    lap = build_channel_groups(read_graph_def(shared_models / "LapSRN_x4.pb"))
    prunable = [g for g in lap if g.prunable]
    assert len(prunable) == 20 and all(g.channels == 64 and not g.residual for g in prunable)
    # Upsampled images between pyramid levels start fresh, fixed channel spaces.
    assert all(g.fixed for g in lap if g.channels in (1, 4))


def _append(graph, name, op, inputs, **attrs):
    node = graph.node.add(name=name, op=op)
    node.input.extend(inputs)
    for key, value in attrs.items():
        node.attr[key].CopyFrom(value)
    return node


def test_unknown_op_marks_group_unsupported_with_node_name() -> None:
    import tensorflow as tf
    from tensorflow.core.framework import attr_value_pb2

    graph = build_edsr_graph(blocks=2, filters=16, scale=2, seed=0, quantize_weights=False)
    # Put a Square (not in the surgery's table) between block 0's ReLU and its second conv.
    _append(graph, "odd_square", "Square", ["Relu"], T=attr_value_pb2.AttrValue(type=tf.float32.as_datatype_enum))
    for node in graph.node:
        if node.name == "Conv2D_2":
            node.input[0] = "odd_square"
    groups = build_channel_groups(graph)
    (block0,) = [g for g in groups if g.producers == ["Conv2D_1"]]
    assert block0.unsupported == ["odd_square (Square)"] and not block0.prunable
    assert block0.name == "block0.inner"
    # What comes out of the unknown op is a fresh, fixed channel space.
    (after,) = [g for g in groups if g.consumers == ["Conv2D_2"]]
    assert after.name == "odd_square.out" and after.fixed == ["output of Square odd_square"]
    assert _by_name(groups)["trunk"].prunable


def test_per_channel_constant_of_wrong_shape_is_unsupported() -> None:
    import tensorflow as tf

    graph = build_edsr_graph(blocks=1, filters=16, scale=2, seed=0, quantize_weights=False)
    const = _append(graph, "odd_scale", "Const", [])
    const.attr["dtype"].type = tf.float32.as_datatype_enum
    const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.ones((16, 1), np.float32)))
    _append(graph, "odd_mul", "Mul", ["Relu", "odd_scale"]).attr["T"].type = tf.float32.as_datatype_enum
    for node in graph.node:
        if node.name == "Conv2D_2":
            node.input[0] = "odd_mul"
    groups = _by_name(build_channel_groups(graph))
    assert groups["block0.inner"].unsupported == ["odd_mul (Mul with a constant of shape [16, 1])"]


@pytest.mark.parametrize("name", ["EDSR-T91-b8f64_x3", "FSRCNN-small_x2", "ESPCN_x4", "LapSRN_x8"])
def test_every_conv_of_every_family_gets_a_group(shared_models: Path, name: str) -> None:
    info = analyze_graph(read_graph_def(shared_models / f"{name}.pb"))
    assert info.layers and all(layer.group for layer in info.layers)
