"""Re-store a float32 graph's weights in graph_transforms ``quantize_weights`` form.

The released EDSR files hold every float Const of >= 1024 elements as
``<name>_quantized_const`` (quint8) + ``<name>_quantized_min/max`` feeding a
``Dequantize`` (MIN_FIRST) named ``<name>`` (FACTS.md §1). Writing the pruned
graph the same way makes its file size comparable with the release, and
OpenCV reads it as it reads the release. The quantizer is sropt.models'
bit-exact port of quantize_weights; this module only lays out the nodes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sropt.models.quint8_weights import quantize_min_first, should_quantize

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef


def store_quint8(graph_def: "GraphDef") -> "GraphDef":
    """A copy of ``graph_def`` with big float32 Consts in MIN_FIRST quint8 + Dequantize form."""
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        is_float_const = node.op == "Const" and node.attr["dtype"].type == types_pb2.DT_FLOAT
        value = tf.make_ndarray(node.attr["value"].tensor) if is_float_const else None
        if value is None or not should_quantize(value):
            out.node.add().CopyFrom(node)
            continue
        q = quantize_min_first(value)
        codes = out.node.add(name=f"{node.name}_quantized_const", op="Const", device=node.device)
        codes.attr["dtype"].type = types_pb2.DT_QUINT8
        proto = codes.attr["value"].tensor
        proto.dtype = types_pb2.DT_QUINT8
        proto.tensor_shape.CopyFrom(node.attr["value"].tensor.tensor_shape)
        proto.tensor_content = np.ascontiguousarray(q.codes).tobytes()
        for suffix, v in (("min", q.min), ("max", q.max)):
            c = out.node.add(name=f"{node.name}_quantized_{suffix}", op="Const", device=node.device)
            c.attr["dtype"].type = types_pb2.DT_FLOAT
            c.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.asarray(v, np.float32)))
        deq = out.node.add(name=node.name, op="Dequantize", device=node.device)
        deq.input.extend([f"{node.name}_quantized_const", f"{node.name}_quantized_min", f"{node.name}_quantized_max"])
        deq.attr["T"].type = types_pb2.DT_QUINT8
        deq.attr["mode"].s = b"MIN_FIRST"
    return out
