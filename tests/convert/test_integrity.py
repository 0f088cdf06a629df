"""Structural checks before analysis, conversion or a runtime (convert/integrity.py; issue 20, items 1-2).

Each case is a tiny graph with one corruption that tests/fuzz found crashing
something: OpenCV (SIGSEGV: a DepthToSpace with no input, a data_format that
is no layout), the analysis (a cycle: KeyError or a hang; a stride of 0:
ZeroDivisionError; a rank-3 filter: the audit's "not enough values to unpack"
in convert/groups.py) or a converter (TensorFlow's importer ValueError).
Both readers (TensorFlow's GraphDef and the protobuf-only structure subset)
refuse them with exit 2 and the node named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sropt.convert import analyze_graph, load_frozen_graph, read_graph_def
from sropt.convert.graph_structure import read_graph_structure
from sropt.core.errors import InputError, UnsupportedModelError
from tests.graphs_tiny import build_tiny_graph


def _node(graph, op: str, nth: int = 0):
    return [n for n in graph.node if n.op == op][nth]


def _no_depth_to_space_input(g):
    del _node(g, "DepthToSpace").input[:]


def _bad_data_format(g):
    _node(g, "Conv2D", 1).attr["data_format"].s = b"\xff\xfe"


def _cycle(g):
    _node(g, "Conv2D").input[0] = "sr"  # the first conv now reads the output: lr is unused, sr feeds back


def _zero_stride(g):
    _node(g, "Conv2D").attr["strides"].list.i[1] = 0


def _cut_weights(g):
    tensor = _node(g, "Const").attr["value"].tensor
    tensor.tensor_content = tensor.tensor_content[:-4]


def _duplicate_name(g):
    g.node.add().CopyFrom(_node(g, "Relu"))


def _bias_add_without_bias(g):
    del _node(g, "BiasAdd").input[1]


CORRUPTIONS = {
    "DepthToSpace with no input (OpenCV SIGSEGV)": (_no_depth_to_space_input, "node 'DepthToSpace' (DepthToSpace) has 0 data input(s); DepthToSpace takes 1"),
    "data_format that is no layout (OpenCV SIGSEGV)": (_bad_data_format, "node 'Conv2D_1' (Conv2D): data_format b'\\xff\\xfe' is not one of NCDHW, NCHW, NCHW_VECT_C, NDHWC, NHWC"),
    "cycle (analysis KeyError)": (_cycle, "nodes 'Conv2D' -> 'BiasAdd' -> 'Relu' -> 'Conv2D_1'"),
    "stride 0 (analysis ZeroDivisionError)": (_zero_stride, "node 'Conv2D' (Conv2D): strides [1, 0, 1, 1] must be 4 positive integers"),
    "weights cut short": (_cut_weights, "node 'Const' (Const): shape [5, 5, 1, 8] needs 800 bytes of content, the file holds 796 (truncated or corrupt)"),
    "two nodes of one name": (_duplicate_name, "node name 'Relu' is used by more than one node"),
    "BiasAdd without its bias": (_bias_add_without_bias, "node 'BiasAdd' (BiasAdd) has 1 data input(s); BiasAdd takes 2"),
}


def _corrupted(tmp_path: Path, corrupt) -> Path:
    graph, _, _ = build_tiny_graph("espcn")
    corrupt(graph)
    path = tmp_path / "bad.pb"
    path.write_bytes(graph.SerializeToString(deterministic=True))
    return path


@pytest.mark.parametrize("case", list(CORRUPTIONS))
@pytest.mark.parametrize("reader", [read_graph_def, read_graph_structure], ids=["tensorflow", "protobuf-only"])
def test_corrupt_graph_is_refused_by_both_readers(case, reader, tmp_path):
    corrupt, problem = CORRUPTIONS[case]
    path = _corrupted(tmp_path, corrupt)
    with pytest.raises(InputError) as info:
        reader(path)
    assert str(info.value).startswith(f"{path}: not a usable frozen graph")
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_the_cycle_is_named_in_order(tmp_path):
    path = _corrupted(tmp_path, _cycle)
    with pytest.raises(InputError) as info:
        read_graph_def(path)
    cycle = [p for p in info.value.problems if "form a cycle" in p]
    # espcn: Conv2D -> BiasAdd -> Relu -> Conv2D_1 -> ... -> Tanh -> sr -> Conv2D (hand-traced from tests/graphs_tiny.py)
    assert cycle == ["nodes 'Conv2D' -> 'BiasAdd' -> 'Relu' -> 'Conv2D_1' -> 'BiasAdd_1' -> 'Relu_1' -> 'Conv2D_2' -> "
                     "'BiasAdd_2' -> 'DepthToSpace' -> 'Tanh' -> 'sr' -> 'Conv2D' form a cycle"]


def test_rank_3_filter_is_unsupported_not_an_unpack_error():
    # The audit's ValueError "not enough values to unpack" in convert/groups.py: a 3-D conv filter.
    graph, _, _ = build_tiny_graph("espcn")
    tensor = _node(graph, "Const").attr["value"].tensor
    del tensor.tensor_shape.dim[-1]
    tensor.tensor_shape.dim[-1].size = 8  # [5, 5, 8]: still 200 floats, so the content size matches
    with pytest.raises(UnsupportedModelError) as info:
        analyze_graph(graph, "bad.pb")
    assert info.value.problems == ["Conv2D 'Conv2D': its filter 'Const' has shape [5, 5, 8]; a frozen SR graph's filters are 4-D constants"]


def test_graph_tensorflow_refuses_is_exit_2_when_loaded_to_run(tmp_path):
    # Passes the structural checks (a BiasAdd's bias of the wrong length) but not TensorFlow's shape inference,
    # which tf2onnx and the TFLite converter used to raise as a ValueError traceback.
    graph, _, _ = build_tiny_graph("espcn")
    bias = graph.node[[n.name for n in graph.node].index(_node(graph, "BiasAdd").input[1])]
    bias.attr["value"].tensor.tensor_content = np.zeros(3, np.float32).tobytes()
    bias.attr["value"].tensor.tensor_shape.dim[0].size = 3
    path = tmp_path / "bias.pb"
    path.write_bytes(graph.SerializeToString(deterministic=True))
    with pytest.raises(InputError, match=rf"^{path}: TensorFlow cannot import this graph \(Dimensions must be equal, but are 8 and 3"):
        load_frozen_graph(path)


def test_every_zoo_graph_passes(shared_models):
    for path in sorted(shared_models.glob("*.pb")):
        load_frozen_graph(path)  # no InputError: the checks refuse nothing TensorFlow and OpenCV run
        read_graph_structure(path)
