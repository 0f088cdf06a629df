"""DEPTH_TO_SPACE as a fixed TRANSPOSE_CONV: hand-computed filter, equal outputs in every TFLite runtime.

Each runtime runs the native and the rewritten file on the same input.
Measured on these tiny graphs (and on ESPCN_x3 / FSRCNN_x3 INT8 uint8-I/O at
128x128): max |rewritten - native| 0 in float32 and 0 levels in INT8, in
LiteRT with XNNPACK, LiteRT's builtin kernels, TensorFlow's own TFLite
interpreter and the LiteRT CompiledModel API on CPU, so the tolerance is exact
equality. (The runtimes differ from each other by float rounding and by one
INT8 level; that is theirs, not the rewrite's.) ONNX exports are untouched:
the rewrite exists for LiteRT's GPU delegate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sropt.core.errors import InputError


def test_shuffle_filter_by_hand() -> None:
    from sropt.convert.tflite_depth_to_space import shuffle_filter

    # r=2, C=1: output pixel (p, q) of each 2x2 block reads input channel p*2 + q.
    w = shuffle_filter(2, 1)
    assert w.shape == (1, 2, 2, 4)
    assert w[0, 0, 0].tolist() == [1, 0, 0, 0] and w[0, 0, 1].tolist() == [0, 1, 0, 0]
    assert w[0, 1, 0].tolist() == [0, 0, 1, 0] and w[0, 1, 1].tolist() == [0, 0, 0, 1]
    # r=2, C=2 (DCR): channel c of block position (0, 1) is input channel (0*2 + 1)*2 + c.
    w = shuffle_filter(2, 2)
    assert w[1, 0, 1, 3] == 1 and w[0, 0, 1, 2] == 1 and w.sum() == 8


def _tiny_tflite(name: str, shape: tuple[int, int], int8: bool) -> bytes:
    """A tiny family graph converted at a fixed shape (H != W), float32 or full INT8 on random data."""
    import tensorflow as tf

    from tests.graphs_tiny import TINY_GRAPHS, build_tiny_graph

    graph_def, _, _ = build_tiny_graph(name)
    channels = TINY_GRAPHS[name][1]

    def model(x):
        return tf.graph_util.import_graph_def(graph_def, input_map={"lr:0": x}, return_elements=["sr:0"])[0]

    fn = tf.function(model, input_signature=[tf.TensorSpec([1, *shape, channels], tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    if int8:
        rng = np.random.default_rng(1)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([rng.random((1, *shape, channels), np.float32)] for _ in range(4))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.uint8
    return converter.convert()


def _run_litert(data: bytes, x: np.ndarray, resolver: str) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType[resolver])
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def _run_tf_interpreter(data: bytes, x: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_content=data)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"])


def _ops(data: bytes) -> list[str]:
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    return [flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) for op in model.subgraphs[0].operators]


@pytest.mark.parametrize("int8", [False, True], ids=["float32", "int8"])
@pytest.mark.parametrize("name", ["espcn", "edsr", "lapsrn"])
def test_rewrite_is_exact_in_every_runtime(name: str, int8: bool, tmp_path: Path) -> None:
    from sropt.convert.tflite_compiled import run_compiled
    from sropt.convert.tflite_depth_to_space import rewrite_depth_to_space

    shape = (10, 14)
    native = _tiny_tflite(name, shape, int8)
    rewritten, count = rewrite_depth_to_space(native)
    assert count == _ops(native).count("DEPTH_TO_SPACE") > 0
    assert "DEPTH_TO_SPACE" not in _ops(rewritten) and _ops(rewritten).count("TRANSPOSE_CONV") == count
    channels = 3 if name == "edsr" else 1
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (1, *shape, channels), dtype=np.uint8) if int8 else rng.random((1, *shape, channels), np.float32)
    native_path, rewritten_path = tmp_path / "native.tflite", tmp_path / "rewritten.tflite"
    native_path.write_bytes(native)
    rewritten_path.write_bytes(rewritten)
    runtimes = {
        "LiteRT + XNNPACK": lambda data, path: _run_litert(data, x, "AUTO"),
        "LiteRT builtin kernels": lambda data, path: _run_litert(data, x, "BUILTIN_WITHOUT_DEFAULT_DELEGATES"),
        "TensorFlow's tf.lite.Interpreter": lambda data, path: _run_tf_interpreter(data, x),
        "LiteRT CompiledModel CPU": lambda data, path: run_compiled(path, x),
    }
    for runtime, run in runtimes.items():
        got, want = run(rewritten, rewritten_path), run(native, native_path)
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64)).max()
        assert diff == 0, f"{runtime}: max |rewritten - native| {diff}"


def test_dynamic_shape_is_refused() -> None:
    from sropt.convert.tflite_depth_to_space import DepthToSpaceForm, check_depth_to_space
    from sropt.quantize.config import QuantizeConfig

    with pytest.raises(InputError, match="needs --fixed-shape HxW"):
        check_depth_to_space(DepthToSpaceForm.TRANSPOSE_CONV, None)
    with pytest.raises(InputError, match="needs --fixed-shape HxW"):
        QuantizeConfig("tflite", "int8", depth_to_space="transpose_conv")
    with pytest.raises(InputError, match="choose native .* or transpose_conv"):
        QuantizeConfig("tflite", "int8", fixed_shape=(8, 8), depth_to_space="pixel_shuffle")
    assert QuantizeConfig("tflite", "int8", fixed_shape=(8, 8), depth_to_space="transpose_conv").depth_to_space == "transpose_conv"
