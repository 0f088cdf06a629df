"""Frozen graph -> tf-keras lifting: the Keras model computes what TF computes on the frozen graph."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.graphs_tiny import build_tiny_graph


def _prepared_tiny(name: str):
    from sropt.convert.tflite_export import PreparedGraph

    graph_def, scale, _ = build_tiny_graph(name)
    channels = 3 if name == "edsr" else 1
    stub = SimpleNamespace(artifact=SimpleNamespace(path=Path(f"{name}.pb")))
    return PreparedGraph(stub, graph_def, "lr", "sr", channels, []), scale


def _run_graph(graph_def, input_name: str, output: str, x: np.ndarray) -> np.ndarray:
    from sropt.convert import run_graph

    return run_graph(graph_def, {input_name: x}, [output])[0]


@pytest.mark.parametrize("name", ["espcn", "fsrcnn", "edsr"])
def test_tiny_graphs_lift_exactly(name: str) -> None:
    from sropt.convert.keras_lift import lift_to_keras

    prepared, scale = _prepared_tiny(name)
    lifted = lift_to_keras(prepared)
    # H != W catches a swapped axis; negative inputs exercise the PReLU slopes.
    x = np.random.default_rng(1).uniform(-1, 1, (1, 11, 7, prepared.channels)).astype(np.float32)
    want = _run_graph(prepared.graph_def, "lr", "sr", x)
    got = lifted.model(x).numpy()
    assert got.shape == (1, 11 * scale, 7 * scale, prepared.channels)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_edsr_residual_scale_is_folded_into_the_conv() -> None:
    """The tiny EDSR's `* 0.1` leaves no Scale layer: the conv before it carries it."""
    from sropt.convert.keras_lift import lift_to_keras

    prepared, _ = _prepared_tiny("edsr")
    lifted = lift_to_keras(prepared)
    kinds = [type(layer).__name__ for layer in lifted.model.layers]
    assert "Scale" not in kinds and kinds.count("Conv2D") == 5 and kinds.count("Add") == 2 and "ReLU" not in kinds
    assert any("scale 0.1 folded" in f for f in lifted.folds)


def test_synthetic_edsr_lifts(tmp_path: Path) -> None:
    """The EDSR layout as released (quint8 weights, Add biases, NCHW tail), on the 0..255 scale."""
    from sropt.convert.frozen import load_frozen_graph
    from sropt.convert.keras_lift import lift_to_keras
    from sropt.convert.tflite_export import prepare_graph
    from sropt.models.synth import write_synthetic_edsr

    write_synthetic_edsr(tmp_path / "edsr.pb", blocks=2, filters=16, scale=3)
    graph = load_frozen_graph(tmp_path / "edsr.pb")
    lifted = lift_to_keras(prepare_graph(graph))
    x = np.random.default_rng(2).uniform(-120, 140, (1, 9, 13, 3)).astype(np.float32)
    np.testing.assert_allclose(lifted.model(x).numpy(), graph.predict(x), atol=1e-3, rtol=0)


@pytest.mark.shared
@pytest.mark.parametrize("name,prelus", [("FSRCNN_x3", 7), ("ESPCN_x3", 0), ("EDSR-T91-b8f64_x3", 0)])
def test_zoo_models_lift(name: str, prelus: int, shared_models: Path) -> None:
    from sropt.convert.frozen import load_frozen_graph
    from sropt.convert.keras_lift import lift_to_keras
    from sropt.convert.tflite_export import prepare_graph

    graph = load_frozen_graph(shared_models / f"{name}.pb")
    lifted = lift_to_keras(prepare_graph(graph))
    assert sum(type(layer).__name__ == "PReLU" for layer in lifted.model.layers) == prelus
    rng = np.random.default_rng(3)
    if graph.info.input_channels == 1:
        x, atol = rng.uniform(0, 1, (1, 17, 23, 1)).astype(np.float32), 1e-5  # Y on 0..1
    else:
        x, atol = rng.uniform(-110, 140, (1, 17, 23, 3)).astype(np.float32), 1e-3  # BGR - mean on 0..255
    np.testing.assert_allclose(lifted.model(x).numpy(), graph.predict(x), atol=atol, rtol=0)


def test_unsupported_op_is_named() -> None:
    """A Sigmoid (no rule lifts it) is an InputError naming the node and op, listing every problem once."""
    import tensorflow as tf

    from sropt.convert.keras_lift import lift_to_keras
    from sropt.convert.tflite_export import PreparedGraph
    from sropt.core.errors import InputError

    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 1], name="lr")
        w = tf.constant(np.ones((3, 3, 1, 4), np.float32))
        h = tf.math.sigmoid(tf.nn.conv2d(x, w, 1, "SAME"), name="gate")
        tf.nn.depth_to_space(h, 2, name="sr")
    stub = SimpleNamespace(artifact=SimpleNamespace(path=Path("gated.pb")))
    with pytest.raises(InputError) as err:
        lift_to_keras(PreparedGraph(stub, g.as_graph_def(), "lr", "sr", 1, []))
    assert "gated.pb: QAT cannot lift 1 op(s)" in str(err.value)
    assert err.value.problems == ["unsupported op: gate (Sigmoid)"]  # not the DepthToSpace that reads it
