"""FSRCNN PReLU rewrite: exact in float, every PReLU found, nothing else touched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.shared


@pytest.mark.parametrize("name,count", [("FSRCNN_x3", 7), ("FSRCNN-small_x3", 4), ("ESPCN_x3", 0)])
def test_rewrite_is_exact(name: str, count: int, shared_models: Path) -> None:
    from sropt.convert import read_graph_def, run_graph
    from sropt.convert.rewrite_prelu import rewrite_prelu

    gd = read_graph_def(shared_models / f"{name}.pb")
    new, n = rewrite_prelu(gd)
    assert n == count  # every PReLU of the graph
    ops = {node.op for node in new.node}
    if count:
        assert "Abs" not in ops and "Sub" not in ops and "Neg" in ops
    # Negative and positive inputs: both PReLU branches are exercised.
    x = np.random.default_rng(0).uniform(-1, 1, (1, 9, 14, 1)).astype(np.float32)
    a = run_graph(gd, {"IteratorGetNext": x}, ["NCHW_output"])[0]
    b = run_graph(new, {"IteratorGetNext": x}, ["NCHW_output"])[0]
    # alpha*(x-|x|)*0.5 == -alpha*relu(-x) exactly in float32 (a halving and a negation).
    np.testing.assert_array_equal(a, b)


def test_hand_built_prelu() -> None:
    """relu(x) + a*(x-|x|)*0.5 on known values: slopes a on the negative side only."""
    import tensorflow as tf

    from sropt.convert import run_graph
    from sropt.convert.rewrite_prelu import rewrite_prelu

    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 1, 1, 2], name="x")
        alpha = tf.constant([0.25, 2.0], name="alpha")
        half = tf.constant(0.5, name="half")
        tf.raw_ops.Add(x=tf.nn.relu(x), y=tf.math.multiply(tf.math.multiply(alpha, x - tf.abs(x)), half), name="out")
    new, n = rewrite_prelu(g.as_graph_def())
    assert n == 1
    got = run_graph(new, {"x": np.array([[[[-4.0, 3.0]]]], np.float32)}, ["out"])[0]
    np.testing.assert_array_equal(got, [[[[-1.0, 3.0]]]])


def test_tflite_fuses_the_rewritten_form_into_prelu(shared_models: Path) -> None:
    """The point of the rewrite: TFLite emits one PRELU op per PReLU (float32 conversion shown)."""
    from collections import Counter

    from ai_edge_litert.interpreter import Interpreter

    from sropt.convert.rewrite_prelu import rewrite_prelu
    from sropt.convert.tflite_export import make_converter, prepare_graph, run_converter

    prepared = prepare_graph(shared_models / "FSRCNN_x3.pb")
    before = Interpreter(model_content=run_converter(make_converter(prepared), "FSRCNN_x3"))
    prepared.graph_def, _ = rewrite_prelu(prepared.graph_def)
    after = Interpreter(model_content=run_converter(make_converter(prepared), "FSRCNN_x3"))
    ops_before = Counter(o["op_name"] for o in before._get_ops_details())
    ops_after = Counter(o["op_name"] for o in after._get_ops_details())
    assert ops_before["PRELU"] == 0 and ops_after["PRELU"] == 7
    assert ops_after["CONV_2D"] == 8 and ops_after["NEG"] == 0 and ops_after["MUL"] == 0
