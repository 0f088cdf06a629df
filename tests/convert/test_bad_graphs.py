"""Every unusable input ends in an InputError that names the file and the remedy."""

from __future__ import annotations

import numpy as np
import pytest

from sropt.convert import analyze_graph, load_frozen_graph, read_graph_def
from sropt.core.errors import InputError, UnsupportedModelError


def _classifier_graph():
    """conv -> mean -> softmax: a valid GraphDef that is not an SR model."""
    import tensorflow as tf

    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="input")
        w = tf.constant(np.ones((3, 3, 3, 10), np.float32))
        y = tf.nn.conv2d(x, w, 1, "SAME")
        tf.nn.softmax(tf.reduce_mean(y, axis=[1, 2]), name="probs")
    return g.as_graph_def()


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"missing\.pb: no such file.*sropt models list"):
        read_graph_def(tmp_path / "missing.pb")


def test_directory(tmp_path):
    with pytest.raises(InputError, match="is a directory"):
        read_graph_def(tmp_path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.pb").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.pb: the file is empty"):
        read_graph_def(tmp_path / "empty.pb")


def test_random_bytes(tmp_path):
    (tmp_path / "noise.pb").write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(InputError, match=r"noise\.pb: .*(not a TensorFlow frozen graph|not a usable frozen graph)"):
        read_graph_def(tmp_path / "noise.pb")


@pytest.mark.shared
@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.9, 0.999])
def test_truncated_pb(shared_models, tmp_path, fraction):
    data = (shared_models / "FSRCNN_x3.pb").read_bytes()
    cut = tmp_path / "cut.pb"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(InputError, match=r"cut\.pb: .*(truncated|corrupt)"):
        load_frozen_graph(cut)


def test_classifier_is_not_an_sr_model(tmp_path):
    with pytest.raises(UnsupportedModelError, match="no DepthToSpace.*classifier"):
        analyze_graph(_classifier_graph(), "classifier.pb")


def test_depth_to_space_graph_of_unknown_structure():
    import tensorflow as tf

    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 1], name="IteratorGetNext")
        y = tf.nn.conv2d(x, tf.constant(np.ones((3, 3, 1, 4), np.float32)), 1, "SAME")
        tf.nn.depth_to_space(y, 2, name="out")
    with pytest.raises(UnsupportedModelError, match="matches no known family"):
        analyze_graph(g.as_graph_def(), "odd.pb")


def test_tflite_given_where_a_frozen_graph_is_needed(tmp_path):
    (tmp_path / "m.tflite").write_bytes(b"TFL3")
    with pytest.raises(InputError, match=r"needs a frozen TensorFlow graph \(\.pb\)"):
        load_frozen_graph(tmp_path / "m.tflite")
