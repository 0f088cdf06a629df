"""Receptive-field margins read from graphs, against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from sropt.convert.graph import read_graph_def
from sropt.convert.receptive_field import SpatialNode, margin_of_graph_def, margin_of_nodes, receptive_margin
from sropt.core.artifacts import ArtifactKind
from sropt.core.errors import UnsupportedModelError
from tests.graphs_tiny import TINY_GRAPHS, build_tiny_graph


@pytest.mark.parametrize("name", sorted(TINY_GRAPHS))
def test_tiny_graph_margin_equals_the_hand_count(name: str) -> None:
    graph_def, _, margin = build_tiny_graph(name)
    assert margin_of_graph_def(graph_def) == margin


def test_margin_rounds_up_once_after_the_resolution_changes() -> None:
    # 1 px at 1x, then 3 px at 2x (1.5 LR) and 3 px at 4x (0.75 LR): ceil(3.25) = 4, not 1 + 2 + 1.
    nodes = [
        SpatialNode("a", "Conv2D", ("x",), reach=1),
        SpatialNode("b", "DepthToSpace", ("a",), upscale=2),
        SpatialNode("c", "Conv2D", ("b",), reach=3),
        SpatialNode("d", "DepthToSpace", ("c",), upscale=2),
        SpatialNode("e", "Conv2D", ("d", "w"), reach=3),  # "w" is a constant: not spatial
    ]
    assert margin_of_nodes(nodes, "x") == 4


def test_unknown_spatial_op_is_refused_by_name() -> None:
    nodes = [SpatialNode("pool", "AvgPool", ("x",), reach=None), SpatialNode("c", "Conv2D", ("pool",), reach=1)]
    with pytest.raises(UnsupportedModelError, match=r"unknown spatial extent: pool \(AvgPool\)"):
        margin_of_nodes(nodes, "x", "m.pb")


def test_strided_conv_is_refused() -> None:
    import numpy as np
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 1], name="lr")
        tf.nn.conv2d(x, tf.constant(np.ones((3, 3, 1, 1), np.float32)), 2, "SAME", name="down")
    with pytest.raises(UnsupportedModelError, match="down: a SAME conv with strides \\[2, 2\\]"):
        margin_of_graph_def(graph.as_graph_def(), "g")


# Hand counts from the conv chains (tests/convert/test_analysis.py checks the layers):
# FSRCNN: 5x5 (2) + four 3x3 (4); FSRCNN-small: 5x5 + one 3x3; ESPCN: 5x5 + 3x3 + 3x3;
# EDSR B=8: head + 16 block convs + tail + last, all 3x3;
# LapSRN per level: 10 3x3 convs + a 4x4 up-conv (SAME reach 2) = 12 px at that level's resolution:
# x2: 12; x4: 12 + 12/2 = 18; x8: 12 + 6 + 3 = 21.
ZOO_MARGINS = {
    "FSRCNN_x3": 6, "FSRCNN-small_x3": 3, "ESPCN_x3": 4, "EDSR-T91-b8f64_x3": 19,
    "LapSRN_x2": 12, "LapSRN_x4": 18, "LapSRN_x8": 21,
}


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(ZOO_MARGINS))
def test_zoo_margins(shared_models: Path, name: str) -> None:
    assert margin_of_graph_def(read_graph_def(shared_models / f"{name}.pb")) == ZOO_MARGINS[name]


@pytest.mark.shared
def test_onnx_and_tflite_files_give_the_frozen_graph_margin(shared_models: Path, tmp_path: Path) -> None:
    from tests.validate.exports import export_onnx, export_tflite

    for name in ("FSRCNN_x3", "LapSRN_x4"):
        pb = shared_models / f"{name}.pb"
        onnx_path = export_onnx(pb, tmp_path / f"{name}.onnx", sidecar=False)
        tflite_path = export_tflite(pb, tmp_path / f"{name}.tflite", sidecar=False)
        assert receptive_margin(onnx_path, ArtifactKind.ONNX) == ZOO_MARGINS[name]
        assert receptive_margin(tflite_path, ArtifactKind.TFLITE) == ZOO_MARGINS[name]
