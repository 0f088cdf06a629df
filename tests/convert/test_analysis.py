"""analyze_graph on every published model, checked against independent computations.

Family and scale come from the registry file names (detection never reads
names). Params are recounted from the actual tensor values; MACs are
recomputed from the conv output shapes TensorFlow produces on a real run, so
the resolution bookkeeping (LapSRN's 2x/4x/8x levels) is checked too.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from sropt.convert import analyze_graph, fold_dequantize, read_graph_def, run_graph
from sropt.convert.graph_index import GraphIndex
from sropt.core.families import Family

ZOO = [
    "EDSR-T91-b8f64_x3", "ESPCN_x2", "ESPCN_x3", "ESPCN_x4",
    "FSRCNN_x2", "FSRCNN_x3", "FSRCNN_x4", "FSRCNN-small_x2", "FSRCNN-small_x3", "FSRCNN-small_x4",
    "LapSRN_x2", "LapSRN_x4", "LapSRN_x8",
]


def _expected_family_scale(name: str) -> tuple[Family, int]:
    family = name.split("_")[0].split("-")[0].lower()
    return Family(family), int(re.search(r"_x(\d)$", name).group(1))


def _independent_params(graph_def) -> int:
    """Sum of the sizes of every float weight tensor (rank >= 1), read as arrays."""
    import tensorflow as tf

    folded = fold_dequantize(graph_def)
    total = 0
    for node in folded.node:
        if node.op == "Const" and node.attr["dtype"].type == tf.float32.as_datatype_enum:
            value = tf.make_ndarray(node.attr["value"].tensor)
            if value.ndim >= 1:
                total += value.size
    return total


def _independent_macs_per_pixel(graph_def, channels: int, h: int = 8, w: int = 6) -> float:
    """MACs from TF's real conv output shapes on an h x w input, per input pixel."""
    index = GraphIndex(graph_def)
    convs = [n.name for n in graph_def.node if n.op == "Conv2D"]
    outs = run_graph(graph_def, {"IteratorGetNext": np.zeros((1, h, w, channels), np.float32)}, convs)
    total = 0
    for name, out in zip(convs, outs):
        kh, kw, cin, _ = index.const_shape(index.inputs(name)[1])
        total += kh * kw * cin * out.shape[1] * out.shape[2] * out.shape[3]
    return total / (h * w)


@pytest.mark.shared
@pytest.mark.parametrize("name", ZOO)
def test_analysis_matches_independent_values(shared_models, name):
    graph_def = read_graph_def(shared_models / f"{name}.pb")
    info = analyze_graph(graph_def, name)
    family, scale = _expected_family_scale(name)
    assert (info.family, info.scale) == (family, scale)
    assert info.inputs == ["IteratorGetNext"]
    assert info.main_output == "NCHW_output"
    assert info.input_channels == (3 if family is Family.EDSR else 1)
    assert info.params == _independent_params(graph_def)
    assert info.macs_per_pixel == pytest.approx(_independent_macs_per_pixel(graph_def, info.input_channels), rel=1e-9)
    assert sum(layer.macs_per_pixel for layer in info.layers) == info.macs_per_pixel


@pytest.mark.shared
def test_lapsrn_x8_exposes_every_pyramid_level(shared_models):
    info = analyze_graph(read_graph_def(shared_models / "LapSRN_x8.pb"))
    assert set(info.outputs) == {"NCHW_output", "NCHW_output_2x", "NCHW_output_4x", "NCHW_output_8x"}


@pytest.mark.shared
def test_trained_edsr_weight_storage_and_hand_computed_cost(shared_models):
    info = analyze_graph(read_graph_def(shared_models / "EDSR-T91-b8f64_x3.pb"))
    b, f, s = 8, 64, 3
    # head 3->F, 2B block convs FxF, resFilter_two FxF, resFilter_three F->3s^2 (all 3x3)
    macs = 9 * (3 * f + 2 * b * f * f + f * f + f * 3 * s * s)
    biases = f + 2 * b * f + f + 3 * s * s
    assert info.macs_per_pixel == macs == 643_968
    assert info.params == macs + biases
    assert (info.weight_storage, info.dequantize_nodes) == ("quint8", 2 * b + 3)
