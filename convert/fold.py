"""Fold quantize_weights' Dequantize nodes into float32 constants.

The released zoo graphs store big weights as graph_transforms
``quantize_weights`` output: ``<w>_quantized_const`` (quint8), ``<w>_quantized_min``
and ``<w>_quantized_max`` feeding ``Dequantize(mode=MIN_FIRST)`` named ``<w>``.
tf2onnx and the TFLite converter cannot handle that op (FACTS.md §3), so we
replace each such Dequantize by a Const holding the exact floats. The floats
are computed by TensorFlow's own Dequantize CPU kernel, evaluated once, so the
folded graph computes bit-identical outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sropt.convert.graph import node_name, run_graph

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef


def fold_dequantize(graph_def: "GraphDef") -> "GraphDef":
    """Return a copy of ``graph_def`` with every const-fed Dequantize folded to float32."""
    import tensorflow as tf

    by_name = {n.name: n for n in graph_def.node}
    targets = [
        n for n in graph_def.node
        if n.op == "Dequantize" and all(by_name[node_name(i)].op == "Const" for i in n.input)
    ]
    out = tf.compat.v1.GraphDef()
    out.CopyFrom(graph_def)
    if not targets:
        return out

    # Evaluate only the Dequantize subgraphs: a tiny graph of consts + dequantizes.
    needed = {node_name(i) for n in targets for i in n.input} | {n.name for n in targets}
    sub = tf.compat.v1.GraphDef()
    sub.versions.CopyFrom(graph_def.versions)
    sub.node.extend(n for n in graph_def.node if n.name in needed)
    values = run_graph(sub, {}, [n.name for n in targets])

    folded = {n.name: v for n, v in zip(targets, values)}
    consumers: dict[str, int] = {}
    for n in graph_def.node:
        if n.name in folded:
            continue
        for i in n.input:
            consumers[node_name(i)] = consumers.get(node_name(i), 0) + 1
    # Inputs of the folded Dequantize nodes disappear unless something else reads them.
    dead = {node_name(i) for n in targets for i in n.input if consumers.get(node_name(i), 0) == 0}

    del out.node[:]
    for n in graph_def.node:
        if n.name in dead:
            continue
        if n.name in folded:
            const = out.node.add()
            const.name = n.name
            const.op = "Const"
            const.device = n.device
            const.attr["dtype"].type = tf.float32.as_datatype_enum
            const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(folded[n.name]))
        else:
            out.node.add().CopyFrom(n)
    return out
