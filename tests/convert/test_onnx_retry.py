"""tf2onnx now and then emits a graph that computes something else; export_onnx must catch it and convert again.

The wrong graphs here are made by hand from a correct conversion in the two
ways a wrong variant can differ: the shape tf2onnx 1.17 was seen to produce
(an extra unit axis, rank 5), and the values (the output scaled by 1.01).
The reference is TensorFlow running the tiny graph itself. tf2onnx is
replaced by copies of one checked conversion, so which attempt is wrong is
fixed (the real tf2onnx is wrong about 1 time in 15).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sropt.core.errors import StageError
from tests.graphs_tiny import frozen_graph_output

pytestmark = pytest.mark.slow  # each test runs TF and tf2onnx: ~10 s on 2 cores


@pytest.fixture(scope="module")
def tiny_pb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.graphs_tiny import build_tiny_graph

    graph_def, _, _ = build_tiny_graph("espcn")
    path = tmp_path_factory.mktemp("retry") / "tiny.pb"
    path.write_bytes(graph_def.SerializeToString())
    return path


def _rank5_output(proto) -> None:
    """Append Unsqueeze(axis 1) at the output: the (1, 1, H, W, 1) result seen from tf2onnx."""
    from onnx import helper, numpy_helper

    out = proto.graph.output[0]
    last = next(n for n in proto.graph.node if out.name in n.output)
    last.output[:] = [n if n != out.name else "pre_out" for n in last.output]
    proto.graph.initializer.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    proto.graph.node.append(helper.make_node("Unsqueeze", ["pre_out", "axis1"], [out.name]))
    out.type.tensor_type.shape.dim.insert(1, out.type.tensor_type.shape.dim[0])


def _scaled_output(proto) -> None:
    """Multiply the output by 1.01: same shape, wrong values."""
    from onnx import helper, numpy_helper

    out = proto.graph.output[0]
    last = next(n for n in proto.graph.node if out.name in n.output)
    last.output[:] = [n if n != out.name else "pre_out" for n in last.output]
    proto.graph.initializer.append(numpy_helper.from_array(np.array(1.01, np.float32), "gain"))
    proto.graph.node.append(helper.make_node("Mul", ["pre_out", "gain"], [out.name]))


@pytest.fixture(scope="module")
def good_proto(tiny_pb: Path, tmp_path_factory: pytest.TempPathFactory):
    """One export of the tiny graph, checked against TensorFlow here, so the fakes below start from a right graph."""
    import onnx

    from sropt.convert.onnx_export import export_onnx

    path = export_onnx(tiny_pb, tmp_path_factory.mktemp("good") / "good.onnx").path
    x = np.random.default_rng(5).random((1, 21, 16, 1), dtype=np.float32)
    np.testing.assert_allclose(_ort_output(path, x), frozen_graph_output(tiny_pb, x), atol=1e-5)
    return onnx.load(str(path))


def _wrong_first(monkeypatch: pytest.MonkeyPatch, good, corruptions: list) -> list[int]:
    """Fake tf2onnx: copies of ``good``, the first len(corruptions) corrupted in that order; returns the call counter."""
    import copy

    from sropt.convert import onnx_export

    calls = [0]

    def convert(prepared, opset, layout):
        proto = copy.deepcopy(good)
        if calls[0] < len(corruptions):
            corruptions[calls[0]](proto)
        calls[0] += 1
        return proto, "unused", "NHWC"  # the tiny graph's output is NHWC

    monkeypatch.setattr(onnx_export, "convert_to_onnx", convert)
    return calls


def _ort_output(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2).copy()})[0]


def test_a_wrong_conversion_is_converted_again(
    tiny_pb: Path, good_proto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sropt.convert.onnx_export import export_onnx

    calls = _wrong_first(monkeypatch, good_proto, [_rank5_output, _scaled_output])
    out = tmp_path / "t.onnx"
    export_onnx(tiny_pb, out)
    assert calls[0] == 3  # two wrong, the third right
    x = np.random.default_rng(6).random((1, 21, 16, 1), dtype=np.float32)
    y, expected = _ort_output(out, x), frozen_graph_output(tiny_pb, x)
    assert y.shape == expected.shape == (1, 63, 48, 1)
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_every_conversion_wrong_is_a_stage_error_and_writes_nothing(
    tiny_pb: Path, good_proto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sropt.convert.onnx_export import CONVERSION_ATTEMPTS, export_onnx

    corruptions = ([_rank5_output, _scaled_output] * CONVERSION_ATTEMPTS)[:CONVERSION_ATTEMPTS]
    calls = _wrong_first(monkeypatch, good_proto, corruptions)
    with pytest.raises(StageError) as info:
        export_onnx(tiny_pb, tmp_path / "t.onnx")
    assert calls[0] == CONVERSION_ATTEMPTS
    assert str(tiny_pb) in str(info.value) and "nothing was written" in str(info.value)
    problems = info.value.problems
    assert len(problems) == CONVERSION_ATTEMPTS
    assert problems[0] == "output shape (1, 1, 39, 51, 1), TensorFlow gives (1, 39, 51, 1)"
    # 1.01 x an output whose max |value| m is under 1 differs by 0.01 m, far over the 1e-4 bound.
    assert problems[1].startswith("max |onnxruntime - TensorFlow| = ") and problems[1].endswith(" > 0.0001")
    assert list(tmp_path.iterdir()) == []
    assert info.value.exit_code == 4
