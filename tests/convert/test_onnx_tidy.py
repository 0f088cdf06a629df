"""The tf2onnx clean-ups: identity reshape chains go, real reshapes stay; exports are reproducible."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def _graph(shape_value: list[int], *, allowzero: int | None = None, reshape_is_output: bool = False):
    """x[1,1,H,W] -> Relu -> Reshape(shape_value) -> Sub(relu, reshaped) (or Reshape as the output)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    attrs = {} if allowzero is None else {"allowzero": allowzero}
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Reshape", ["r", "shape"], ["y" if reshape_is_output else "reshaped"], name="reshape", **attrs),
    ]
    if not reshape_is_output:
        nodes.append(helper.make_node("Sub", ["r", "reshaped"], ["y"], name="sub"))
    init = [numpy_helper.from_array(np.array(shape_value, dtype=np.int64), "shape")]
    graph = helper.make_graph(nodes, "g", [x], [y], init)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(proto, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


def test_copy_reshape_is_removed_and_output_unchanged() -> None:
    from sropt.convert.onnx_tidy import remove_identity_reshapes

    proto = _graph([1, 1, 0, 0])
    x = np.random.default_rng(0).standard_normal((1, 1, 5, 7)).astype(np.float32)
    before = _run(proto, x)
    assert remove_identity_reshapes(proto) == 1
    assert [n.op_type for n in proto.graph.node] == ["Relu", "Sub"]
    assert list(proto.graph.node[1].input) == ["r", "r"]
    assert len(proto.graph.initializer) == 0  # the shape constant went with it
    np.testing.assert_array_equal(_run(proto, x), before)  # relu - relu == 0 both ways
    assert not _run(proto, x).any()


@pytest.mark.parametrize(
    "shape_value, kwargs",
    [
        ([1, -1], {}),  # flattens: changes the rank
        ([1, 1, 0, 0], {"allowzero": 1}),  # 0 means a zero-sized dim here
        ([1, 1, 0, 0], {"reshape_is_output": True}),  # the graph output keeps its name
        ([1, 0, 1, 0], {}),  # dim 2 is H, not 1: a real reshape when H != 1
    ],
)
def test_real_reshapes_stay(shape_value: list[int], kwargs: dict) -> None:
    from sropt.convert.onnx_tidy import remove_identity_reshapes

    proto = _graph(shape_value, **kwargs)
    assert remove_identity_reshapes(proto) == 0
    assert [n.op_type for n in proto.graph.node].count("Reshape") == 1


def test_rank6_round_trip_chain_is_removed() -> None:
    """LapSRN_x4's variant: Unsqueeze -> Reshape [1,1,1,0,0,1] -> Squeeze -> Reshape [1,1,0,0] is x itself."""
    from onnx import TensorProto, helper, numpy_helper

    from sropt.convert.onnx_tidy import remove_identity_reshapes

    const = lambda name, v: numpy_helper.from_array(np.array(v, dtype=np.int64), name)  # noqa: E731
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Unsqueeze", ["r", "axes"], ["u"]),
        helper.make_node("Reshape", ["u", "s6"], ["r6"]),
        helper.make_node("Squeeze", ["r6", "axes"], ["q"]),
        helper.make_node("Reshape", ["q", "s4"], ["back"]),
        helper.make_node("Sub", ["back", "r"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [const("axes", [0]), const("s6", [1, 1, 1, 0, 0, 1]), const("s4", [1, 1, 0, 0])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert remove_identity_reshapes(proto) == 4
    assert [n.op_type for n in proto.graph.node] == ["Relu", "Sub"]
    assert not proto.graph.initializer


def test_canonical_names_keep_io_and_meaning() -> None:
    from sropt.convert.onnx_tidy import name_canonically

    proto = _graph([1, 1, 0, 0])
    x = np.random.default_rng(1).standard_normal((1, 1, 3, 4)).astype(np.float32)
    before = _run(proto, x)
    name_canonically(proto)
    assert [n.name for n in proto.graph.node] == ["Relu_0", "Reshape_1", "Sub_2"]
    assert proto.graph.input[0].name == "x" and proto.graph.output[0].name == "y"
    assert [i.name for i in proto.graph.initializer] == ["c0"]
    dims = [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["", "", "in_dim2", "in_dim3"]
    np.testing.assert_array_equal(_run(proto, x), before)


_EXPORT = "import sys; from sropt.convert.onnx_export import export_onnx; export_onnx(sys.argv[1], sys.argv[2])"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["LapSRN_x2", "LapSRN_x4"])
def test_lapsrn_export_is_byte_identical_across_processes(name: str, shared_models: Path, tmp_path: Path) -> None:
    """tf2onnx varies between processes (about 1 in 4 LapSRN_x2 exports used to fail OpenCV's load check;
    LapSRN_x4 came out with or without a rank-6 reshape chain).

    Two processes with different hash seeds must write the same bytes, and
    export_onnx's own OpenCV + ORT load check must pass in both.
    """
    digests = []
    for seed in ("0", "1"):
        out = tmp_path / f"{name}_{seed}.onnx"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _EXPORT, str(shared_models / f"{name}.pb"), str(out)],
            env=env, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
