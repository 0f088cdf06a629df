"""Rewrite FSRCNN's PReLU into the form TFLite turns into one PRELU op.

FSRCNN's frozen graphs write PReLU as ``relu(x) + alpha * (x - |x|) * c``
with ``c = 0.5`` (FACTS.md §2): five ops whose intermediates (``|x|``,
``x - |x|``, two products) are each quantized on their own in INT8.
Mathematically it is ``relu(x) + (-2c*alpha) * relu(-x)``; written exactly
so (Neg, Relu, Mul by a ``[1,1,C]`` constant, AddV2: Keras's PReLU form) the
TFLite converter fuses it into a single PRELU op with an int8 kernel, in
float and integer models alike. FACTS.md §5 measured -1.45 dB -> -0.65 dB
of full-INT8 loss on FSRCNN_x3 from the relu form. The rewrite is exact in
float32 (halving and negation are exact), found by ops and edges, never by
names, and keeps the name of the final add so graph outputs are untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sropt.convert.graph_index import GraphIndex

if TYPE_CHECKING:
    from tensorflow.core.framework.graph_pb2 import GraphDef

REWRITE_NAME = "prelu-relu-form"


@dataclass(frozen=True)
class PreluMatch:
    """One matched ``relu(x) + alpha*(x-|x|)*c`` subgraph."""

    output: str  # the Add node, which becomes the Sub of the new form
    x: str  # the tensor PReLU is applied to (an input string, may carry ':k')
    relu: str
    alpha: np.ndarray  # alpha * 2c, the slope of the negative part
    removed: tuple[str, ...]  # Abs, Sub, Mul, Mul of the old form


def _scalar_const(index: GraphIndex, name: str) -> np.ndarray | None:
    if not index.is_constant(name) or index.op(index.skip_identity(name)) != "Const":
        return None
    return index.const_value(name)


def _match_scaled_branch(index: GraphIndex, mul_outer: str) -> tuple[np.ndarray, str, tuple[str, ...]] | None:
    """``Mul(Mul(alpha, Sub(x, Abs(x))), c)`` (operands in any order) -> (alpha*2c, x, removed)."""
    if index.op(mul_outer) != "Mul":
        return None
    ins = index.inputs(mul_outer)
    for inner, c_name in (ins, ins[::-1]):
        c = _scalar_const(index, c_name)
        if c is None or c.size != 1 or index.op(inner) != "Mul":
            continue
        inner_ins = index.inputs(inner)
        for sub, alpha_name in (inner_ins, inner_ins[::-1]):
            alpha = _scalar_const(index, alpha_name)
            if alpha is None or index.op(sub) != "Sub":
                continue
            sub_node = index.nodes[sub]
            x_ref, abs_ref = sub_node.input[0], sub_node.input[1]
            abs_name = index.inputs(sub)[1]
            if index.op(abs_name) != "Abs" or index.nodes[abs_name].input[0] != x_ref:
                continue
            slope = (alpha.astype(np.float32) * np.float32(2.0) * c.astype(np.float32).reshape(())).astype(np.float32)
            return slope, x_ref, (abs_name, sub, inner, mul_outer)
    return None


def find_prelu_patterns(graph_def: "GraphDef") -> list[PreluMatch]:
    """Every FSRCNN-style PReLU in ``graph_def`` whose intermediates nothing else reads."""
    index = GraphIndex(graph_def)
    matches = []
    for name, node in index.nodes.items():
        if node.op not in ("Add", "AddV2") or len(index.inputs(name)) != 2:
            continue
        a, b = index.inputs(name)
        for relu, branch in ((a, b), (b, a)):
            if index.op(relu) != "Relu":
                continue
            found = _match_scaled_branch(index, branch)
            if found is None:
                continue
            slope, x_ref, removed = found
            if index.nodes[relu].input[0] != x_ref:
                continue
            # Only rewrite if the old intermediates feed nothing but this PReLU.
            private = all(
                set(index.consumers.get(r, [])) <= set(removed) | {name} for r in removed
            )
            if private:
                matches.append(PreluMatch(name, x_ref, relu, slope, removed))
                break
    return matches


def rewrite_prelu(graph_def: "GraphDef") -> tuple["GraphDef", int]:
    """Return (copy of ``graph_def`` with every matched PReLU in relu form, number rewritten)."""
    import tensorflow as tf

    matches = find_prelu_patterns(graph_def)
    out = tf.compat.v1.GraphDef()
    out.CopyFrom(graph_def)
    if not matches:
        return out, 0
    removed = {r for m in matches for r in m.removed}
    by_output = {m.output: m for m in matches}
    float_t = tf.float32.as_datatype_enum

    del out.node[:]
    for node in graph_def.node:
        if node.name in removed:
            continue
        match = by_output.get(node.name)
        if match is None:
            out.node.add().CopyFrom(node)
            continue
        base = node.name
        neg = out.node.add(name=f"{base}/prelu_neg", op="Neg", input=[match.x])
        neg.attr["T"].type = float_t
        relu_neg = out.node.add(name=f"{base}/prelu_relu_neg", op="Relu", input=[neg.name])
        relu_neg.attr["T"].type = float_t
        alpha = out.node.add(name=f"{base}/prelu_neg_alpha", op="Const")
        alpha.attr["dtype"].type = float_t
        # Shape [1,1,C] (Keras PReLU's alpha with shared H/W axes) is what the
        # TFLite converter's PReLU pattern matches; a [C] vector is left as
        # four separate ops, each quantized on its own.
        neg_alpha = -match.alpha.reshape(1, 1, -1) if match.alpha.ndim == 1 else -match.alpha
        alpha.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(neg_alpha.astype(np.float32)))
        mul = out.node.add(name=f"{base}/prelu_mul", op="Mul", input=[relu_neg.name, alpha.name])
        mul.attr["T"].type = float_t
        add = out.node.add(name=base, op="AddV2", input=[match.relu, mul.name])
        add.attr["T"].type = float_t
    return _drop_dead_consts(out), len(matches)


def _drop_dead_consts(graph_def: "GraphDef") -> "GraphDef":
    """Remove Const nodes nothing reads any more (the old alpha and 0.5 scalars)."""
    index = GraphIndex(graph_def)
    dead = {n.name for n in graph_def.node if n.op == "Const" and not index.consumers.get(n.name)}
    keep = [n for n in graph_def.node if n.name not in dead]
    del graph_def.node[:]
    graph_def.node.extend(keep)
    return graph_def
