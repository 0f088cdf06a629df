"""Tiny random-weight SR graphs in the shape of each family, with their hand-computed receptive-field margins.

Margins (LR px each side), from the conv chain: a stride-1 SAME kxk conv with
dilation d reaches ceil((k-1)*d/2) px at its own resolution, which is 1/r LR px
per px at resolution r; round up once at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


class _Builder:
    def __init__(self, seed: int) -> None:
        import tensorflow as tf

        self.tf = tf
        self.rng = np.random.default_rng(seed)

    def conv(self, h: Any, k: int | tuple[int, int], cout: int, dilation: int = 1) -> Any:
        kh, kw = (k, k) if isinstance(k, int) else k
        cin = int(h.shape[-1])
        w = self.rng.normal(0, (2 / (kh * kw * cin)) ** 0.5, (kh, kw, cin, cout)).astype(np.float32)
        b = self.rng.normal(0, 0.05, cout).astype(np.float32)
        y = self.tf.nn.conv2d(h, self.tf.constant(w), 1, "SAME", dilations=dilation)
        return self.tf.nn.bias_add(y, self.tf.constant(b))

    def prelu(self, h: Any) -> Any:
        # FSRCNN's form: relu(x) + alpha * (x - |x|) * 0.5
        tf = self.tf
        alpha = tf.constant(self.rng.uniform(0.1, 0.3, int(h.shape[-1])).astype(np.float32))
        return tf.nn.relu(h) + alpha * (h - tf.abs(h)) * 0.5


def _espcn(b: _Builder, x: Any) -> Any:  # 2 + 1 + 1 = 4
    tf = b.tf
    h = tf.nn.relu(b.conv(x, 5, 8))
    h = tf.nn.relu(b.conv(h, 3, 6))
    return tf.tanh(tf.nn.depth_to_space(b.conv(h, 3, 9), 3))


def _fsrcnn(b: _Builder, x: Any) -> Any:  # 2 + 0 + 1 + 1 + 0 + 0 = 4
    h = b.prelu(b.conv(x, 5, 8))
    h = b.prelu(b.conv(h, 1, 4))
    h = b.prelu(b.conv(h, 3, 4))
    h = b.prelu(b.conv(h, 3, 4))
    h = b.prelu(b.conv(h, 1, 8))
    return b.tf.nn.depth_to_space(b.conv(h, 1, 4), 2)


def _edsr(b: _Builder, x: Any) -> Any:  # head 1 + block 2 + tail 1 + last 1 = 5
    tf = b.tf
    head = b.conv(x, 3, 8)
    h = head + b.conv(tf.nn.relu(b.conv(head, 3, 8)), 3, 8) * 0.1
    h = b.conv(h, 3, 8) + head
    return tf.nn.depth_to_space(b.conv(h, 3, 12), 2)


def _lapsrn(b: _Builder, x: Any) -> Any:
    # Features at 1x: 3x3, 3x3, 4x4 up-conv (SAME pads 1|2: reach 2) = 4 LR px.
    # Features at 2x: three 3x3, 4x4 up-conv = 5 px at 2x = 2.5 LR px. Total ceil(6.5) = 7.
    # The image branch (4x4 at 1x, 4x4 at 2x: 2 + 1 = 3 LR px) is shorter.
    tf = b.tf
    f = tf.nn.relu(b.conv(x, 3, 8))
    f = tf.nn.relu(b.conv(f, 3, 8))
    f = tf.nn.depth_to_space(b.conv(f, 4, 32), 2)
    img = tf.nn.depth_to_space(b.conv(x, 4, 4), 2)
    img = img + b.conv(f, 3, 1)  # the 2x residual: a side branch of 1 px at 2x
    for _ in range(3):
        f = tf.nn.relu(b.conv(f, 3, 8))
    f = tf.nn.depth_to_space(b.conv(f, 4, 32), 2)
    return tf.nn.depth_to_space(b.conv(img, 4, 4), 2) + b.conv(f, 1, 1)


def _dilated(b: _Builder, x: Any) -> Any:  # 3x3 dilation 2 -> 2, 3x3 -> 1, 3x3 -> 1 = 4
    h = b.tf.nn.relu(b.conv(x, 3, 4, dilation=2))
    h = b.tf.nn.relu(b.conv(h, 3, 4))
    return b.tf.nn.depth_to_space(b.conv(h, 3, 4), 2)


def _three_3x3(b: _Builder, x: Any) -> Any:  # 3 convs of 3x3 -> 3
    h = b.tf.nn.relu(b.conv(x, 3, 4))
    h = b.tf.nn.relu(b.conv(h, 3, 4))
    return b.tf.nn.depth_to_space(b.conv(h, 3, 4), 2)


# name: (builder, input channels, scale, hand-computed margin in LR px)
TINY_GRAPHS: dict[str, tuple[Callable[[_Builder, Any], Any], int, int, int]] = {
    "espcn": (_espcn, 1, 3, 4),
    "fsrcnn": (_fsrcnn, 1, 2, 4),
    "edsr": (_edsr, 3, 2, 5),
    "lapsrn": (_lapsrn, 1, 4, 7),
    "dilated": (_dilated, 1, 2, 4),
    "three_3x3": (_three_3x3, 1, 2, 3),
}


def build_tiny_graph(name: str, seed: int = 0):
    """(GraphDef with input 'lr' and output 'sr', scale, hand margin) for ``name`` in TINY_GRAPHS."""
    import tensorflow as tf

    body, channels, scale, margin = TINY_GRAPHS[name]
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, channels], name="lr")
        tf.identity(body(_Builder(seed), x), name="sr")
    return graph.as_graph_def(), scale, margin


def frozen_graph_output(path: "str | Path", x: np.ndarray) -> np.ndarray:
    """TensorFlow's NHWC output of the frozen graph at ``path`` for one preprocessed NHWC input (session closed after)."""
    from sropt.convert import load_frozen_graph

    graph = load_frozen_graph(path)
    try:
        return graph.predict(x)
    finally:
        graph.close()
